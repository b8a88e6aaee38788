"""Retract and export from the GUI: the compact model loads with plain Keras in a process that
never imports this project and predicts what the window's model predicts; failed exports show
an error, leave no partial file, and the app stays usable; sessions and settings round-trip."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from tolerances import FLOAT32

import app.file_actions as file_actions_module
from app.lab_state import LabRun
from app.main_window import MainWindow
from app.plots import step_xy
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.data import load_npz
from spectral_core.training import predict

# Two telescopic linear layers fold into the ReLU layer: 784→12→8→6→10 becomes 784→6→10.
STACK = Architecture(
    "folding",
    784,
    (
        LayerSpec(12, "linear", telescopic=True),
        LayerSpec(8, "linear", telescopic=True),
        LayerSpec(6, "relu"),
        LayerSpec(10, "softmax"),
    ),
)


def new_window(qtbot, settings_path: Path) -> MainWindow:
    window = MainWindow(settings=QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    return window


@pytest.fixture(scope="module")
def finished_run(tiny_npz: Path) -> LabRun:
    """One 2-epoch run of STACK in the Λ regime, trained once for the whole module exactly as
    the training job trains (the Train button itself is exercised in test_main_window.py)."""
    from spectral_core.record import RunRecorder
    from spectral_core.runs import run_training

    recorder = RunRecorder()
    dataset = load_npz(tiny_npz)
    outcome = run_training(
        STACK, "lambda", dataset, TrainingConfig(epochs=2, batch_size=30), observers=[recorder]
    )
    record = outcome.to_record("run 1", str(tiny_npz), recorder)
    return LabRun(record, model=outcome.model, compact=outcome.compact, dataset=dataset)


@pytest.fixture
def window(qtbot, tmp_path: Path, tiny_npz: Path, finished_run: LabRun) -> MainWindow:
    """A window showing the finished run, as when its training job hands it back."""
    window = new_window(qtbot, tmp_path / "settings.ini")
    window.editor.set_architecture(STACK)
    window.run_panel.set_dataset_source(str(tiny_npz))
    window.run_panel.epochs.setValue(2)
    window.run_panel.batch_size.setValue(30)
    run = LabRun(replace(finished_run.record), finished_run.model, finished_run.compact, finished_run.dataset)
    with qtbot.waitSignal(window.runFinished, timeout=10_000):
        window.training._on_done(run)
    return window


def answer_dialogs(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """The file dialog 'returns' ``path`` (no modal dialog in tests)."""
    monkeypatch.setattr(file_actions_module, "ask_save_path", lambda *args: str(path))
    monkeypatch.setattr(file_actions_module, "ask_open_path", lambda *args: str(path))


PLAIN_KERAS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    model = keras.models.load_model(sys.argv[1])  # safe_mode=True is Keras's default
    np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
    leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("spectral_core", "app"))
    assert not leaked, leaked
    print([type(layer).__name__ for layer in model.layers])
    """
)


def predict_in_plain_keras(model_path: Path, x: np.ndarray, folder: Path) -> tuple[np.ndarray, str]:
    np.save(folder / "x.npy", x)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-I", "-c", PLAIN_KERAS, str(model_path), str(folder / "x.npy"),
         str(folder / "y.npy")],
        cwd=folder, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(folder / "y.npy"), done.stdout


