"""The package's legal and citation files, the PEP 639 license fields, the cross-platform sweep
lock and durable atomic writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import spectral_core
from spectral_core import files
from spectral_core.experiments import ExperimentError, folder_lock


def test_license_is_mit_and_declared_per_pep_639(repo_root: Path):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    text = (repo_root / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert "version" in project["dynamic"]  # one version: spectral_core.__version__


def test_citation_names_the_paper_and_the_software(repo_root: Path):
    citation = yaml.safe_load((repo_root / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software" and citation["license"] == "MIT"
    assert citation["version"] == spectral_core.__version__
    paper = citation["preferred-citation"]
    assert paper["doi"] == "10.1038/s41467-021-21481-0"
    assert paper["title"] == "Machine learning in spectral domain"
    assert [a["family-names"] for a in paper["authors"]] == [
        "Giambagli", "Buffoni", "Carletti", "Nocentini", "Fanelli"
    ]
    assert (paper["journal"], paper["volume"], paper["start"], paper["year"]) == (
        "Nature Communications", 12, 1330, 2021
    )


HOLD_LOCK = """
import sys, time
from pathlib import Path
from spectral_core.experiments import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_the_sweep_lock_holds_across_processes_and_ends_with_them(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=Path(spectral_core.__file__).parent.parent,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ExperimentError, match="another sweep is writing into this folder"):
            with folder_lock(tmp_path):
                pass
    finally:
        holder.kill()  # a crashed sweep must not leave the folder locked
        holder.wait(timeout=30)
    with folder_lock(tmp_path):
        pass


def test_an_atomic_write_fsyncs_the_folder_after_the_rename(tmp_path: Path, monkeypatch):
    if os.name != "posix":
        pytest.skip("folders are fsynced on POSIX only")
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(handle: int) -> None:
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(handle).st_mode) else "fsync file")
        real_fsync(handle)

    def replace(source, target) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    files.atomic_write_text(tmp_path / "out.txt", "hello")
    assert events == ["fsync file", "rename", "fsync folder"]
    assert (tmp_path / "out.txt").read_text() == "hello"


def test_a_folder_that_refuses_fsync_does_not_fail_a_finished_write(tmp_path: Path, monkeypatch):
    real_fsync = os.fsync

    def fsync(handle: int) -> None:
        if stat.S_ISDIR(os.fstat(handle).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(handle)

    monkeypatch.setattr(files.os, "fsync", fsync)
    files.atomic_write_text(tmp_path / "out.txt", "kept")
    assert (tmp_path / "out.txt").read_text() == "kept"
