"""The view boundary: a plot or panel that raises must not break the run's life.

Every call from the window's controllers into a view (a plot panel, the pruning tab, the
result box) goes through :meth:`ViewGuard.call`. An exception is logged with its traceback,
shown once in the message banner (per view and error, until :meth:`ViewGuard.reset`), and
swallowed, so the code around the call — a run's end, the runs list, autosave, the status
bar — always completes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger("spectral_lab.views")


class ViewGuard:
    """Calls into views, catching and reporting what they raise.

    ``report`` receives a one-line message for the banner; it is called once per distinct
    (view, error type, message) until :meth:`reset`, so a view failing at every redraw (10 Hz)
    fills neither the banner nor the log.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._seen: set[tuple[str, str, str]] = set()
        self.failures = 0  # every failure caught, also the repeated ones

    def call(self, view: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run ``function(*args, **kwargs)`` for ``view``; True when it did not raise."""
        try:
            function(*args, **kwargs)
        except Exception as error:  # any view bug: contain it here, keep the caller going
            self.failures += 1
            key = (view, type(error).__name__, str(error)[:200])
            if key in self._seen:
                return False
            self._seen.add(key)
            LOG.exception("the %s view failed", view)
            try:
                self._report(
                    f"the {view} view could not draw ({type(error).__name__}: {error}); "
                    "the run and its data are not affected"
                )
            except Exception:  # the banner itself failing must not escape either
                LOG.exception("reporting a view failure failed")
            return False
        return True

    def wrap(self, view: str, function: Callable[..., Any]) -> Callable[..., None]:
        """``function`` guarded, for connecting to signals."""

        def guarded(*args: Any, **kwargs: Any) -> None:
            self.call(view, function, *args, **kwargs)

        return guarded

    def reset(self) -> None:
        """Report every failure again (a new run starts)."""
        self._seen.clear()
