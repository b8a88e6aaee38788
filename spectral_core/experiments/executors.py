"""Where runs execute: this process, local worker processes, or a Dask cluster."""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

from spectral_core.experiments.execution import worker_init
from spectral_core.experiments.specs import DataSource, ExperimentError


class InlineExecutor(cf.Executor):
    """Runs each task in this process when its result is asked for (``--workers 0``)."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        """Queue ``fn(*args, **kwargs)``; it runs when :func:`run_inline` is called on the future."""
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        future: cf.Future = cf.Future()
        future.task = (fn, args, kwargs)  # type: ignore[attr-defined]
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse further submissions (nothing runs in the background)."""
        self._shutdown = True


def run_inline(future: cf.Future) -> None:
    """Run an :class:`InlineExecutor` future's task now, in this process."""
    fn, args, kwargs = future.task  # type: ignore[attr-defined]
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as error:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(error)
        if isinstance(error, KeyboardInterrupt):
            raise


@contextlib.contextmanager
def make_executor(
    workers: int = 1, scheduler: str | None = None, data: DataSource | None = None
) -> Iterator[cf.Executor]:
    """An executor for runs: this process (0 workers), N spawned processes, or a Dask cluster.

    ``scheduler`` is a Dask scheduler address (``tcp://HOST:PORT``) or a ``distributed.Client``.
    """
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ExperimentError(
                "--scheduler needs Dask: pip install 'spectral-lab[cluster]'"
            ) from None
        own = not isinstance(scheduler, Client)
        try:
            client = Client(scheduler, timeout="20s") if own else scheduler
        except OSError as error:
            raise ExperimentError(f"--scheduler: cannot reach {scheduler} ({error})") from None
        try:
            # Import TensorFlow and load the data once on every worker, and fail early (with the
            # worker's own message) when a worker cannot read the dataset path.
            client.run(worker_init, data)
        except Exception as error:
            if own:
                client.close()
            raise ExperimentError(f"--scheduler: the Dask workers could not start: {error}") from None
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
            if own:
                client.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ExperimentError(f"--workers: must be 0 (this process) or more, got {workers!r}")
    if workers == 0:
        worker_init()
        yield InlineExecutor()
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(data,),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def add_executor_options(parser: argparse.ArgumentParser, default_workers: int) -> None:
    """Add ``--workers N`` and ``--scheduler tcp://HOST:PORT`` (one or the other)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=int, default=default_workers,
        help=f"worker processes (0: run in this process; default {default_workers})",
    )
    group.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT",
        help="run on a Dask distributed cluster (the dataset path must be readable by its workers)",
    )
