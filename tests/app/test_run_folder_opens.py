"""A `spectral-lab train` run folder's record (run.spectral) opens in the app as a session:
the same record, its plots' data, and a model rebuilt from its weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from spectral_core.cli import main

SMALL_NET = {
    "name": "small", "input_units": 784,
    "layers": [{"units": 12, "activation": "linear", "telescopic": True},
               {"units": 10, "activation": "softmax"}],
}


@pytest.fixture(scope="module")
def run_folder(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "small.json").write_text(json.dumps(SMALL_NET), encoding="utf-8")
    argv = ["train", str(folder / "small.json"), "--regime", "lambda", "--dataset", str(tiny_npz),
            "--epochs", "2", "--batch-size", "50", "--out", str(folder / "demo"), "-q"]
    assert main(argv) == 0
    return folder / "demo"


def test_a_run_folders_record_opens_in_the_app(qtbot, tmp_path: Path, run_folder: Path) -> None:
    from spectral_core.runs import RUN_RECORD_FILE, read_run_record

    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    assert window.open_file(run_folder / RUN_RECORD_FILE), window.message_bar.text()
    (run,) = window.runs_list.entries()
    expected = read_run_record(run_folder)
    assert run.name == "demo" and run.history == expected.history
    assert [label for label, _ in run.eigen_history] == ["initial", "after epoch 1", "after epoch 2"]
    qtbot.waitUntil(lambda: run.model is not None, timeout=60_000)  # rebuilt from its weights
    spectrum = window.spectrum_panel.epoch
    assert (spectrum.minimum(), spectrum.maximum()) == (0, len(expected.eigen_history))