def test_retract_then_export_compact_loads_in_plain_keras(
    window: MainWindow, tmp_path: Path, tiny_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = window.current_entry()
    full = window.current_model()
    assert full is entry.model and window.run_panel.retract_button.isEnabled()

    window.run_panel.retract_button.click()
    assert entry.retracted and not window.run_panel.retract_button.isEnabled()
    compact = window.current_model()
    assert compact is entry.compact
    text = window.result_label.text()
    report = entry.report
    assert "784 → 12 → 8 → 6 → 10 became 784 → 6 → 10" in text
    assert f"{report.total_before:,} total" in text and f"→ {report.total_after:,}" in text
    assert report.total_after == 784 * 6 + 6 + 6 * 10 + 10
    assert f"{report.accuracy_before:.4f} → {report.accuracy_after:.4f}" in text
    assert "largest output difference" in text and report.max_abs_difference < 1e-4

    # Undoable: Ctrl+Z gives the full model back, redo retracts again.
    window.undo_action.trigger()
    assert not entry.retracted and window.current_model() is full
    window.redo_action.trigger()
    assert entry.retracted and window.current_model() is compact

    target = tmp_path / "out" / "compact.keras"
    target.parent.mkdir()
    answer_dialogs(monkeypatch, target)
    window.export_compact_action.trigger()
    assert target.is_file(), window.message_bar.text()
    # The message and the file both say what the model expects.
    from spectral_core.export import read_model_metadata

    assert "784 values per sample" in window.message_bar.text()
    assert "scaled to [0, 1]" in window.message_bar.text()
    assert read_model_metadata(target)["input"]["shape"] == [None, 784]
    x = load_npz(tiny_npz).x_test[:40]
    expected = predict(compact, x)
    loaded, layers = predict_in_plain_keras(target, x, tmp_path)
    np.testing.assert_allclose(loaded, expected, **FLOAT32)
    np.testing.assert_allclose(loaded, predict(full, x), rtol=0, atol=1e-4)
    assert layers.strip() == "['InputLayer', 'Dense', 'Dense']"


def test_export_full_model_metrics_and_plots(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spectral_core.export import load_model

    entry = window.current_entry()
    full_path = tmp_path / "full.keras"
    answer_dialogs(monkeypatch, full_path)
    window.export_full_action.trigger()
    reloaded = load_model(full_path)
    x = entry.dataset.x_test[:20]
    np.testing.assert_allclose(predict(reloaded, x), predict(entry.model, x), **FLOAT32)

    csv_path = tmp_path / "metrics.csv"
    answer_dialogs(monkeypatch, csv_path)
    window.export_metrics_action.trigger()
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert float(rows[1]["val_accuracy"]) == pytest.approx(entry.history[1]["val_accuracy"])

    for title in window.plots():
        for suffix in (".png", ".svg"):
            path = tmp_path / f"plot{suffix}"
            path.unlink(missing_ok=True)
            assert window.export_plot_dialog(title, str(path)) == path, window.message_bar.text()
            head = path.read_bytes()[:64]
            assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in path.read_bytes()


def test_export_to_an_unwritable_place_shows_an_error(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, for whom chmod'ed folders stay writable; so "unwritable" is simulated:
    # (1) a folder path that runs through a regular file, (2) a rename refused by the OS.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    answer_dialogs(monkeypatch, blocker / "compact.keras")
    window.export_compact_action.trigger()
    assert window.message_bar.level == "error"
    assert "export failed" in window.message_bar.text() and "a-file" in window.message_bar.text()

    window.message_bar.dismiss()
    folder = tmp_path / "read-only"
    folder.mkdir()

    def refuse(source: str, destination: str) -> None:
        raise PermissionError(13, "Permission denied", str(destination))

    monkeypatch.setattr(os, "replace", refuse)
    for action, name in ((window.export_compact_action, "compact.keras"),
                         (window.export_metrics_action, "metrics.csv")):
        answer_dialogs(monkeypatch, folder / name)
        action.trigger()
        assert "Permission denied" in window.message_bar.text()
        window.message_bar.dismiss()
    assert list(folder.iterdir()) == [], "no partial file is left behind"
    monkeypatch.undo()

    # Still usable: the same export to a writable place works.
    good = tmp_path / "compact.keras"
    answer_dialogs(monkeypatch, good)
    window.export_compact_action.trigger()
    assert good.is_file() and window.message_bar.level == "info"  # no error; says the input


def test_session_save_and_reopen_with_recent_files_and_geometry(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = window.current_entry()
    window.run_panel.retract_button.click()
    window.resize(window.minimumSizeHint().width(), 560)  # fits the offscreen 800×600 screen
    size = window.size()
    session_path = tmp_path / "lab.spectral"
    answer_dialogs(monkeypatch, session_path)
    window.save_session_action.trigger()
    assert session_path.is_file(), window.message_bar.text()
    window.close()

    again = new_window(qtbot, tmp_path / "settings.ini")
    assert again.recent_files()[0] == str(session_path.resolve())
    assert again.size() == size and again.height() == 560
    assert again.recent_menu.actions()[0].text() == str(session_path.resolve())
    again.recent_menu.actions()[0].trigger()
    assert not again.message_bar.isVisible(), again.message_bar.text()
    assert again.editor.architecture() == STACK
    (restored,) = again.runs_list.entries()
    assert restored.history == entry.history and restored.regime == "lambda"
    # Reopened as closed: retracted, its report kept, the compact model active.
    assert restored.retracted and restored.report.max_abs_difference < 1e-4
    assert again.current_model() is restored.compact
    assert not again.run_panel.retract_button.isEnabled()
    x = entry.dataset.x_test[:20]
    np.testing.assert_allclose(predict(restored.model, x), predict(entry.model, x), **FLOAT32)
    np.testing.assert_allclose(predict(restored.compact, x), predict(entry.compact, x), **FLOAT32)


def test_opening_a_damaged_session_shows_an_error(qtbot, window: MainWindow, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.spectral"
    damaged.write_bytes(b"PK\x03\x04" + os.urandom(200))
    assert window.open_file(damaged) is False
    assert "damaged.spectral" in window.message_bar.text()
    assert window.editor.architecture() == STACK and len(window.runs_list.entries()) == 1


def test_runs_list_selection_overlays_curves_and_distributions(
    qtbot, window: MainWindow
) -> None:
    window.run_panel.set_regime("direct-full")
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    first, second = window.runs_list.entries()
    tree = window.runs_list.tree
    tree.setCurrentItem(tree.topLevelItem(1))
    tree.topLevelItem(0).setSelected(True)
    assert window.metrics_panel.overlay_names() == ["run 1"]
    overlay_loss, _ = window.metrics_panel._overlays["run 1"]
    np.testing.assert_allclose(
        overlay_loss.getOriginalDataset()[1], [row["val_loss"] for row in first.history]
    )
    # The paper's comparison in two clicks: the direct-full run's first layer against the
    # compact model of the Λ run.
    window.tabs.setCurrentWidget(window.weights_panel)
    window.weights_panel.layer.setCurrentText("layer_1")
    label = "run 1 (lambda): compact_1 (retracted model)"
    window.weights_panel.compare.setCurrentText(label)
    assert window.weights_panel.compare_curve.isVisible()
    counts, edges = first.histograms()["compact_1 (retracted model)"]
    x, y = window.weights_panel.compare_curve.getOriginalDataset()
    np.testing.assert_allclose((x, y), step_xy(edges, counts / (counts.sum() * np.diff(edges))))
    assert second.regime == "direct-full" and window.current_entry() is second
    # Its telescopic Dense layers fold as well, so Retract stays available for it.
    assert window.run_panel.retract_button.isEnabled()

    # Making run 1 current brings back its own spectrum (run 2 has no eigenvalues).
    tree.setCurrentItem(tree.topLevelItem(0))
    window.spectrum_panel.layer.setCurrentText("layer_1")
    np.testing.assert_array_equal(
        window.spectrum_panel.shown_values(),
        first.record.eigenvalues["layer_1"]["eigvals_out"],
    )
    assert window.spectrum_panel.epoch.maximum() == len(first.eigen_history)


def test_session_opened_while_tensorflow_loads_keeps_its_weights(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    """``spectral-lab gui FILE`` opens FILE right away, before TensorFlow has loaded."""
    session_path = tmp_path / "early.spectral"
    assert window.save_session(session_path)
    entry = window.current_entry()

    early = MainWindow(settings=QSettings(str(tmp_path / "early.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(early)
    assert not early.tensorflow_ready
    assert early.open_file(session_path), early.message_bar.text()
    (restored,) = early.runs_list.entries()
    assert restored.model is None and not early.export_compact_action.isEnabled()
    saved = early.current_session().runs[0].weights  # what autosave would write meanwhile
    for mine, original in zip(saved, entry.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, original)

    early.start_loading_tensorflow()
    qtbot.waitUntil(lambda: early.tensorflow_ready, timeout=120_000)
    assert restored.model is not None and early.export_compact_action.isEnabled()
    x = entry.dataset.x_test[:10]
    np.testing.assert_allclose(predict(restored.model, x), predict(entry.model, x), **FLOAT32)
