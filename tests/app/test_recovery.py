"""Crash recovery end to end: the app is killed with SIGKILL mid-training, and a new instance
restores the architecture, the runs and the weights of the last finished epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.data import synthetic_digits
from spectral_core.session import Session, SessionError, load_session

REPO = Path(__file__).resolve().parents[2]
ARCH = Architecture(
    "recovery net", 784, (LayerSpec(24, "linear", telescopic=True), LayerSpec(10, "softmax"))
)

# Runs the real app entry point (app.main.main), driving it once TensorFlow has loaded.
DRIVER = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig
from spectral_core.session import save_session

mode, data, out, architecture = sys.argv[1:5]
app = QApplication(sys.argv[:1])
started = [False]

def main_window():
    return next((w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)

def drive():
    window = main_window()
    if window is None or not window.tensorflow_ready:
        QTimer.singleShot(100, drive)
        return
    if mode == "train":
        window.editor.set_architecture(Architecture.from_json(architecture))
        window.run_panel.set_dataset_source(data)
        window.run_panel.set_config(TrainingConfig(epochs=400, batch_size=25, seed=3))
        window.start_training()
        print("training", flush=True)
        return
    entries = window.runs_list.entries()
    if not entries or any(entry.model is None for entry in entries):
        QTimer.singleShot(100, drive)
        return
    save_session(out, window.current_session())
    print("restored", flush=True)
    window.close()

QTimer.singleShot(0, drive)
from app.main import main
sys.exit(main([]))
"""


def write_digits_npz(path: Path, train: int, test: int) -> Path:
    digits = synthetic_digits(train=train, test=test, seed=5)
    np.savez(
        path,
        x_train=np.round(digits.x_train * 255).astype(np.uint8),
        y_train=digits.y_train.astype(np.uint8),
        x_test=np.round(digits.x_test * 255).astype(np.uint8),
        y_test=digits.y_test.astype(np.uint8),
    )
    return path


def app_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        TF_CPP_MIN_LOG_LEVEL="3",
        SPECTRAL_LAB_HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # the window's QSettings stay in the test
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def autosaved_session(folder: Path) -> tuple[Path, Session] | None:
    for path in folder.glob("autosave-*.spectral"):
        try:
            return path, load_session(path)
        except SessionError:
            return None  # cannot happen with atomic writes; the assertion below would catch it
    return None


@pytest.mark.timeout(400)
def test_killed_mid_training_then_restored_by_a_new_instance(tmp_path: Path) -> None:
    data = write_digits_npz(tmp_path / "digits.npz", train=1000, test=100)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    folder = tmp_path / "home" / "autosave"
    arguments = [sys.executable, str(driver)]

    first = subprocess.Popen(
        [*arguments, "train", str(data), "-", ARCH.to_json()],
        env=app_environment(tmp_path), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert first.poll() is None, first.communicate()[1][-3000:]
            found = autosaved_session(folder) if folder.is_dir() else None
            if found is not None and found[1].runs and len(found[1].runs[-1].history) >= 2:
                break
            assert time.monotonic() < deadline, "no epoch checkpoint was autosaved in time"
            time.sleep(0.2)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL

    # What the killed instance left: one autosave (a complete file) and its stale lock.
    autosaves = list(folder.glob("autosave-*.spectral"))
    assert len(autosaves) == 1 and autosaves[0].with_suffix(".lock").exists()
    left = load_session(autosaves[0])
    (live,) = left.runs
    epochs_done = len(live.history)
    assert epochs_done >= 2 and live.weights is not None
    assert live.ended.startswith(f"interrupted after epoch {epochs_done} of 400")
    assert [row["epoch"] for row in live.history] == [float(i + 1) for i in range(epochs_done)]
    # The checkpoint carries what the plots drew: the spectrum at every finished epoch (and the
    # initial one), the histograms over epochs, the per-batch curve.
    assert len(live.eigen_history) >= epochs_done + 1 and live.histogram_history
    assert len(live.batch_points) >= 1

    report = tmp_path / "restored.spectral"
    second = subprocess.run(
        [*arguments, "restore", str(data), str(report), ARCH.to_json()],
        env=app_environment(tmp_path, SPECTRAL_LAB_RECOVER="restore"), cwd=tmp_path,
        capture_output=True, text=True, timeout=240,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "restored" in second.stdout

    restored = load_session(report)
    assert restored.architecture == ARCH
    assert restored.dataset == str(data) and restored.config.epochs == 400
    (run,) = restored.runs
    assert run.name == live.name and run.architecture == ARCH and run.regime == live.regime
    assert run.history == live.history
    assert run.ended == live.ended
    np.testing.assert_array_equal(run.batch_points, live.batch_points)
    assert [label for label, _ in run.eigen_history] == [label for label, _ in live.eigen_history]
    # The rebuilt model carries exactly the weights of the last finished epoch.
    assert run.weights is not None
    for got, expected in zip(run.weights, live.weights, strict=True):
        np.testing.assert_array_equal(got, expected)

    # The second instance exited cleanly: the crash file is kept aside once, nothing is
    # offered again, no lock or half-written file is left.
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["last-session.spectral", "recovered-session.spectral"], names
    assert len(load_session(folder / "last-session.spectral").runs) == 1
