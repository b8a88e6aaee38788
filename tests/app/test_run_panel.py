"""The run panel: validation share shown and settable, settings remembered across launches,
vanished data files dropped, and a failed start that keeps the selected run's plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.run_panel import CONFIG_KEY, DATASET_KEY, RunPanel
from spectral_core.config import TrainingConfig


def settings_at(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def launch(qtbot, settings: QSettings) -> RunPanel:
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.remember_in(settings)
    return panel


def test_validation_share_is_shown_and_settable(qtbot) -> None:
    panel = RunPanel()
    qtbot.addWidget(panel)
    assert panel.validation.value() == pytest.approx(100 * TrainingConfig().validation_fraction)
    assert panel.validation.suffix() == " %"
    panel.validation.setValue(25)
    assert panel.config().validation_fraction == pytest.approx(0.25)
    panel.validation.setValue(0)
    assert panel.config().validation_fraction == 0
    panel.set_config(TrainingConfig(validation_fraction=0.2))
    assert panel.validation.value() == pytest.approx(20)
    panel.set_settings_enabled(False)
    assert not panel.validation.isEnabled()


def test_settings_are_remembered_across_launches(qtbot, tmp_path: Path) -> None:
    data = tmp_path / "digits.npz"
    data.write_bytes(b"x")
    first = launch(qtbot, settings_at(tmp_path / "s.ini"))
    first.set_regime("lambda-phi")
    first.epochs.setValue(7)
    first.batch_size.setValue(64)
    first.validation.setValue(15)
    first.seed.setValue(42)
    first.optimizer.setCurrentText("adam")
    first.learning_rate.setValue(0.002)
    first.set_dataset_source(str(data))
    wanted = first.config()
    del first

    again = launch(qtbot, settings_at(tmp_path / "s.ini"))
    assert again.config() == wanted
    assert again.current_regime() == "lambda-phi"
    assert again.dataset_source() == str(data)


def test_vanished_data_files_drop_out_of_the_list(qtbot, tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept.npz", tmp_path / "gone.npz"
    kept.write_bytes(b"x")
    gone.write_bytes(b"x")
    panel = launch(qtbot, settings_at(tmp_path / "s.ini"))
    panel.set_dataset_source(str(kept))
    panel.set_dataset_source(str(gone))
    gone.unlink()
    # On the next launch the vanished file is not offered, and the chosen source falls back.
    again = launch(qtbot, settings_at(tmp_path / "s.ini"))
    assert str(gone) not in again.dataset_sources() and str(kept) in again.dataset_sources()
    assert again.dataset_source() == "mnist"
    # During a session: the list is checked when it opens.
    kept.unlink()
    again.dataset.showPopup()
    again.dataset.hidePopup()
    assert again.dataset_sources() == ["mnist", "fashion-mnist"]


def test_unreadable_remembered_settings_fall_back_to_the_defaults(qtbot, tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "s.ini")
    settings.setValue(CONFIG_KEY, '{"epochs": -3}')
    settings.setValue(DATASET_KEY, str(tmp_path / "missing.npz"))
    panel = launch(qtbot, settings)
    assert panel.config() == TrainingConfig()
    assert panel.dataset_source() == "mnist"
    settings.setValue(CONFIG_KEY, "not json")
    assert launch(qtbot, settings).config() == TrainingConfig()


def test_a_failed_start_keeps_the_selected_runs_plots(qtbot, tmp_path: Path, tiny_npz: Path) -> None:
    from app.main_window import MainWindow
    from spectral_core.architecture import Architecture, LayerSpec

    window = MainWindow(settings=settings_at(tmp_path / "w.ini"))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.editor.set_architecture(Architecture("tiny", 784, (LayerSpec(10, "softmax"),)))
    window.run_panel.set_dataset_source(str(tiny_npz))
    window.run_panel.epochs.setValue(1)
    window.run_panel.batch_size.setValue(60)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training and bool(window.runs_list.entries()), timeout=120_000)
    (entry,) = window.runs_list.entries()
    losses = window.metrics_panel.curves["epoch_loss"].getOriginalDataset()[1]
    spectrum = window.spectrum_panel.shown_values().copy()

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not a zip archive")
    window.run_panel.set_dataset_source(str(corrupt))
    window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=60_000)
    assert window.message_bar.level == "error"
    np.testing.assert_array_equal(window.metrics_panel.curves["epoch_loss"].getOriginalDataset()[1], losses)
    np.testing.assert_array_equal(window.spectrum_panel.shown_values(), spectrum)
    assert window.metrics_panel.run_name() == entry.name
