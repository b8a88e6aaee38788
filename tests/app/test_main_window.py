"""The main window end to end: real (tiny) training from button clicks, pause, stop, close,
bad data, device picker, and the window appearing before TensorFlow is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.main_window import MainWindow
from app.view_menu import readable_name
from spectral_core.architecture import Architecture, LayerSpec

TINY = Architecture(
    "tiny", 784, (LayerSpec(16, "linear", telescopic=True), LayerSpec(10, "softmax"))
)
REPO = Path(__file__).resolve().parents[2]


def make_window(qtbot, tmp_path: Path, settings_name: str = "settings.ini") -> MainWindow:
    settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.editor.set_architecture(TINY)
    return window


def configure(window: MainWindow, data: Path, epochs: int, batch_size: int) -> None:
    window.run_panel.set_dataset_source(str(data))
    window.run_panel.epochs.setValue(epochs)
    window.run_panel.batch_size.setValue(batch_size)


def snapshot_every_batch(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    """One snapshot per batch, so batch counts are exact (the app samples every 0.1 s)."""
    original = window.run_panel.config
    monkeypatch.setattr(
        window.run_panel, "config", lambda: replace(original(), snapshot_interval=0.0)
    )


def batches_seen(window: MainWindow) -> int:
    assert window.worker is not None
    return len(window.worker.batch_points())


def points(curve) -> int:
    x, _ = curve.getOriginalDataset()
    return 0 if x is None else len(x)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    return make_window(qtbot, tmp_path)


def test_status_bar_shows_device_and_tensorflow_version(window: MainWindow) -> None:
    import tensorflow as tf

    from spectral_core.devices import list_devices

    devices = list_devices()
    picker = window.device_picker
    assert [picker.itemText(i) for i in range(picker.count())] == [d.label for d in devices]
    assert picker.isEnabled()
    text = window.device_label.text()
    assert f"TensorFlow {tf.__version__}" in text
    assert devices[0].description in text
    assert window.selected_device() == devices[0].name
    assert window.run_panel.train_button.isEnabled()


def test_keyboard_shortcuts(window: MainWindow) -> None:
    shortcuts = {
        window.train_action: "Ctrl+R", window.pause_action: "Ctrl+P",
        window.stop_action: "Ctrl+.", window.retract_action: "Ctrl+T",
        window.export_compact_action: "Ctrl+E", window.export_full_action: "Ctrl+Shift+E",
        window.undo_action: "Ctrl+Z", window.redo_action: "Ctrl+Shift+Z",
        window.save_session_action: "Ctrl+S", window.open_session_action: "Ctrl+O",
    }
    for action, keys in shortcuts.items():
        assert action.shortcut().toString() == keys, action.text()
    # Tabs, View menu entries and Ctrl+N in one order, with the names the tabs show.
    tabs = [readable_name(action.text()) for action in window.tab_actions]
    assert tabs == [readable_name(window.tabs.tabText(i)) for i in range(window.tabs.count())]
    assert tabs[:2] == ["Loss & accuracy", "Eigenvalue spectrum"]
    assert [action.shortcut().toString() for action in window.tab_actions] == [
        f"Ctrl+{number}" for number in range(1, len(tabs) + 1)
    ]
    assert [action for action in window.view_menu.actions() if not action.isSeparator()][: len(tabs)] == (
        window.tab_actions
    )
    for number, action in enumerate(window.tab_actions):
        action.trigger()
        assert window.tabs.currentIndex() == number
    assert "&&" in window.tab_actions[0].text(), "a single & would underline the next letter"


def test_short_training_from_the_train_button(qtbot, window: MainWindow, tiny_npz: Path) -> None:
    configure(window, tiny_npz, epochs=2, batch_size=30)
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
        assert window.is_training
        assert window.editor.is_locked(), "the architecture is locked during a run"
        assert not window.run_panel.train_button.isEnabled(), "one run at a time"
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    assert not window.editor.is_locked()

    (entry,) = window.runs_list.entries()
    assert entry.regime == "lambda" and len(entry.history) == 2
    assert 0.0 <= entry.test_accuracy <= 1.0
    # Plots received the run: per-epoch points on both loss and validation curves.
    epochs, losses = window.metrics_panel.curves["epoch_loss"].getOriginalDataset()
    assert list(epochs) == [1.0, 2.0]
    assert np.allclose(losses, [row["loss"] for row in entry.history])
    _, val = window.metrics_panel.curves["val_accuracy"].getOriginalDataset()
    assert np.allclose(val, [100 * row["val_accuracy"] for row in entry.history])  # in %
    batch_x, _ = window.metrics_panel.curves["batch_loss"].getOriginalDataset()
    assert len(batch_x) >= 1 and batch_x.max() <= 2.0
    assert window.run_panel.progress.value() == window.run_panel.progress.maximum()
    # The spectrum view holds λ_out of the trained model; the weight view its layers and the
    # compact model's folded layer.
    window.tabs.setCurrentWidget(window.spectrum_panel)
    window.spectrum_panel.layer.setCurrentText("layer_1")
    shown = window.spectrum_panel.shown_values()
    layer = entry.model.get_layer("layer_1")
    np.testing.assert_allclose(shown, np.asarray(layer.eigvals_out), rtol=0, atol=0)
    assert window.spectrum_panel.epoch.maximum() == 3  # initial, 2 epochs, then live
    assert set(window.weights_panel.layer_names()) >= {
        "layer_1", "layer_2", "compact_1 (retracted model)",
    }
    assert window.run_panel.retract_button.isEnabled()


def test_pause_holds_and_stop_ends_after_the_current_batch(
    qtbot, window: MainWindow, tiny_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot_every_batch(window, monkeypatch)
    configure(window, tiny_npz, epochs=500, batch_size=10)
    qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.run_panel.progress.value() > 0, timeout=120_000)
    first = window.run_panel.progress.value()
    qtbot.waitUntil(lambda: window.run_panel.progress.value() > first, timeout=30_000)
    qtbot.waitUntil(lambda: points(window.metrics_panel.curves["batch_loss"]) > 0)

    qtbot.mouseClick(window.run_panel.pause_button, Qt.MouseButton.LeftButton)
    assert window.run_panel.pause_button.text() == "Resume"
    held = batches_seen(window)
    qtbot.wait(1000)  # unpaused, this would be dozens of batches
    # Only the batch in flight when Pause was pressed may still finish.
    assert batches_seen(window) <= held + 1
    held = batches_seen(window)
    assert window.is_training

    qtbot.mouseClick(window.run_panel.pause_button, Qt.MouseButton.LeftButton)
    assert window.run_panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: batches_seen(window) > held + 2, timeout=30_000)

    worker = window.worker
    window.stop_action.trigger()
    at_stop = len(worker.batch_points())
    qtbot.waitUntil(lambda: not window.is_training, timeout=60_000)
    assert len(worker.batch_points()) <= at_stop + 1, "at most the batch in flight finishes"
    (entry,) = window.runs_list.entries()
    assert entry.ended == "stopped by the user"
    assert entry.model is not None, "the weights so far are kept"
    assert len(entry.history) < 500


def test_closing_mid_training_leaves_no_thread_running(qtbot, tmp_path: Path, tiny_npz: Path) -> None:
    window = make_window(qtbot, tmp_path)
    configure(window, tiny_npz, epochs=500, batch_size=10)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.run_panel.progress.value() > 0, timeout=120_000)
    runner = window.training.runner  # the training task's one pool thread
    assert runner.busy and runner.pool.activeThreadCount() == 1
    window.close()
    assert not runner.busy and runner.pool.activeThreadCount() == 0 and not window.is_training


def test_corrupt_data_file_shows_an_error_and_keeps_the_app_usable(
    qtbot, window: MainWindow, tmp_path: Path, tiny_npz: Path
) -> None:
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    configure(window, corrupt, epochs=1, batch_size=30)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=60_000)
    assert window.message_bar.isVisible() and window.message_bar.level == "error"
    assert "corrupt.npz" in window.message_bar.text()
    assert window.editor.architecture() == TINY, "what the user built is kept"
    assert window.runs_list.entries() == []
    assert window.run_panel.train_button.isEnabled()

    configure(window, tiny_npz, epochs=1, batch_size=30)
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.run_panel.train_button.click()
    assert not window.message_bar.isVisible(), "a new run clears the old error"
    assert len(window.runs_list.entries()) == 1


def test_mismatched_input_size_is_reported_by_field(qtbot, window: MainWindow, tmp_path: Path) -> None:
    from spectral_core.data import synthetic_digits

    small = synthetic_digits(train=40, test=10, seed=3, side=8)
    path = tmp_path / "eight.npz"
    np.savez(path, x_train=small.x_train, y_train=small.y_train, x_test=small.x_test,
             y_test=small.y_test)
    configure(window, path, epochs=1, batch_size=10)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=60_000)
    assert "dataset: images have 64 values" in window.message_bar.text()
    assert "784" in window.message_bar.text()


def test_invalid_architecture_is_refused_before_training(qtbot, window: MainWindow) -> None:
    window.editor.set_architecture(
        Architecture("bad", 784, (LayerSpec(16, "relu", telescopic=True), LayerSpec(10, "softmax")))
    )
    window.train_action.trigger()
    assert not window.is_training
    assert "layers[0].telescopic" in window.message_bar.text()


def test_window_shows_before_tensorflow_is_imported(tmp_path: Path) -> None:
    """Run ``app.main.main`` in a fresh interpreter and look at it from inside the event loop."""
    probe = textwrap.dedent(
        """
        import json, sys, time
        started = time.perf_counter()
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        application = QApplication(sys.argv[:1])
        import app.main
        from app.main_window import MainWindow
        found = {}

        def probe():
            window = next(w for w in application.topLevelWidgets() if isinstance(w, MainWindow))
            found["visible"] = window.isVisible()
            found["tensorflow_at_show"] = "tensorflow" in sys.modules
            found["status_at_show"] = window.device_label.text()
            found["seconds_to_show"] = time.perf_counter() - started

            def wait_for_tensorflow():
                if not window.tensorflow_ready:
                    QTimer.singleShot(50, wait_for_tensorflow)
                    return
                found["status"] = window.device_label.text()
                found["devices"] = window.device_picker.count()
                print(json.dumps(found))
                window.close()

            wait_for_tensorflow()

        QTimer.singleShot(0, probe)
        sys.exit(app.main.main([]))
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="3",
               XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["visible"] is True
    assert found["tensorflow_at_show"] is False
    assert found["status_at_show"] == "Loading TensorFlow…"
    assert "TensorFlow 2." in found["status"] and found["devices"] >= 1


def test_diverging_loss_is_a_warning_and_keeps_the_last_finite_weights(
    qtbot, window: MainWindow, tiny_npz: Path
) -> None:
    configure(window, tiny_npz, epochs=2, batch_size=30)
    window.run_panel.set_regime("lambda-phi")
    window.run_panel.optimizer.setCurrentText("sgd")
    window.run_panel.learning_rate.setValue(10.0)
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    assert window.message_bar.level == "warning"
    assert "loss became non-finite" in window.message_bar.text()
    (entry,) = window.runs_list.entries()
    assert entry.ended.startswith("The loss became non-finite")
    assert all(np.all(np.isfinite(weight)) for weight in entry.model.get_weights())
    assert window.run_panel.train_button.isEnabled()
