"""Atomic writes everywhere: a full disk or a read-only folder leaves the previous file intact,
leaves no partial file, and raises a WriteError naming the file and the reason.

Covered writers: session files, architecture JSON, metrics/summary of a run folder, and .keras
model exports. Tests run as root (chmod does not stop root), so a read-only folder is simulated
by the OS refusing the temporary file (EROFS) and by a parent path that is a regular file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spectral_core import files
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.files import WriteError, atomic_write_text
from spectral_core.runs import metrics_csv
from spectral_core.session import Session, save_session

ARCH = Architecture("w", 20, (LayerSpec(6, "linear", telescopic=True), LayerSpec(3, "softmax")))


def model_writer(seed: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        from spectral_core.build import build_model
        from spectral_core.export import save_model

        save_model(build_model(ARCH, "lambda-phi", seed=seed), path)

    return write


def session_writer(seed: int) -> Callable[[Path], None]:
    return lambda path: save_session(
        path, Session(ARCH, "lambda", TrainingConfig(seed=seed), "mnist", [])
    )


def architecture_writer(seed: int) -> Callable[[Path], None]:
    return lambda path: Architecture(f"arch {seed}", 20 + seed, ARCH.layers).save(path)


def csv_writer(seed: int) -> Callable[[Path], None]:
    rows = [{"epoch": 1.0, "loss": 0.5 + seed, "accuracy": 0.9, "val_loss": 0.6,
             "val_accuracy": 0.8, "seconds": 1.0}]
    return lambda path: atomic_write_text(path, metrics_csv(rows))


WRITERS = {
    "session.spectral": session_writer,
    "architecture.json": architecture_writer,
    "metrics.csv": csv_writer,
    "model.keras": model_writer,
}


def fail_fsync(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fail_mkstemp(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


@pytest.mark.parametrize("name", list(WRITERS))
@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ((files.os, "fsync", fail_fsync), "No space left on device"),
        ((files.tempfile, "mkstemp", fail_mkstemp), "Read-only file system"),
    ],
    ids=["full-disk", "read-only-folder"],
)
def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, name, failure, reason) -> None:
    target = tmp_path / name
    WRITERS[name](1)(target)
    before = target.read_bytes()
    monkeypatch.setattr(*failure)
    with pytest.raises(WriteError, match=f"cannot write {target}: {reason}"):
        WRITERS[name](2)(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("name", list(WRITERS))
def test_disk_full_midway_through_writing_leaves_no_partial_file(tmp_path, monkeypatch, name) -> None:
    """The writer itself fails after writing part of the data (as a real ENOSPC does)."""
    target = tmp_path / name
    WRITERS[name](1)(target)
    before = target.read_bytes()
    real_replace = os.replace
    seen = []

    def check_then_fail(source, destination):
        seen.append(Path(source).stat().st_size)
        with open(source, "r+b") as handle:  # keep only half, as if the disk filled up
            handle.truncate(max(1, seen[-1] // 2))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "replace", check_then_fail)
    with pytest.raises(WriteError, match="No space left on device"):
        WRITERS[name](2)(target)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert seen and target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("name", list(WRITERS))
def test_parent_that_is_a_file_is_reported(tmp_path, name) -> None:
    blocker = tmp_path / "occupied"
    blocker.write_text("a file, not a folder")
    with pytest.raises(WriteError, match=f"cannot write {blocker / name}"):
        WRITERS[name](1)(blocker / name)
    assert blocker.read_text() == "a file, not a folder"


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch) -> None:
    """KeyboardInterrupt (or any exception) in the middle of a write: old file intact."""
    target = tmp_path / "s.spectral"
    session_writer(1)(target)
    before = target.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    session = Session(ARCH, "lambda", TrainingConfig(), "mnist", [])
    from spectral_core.session import RunRecord

    session.runs.append(RunRecord("r", ARCH, "lambda", TrainingConfig(), "mnist", [], 0.0, 0.0,
                                  [np.zeros(3, np.float32)]))
    with pytest.raises(KeyboardInterrupt):
        save_session(target, session)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.spectral"]


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    files.atomic_write_text(target, "epoch\n1\n")
    plain = tmp_path / "plain.csv"
    plain.write_text("epoch\n1\n")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
