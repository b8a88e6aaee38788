"""The one base class of every error ``spectral_core`` raises about what a user gave it."""

from __future__ import annotations


class SpectralLabError(ValueError):
    """A bad input: a file, setting, name or value the library refuses.

    The message names the field and the allowed values (``epochs: must be an integer from 1 to
    10000, got 0``), so it can be shown as is. Catch this one class to report any of them; the
    subclasses (``ArchitectureError``, ``ConfigError``, ``DataError``…) tell what was wrong.
    It is a ``ValueError``, as before there was a common base; ``WriteError`` is also an
    ``OSError``.
    """
