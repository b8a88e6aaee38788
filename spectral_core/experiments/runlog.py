"""A sweep folder's run log (one JSON line per finished run), its lock and manifest."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock

from spectral_core.experiments.specs import ExperimentError
from spectral_core.files import atomic_path, atomic_write_text

RUN_LOG = "runs.jsonl"


MANIFEST = "experiment.json"


class RunLog:
    """``runs.jsonl`` in an experiment folder: one line per finished run, appended durably."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RUN_LOG

    def repair(self) -> None:
        """Drop a last line cut short by a crash, so appends start on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            with atomic_path(self.path) as temporary:
                Path(temporary).write_bytes(keep)

    def records(self) -> dict[str, dict[str, Any]]:
        """Finished runs' log rows by run id (a later line for the same id wins). Lines of any
        earlier layout are returned as they are: resuming only needs their ``run_id``."""
        found: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return found
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if line.endswith("\n"):
                        raise ExperimentError(
                            f"{self.path}: line {number} is not valid JSON; fix or delete that line"
                        ) from None
                    continue  # a last line cut short by a crash: that run is simply redone
                if isinstance(record, dict) and "run_id" in record:
                    found[record["run_id"]] = record
        return found

    def append(self, record: dict[str, Any]) -> None:
        """Append one finished run's row (:func:`~spectral_core.experiments.run_row`) as a JSON
        line, flushed to disk."""
        line = json.dumps(record, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Refuse a second sweep writing into the same folder at the same time (any OS: the lock is
    ``filelock``'s, an OS lock on ``.lock`` that ends with the process, even when it crashes)."""
    lock = filelock.FileLock(folder / ".lock", timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ExperimentError(
            f"{folder}: another sweep is writing into this folder; wait for it or use another --out"
        ) from None
    try:
        yield
    finally:
        lock.release()


def check_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the folder's manifest, or check that a resumed sweep uses the same data."""
    path = folder / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ExperimentError(f"{path}: unreadable ({error}); delete it to start over") from None
        for key in ("dataset", "limit", "test_limit"):
            if old.get(key) != manifest.get(key):
                raise ExperimentError(
                    f"{folder} holds runs made with {key}={old.get(key)!r}, not "
                    f"{manifest.get(key)!r}; use the same {key} to resume, or another --out"
                )
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
