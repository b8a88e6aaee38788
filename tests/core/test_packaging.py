"""resources/ ships as package data: a built wheel holds the presets and finds them installed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from resources import preset_paths

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "spectral_core", "app", "resources", "benchmarks")


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_wheel_ships_the_presets_and_they_are_found_when_installed(repo_root: Path, tmp_path):
    # Building offline needs the build backend already installed (no build isolation).
    missing = [name for name in ("setuptools", "wheel") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"cannot build a wheel offline: {', '.join(missing)} not installed")
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:  # pyproject's build-system requirement
        pytest.skip(f"setuptools {setuptools.__version__} is older than the 77 pyproject.toml "
                    "needs (make test installs it)")
    # Build from a copy so the shared checkout gets no build/ or egg-info droppings.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = repo_root / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    built = pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        "dist",
        "./source",
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("spectral_lab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = {f"resources/presets/{path.name}" for path in preset_paths()}
    assert presets and presets <= names
    assert "spectral_core/cli.py" in names
    # PEP 639: the license text travels in the wheel's metadata.
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)[-8:]
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(metadata).decode()
    # Benchmarks are developer tooling beside the library, not part of it.
    assert not [name for name in names if name.startswith("benchmarks/") or "bench" in name]

    installed = pip(
        "install", "--no-deps", "--no-index", "--target", "site", str(wheel), cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import json, resources; "
        "from spectral_core.cli import load_architecture; "
        "print(json.dumps([resources.__file__, len(resources.preset_paths()), "
        "load_architecture('perceptron').name]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    location, count, name = json.loads(done.stdout)
    assert Path(location).is_relative_to(tmp_path / "site")
    assert count == len(presets)
    assert name == "perceptron 784-10"
