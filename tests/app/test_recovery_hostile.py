"""The app stays up when File ▸ Open gets hostile files: each is refused with a message in the
window, nothing in them runs, and the current work is untouched."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from spectral_core.architecture import Architecture, LayerSpec

TINY = Architecture("kept", 784, (LayerSpec(12, "linear", telescopic=True), LayerSpec(10, "softmax")))


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.editor.set_architecture(TINY)
    return window


def pickled_session(path: Path, marker: Path) -> Path:
    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
    document = {
        "format_version": 1, "architecture": TINY.to_dict(), "regime": "lambda", "config": {},
        "dataset": "mnist",
        "runs": [{"name": "r", "architecture": TINY.to_dict(), "regime": "lambda", "config": {},
                  "dataset": "mnist", "history": [], "weights": ["weights/run0_0.npy"]}],
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))
        archive.writestr("weights/run0_0.npy", buffer.getvalue())
    return path


def huge_header_session(path: Path) -> Path:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    document = {
        "format_version": 1, "architecture": TINY.to_dict(), "regime": "lambda", "config": {},
        "dataset": "mnist",
        "runs": [{"name": "r", "architecture": TINY.to_dict(), "regime": "lambda", "config": {},
                  "dataset": "mnist", "history": [], "weights": ["weights/run0_0.npy"]}],
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))
        archive.writestr("weights/run0_0.npy", header.getvalue() + bytes(16))
    return path


def written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, m: written(p.with_suffix(".spectral"), b"PK\x03\x04 cut"),
         "not a Spectral Lab session"),
        (lambda p, m: pickled_session(p.with_suffix(".spectral"), m), "holds object values"),
        (lambda p, m: huge_header_session(p.with_suffix(".spectral")), "claims shape"),
        (lambda p, m: written(p.with_suffix(".spectral"), b'{"format_version": 9}'),
         "newer Spectral Lab"),
        (lambda p, m: written(p.with_suffix(".json"),
                              b'{"input_units": 784, "layers": [{"units": 1000000000}]}'),
         "units: must be an integer from 1 to 100000"),
    ],
    ids=["truncated", "pickle", "huge-array", "newer-version", "billion-units"],
)
def test_hostile_files_are_refused_and_the_window_keeps_its_work(
    window, tmp_path: Path, make, message
) -> None:
    marker = tmp_path / "code_ran"
    path = make(tmp_path / "hostile", marker)
    assert window.open_file(path) is False
    assert message in window.message_bar.text()
    assert not marker.exists()
    assert window.editor.architecture() == TINY
    assert window.isEnabled()
