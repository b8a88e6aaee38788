"""File ▸ Open study folder: a ``spectral-lab search`` folder's best trial becomes the editor's
architecture (undoable) and the run panel's regime, settings and data set; a folder without a
readable best.json changes nothing and says which file is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from app.run_panel import CONFIG_KEY
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.search import BEST_ARCHITECTURE, BEST_CONFIG, BEST_FILE

START = Architecture("start", 784, (LayerSpec(16, "linear", telescopic=True), LayerSpec(10, "softmax")))
BEST = Architecture("best of the study", 784, (LayerSpec(37, "relu"), LayerSpec(10, "softmax")))
BEST_SETTINGS = TrainingConfig(
    epochs=7, batch_size=150, learning_rate=0.0042, optimizer="adam", seed=11,
    initialization="paper", validation_fraction=0.2,
)


def write_study_folder(
    folder: Path, dataset: str, regime: str = "lambda-phi", config: dict | None = None
) -> Path:
    """A folder as `spectral-lab search` leaves it (search._best's files), without Optuna."""
    folder.mkdir(parents=True)
    best = {
        "trial": 3,
        "val_accuracy": 0.8125,
        "params": {"learning_rate": 0.0042, "layers[0].units": 37},
        "regime": regime,
        "architecture": BEST.to_dict(),
        "config": BEST_SETTINGS.to_dict() if config is None else config,
        "dataset": {"dataset": dataset, "limit": 200, "test_limit": None},
        "test_accuracy": 0.8, "test_accuracy_compact": 0.8, "test_images": 60,
        "retrained_val_accuracy": 0.81, "run_folder": "best_run",
        "train_command": "spectral-lab train …",
    }
    (folder / BEST_CONFIG).write_text(json.dumps(best["config"], indent=2) + "\n")
    BEST.save(folder / BEST_ARCHITECTURE)
    (folder / BEST_FILE).write_text(json.dumps(best, indent=2) + "\n")
    return folder


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)  # TensorFlow is not needed to open files
    qtbot.addWidget(window)
    window.editor.set_architecture(START)
    return window


def test_a_study_folder_opens_as_the_architecture_and_settings(
    window: MainWindow, tmp_path: Path, tiny_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_study_folder(tmp_path / "study", str(tiny_npz))
    monkeypatch.setattr("app.file_actions.ask_open_folder", lambda *_: str(folder))
    window.open_study_action.trigger()  # File ▸ Open study folder…

    assert window.editor.architecture() == BEST
    panel = window.run_panel
    assert panel.current_regime() == "lambda-phi"
    assert panel.config() == BEST_SETTINGS
    assert panel.dataset_source() == str(tiny_npz)
    # The lab state (what training, autosave and sessions read) and the remembered settings.
    state = window.state
    assert (state.architecture, state.regime, state.config, state.dataset) == (
        BEST, "lambda-phi", BEST_SETTINGS, str(tiny_npz)
    )
    assert json.loads(window.settings.value(CONFIG_KEY)) == BEST_SETTINGS.to_dict()
    banner = window.message_bar
    assert banner.level == "info"
    for words in ("best trial (#3, validation accuracy 0.8125)", str(folder), "best of the study",
                  "Train Λ, Φ", "7 epochs", "learning rate 0.0042", str(tiny_npz)):
        assert words in banner.text(), words
    assert str(folder.resolve()) in window.recent_files()

    window.commands.undo()  # the architecture came in as one undoable edit
    assert window.editor.architecture() == START


def test_open_file_and_the_launcher_accept_a_study_folder(
    window: MainWindow, tmp_path: Path
) -> None:
    # `spectral-lab gui STUDY_DIR` hands its paths to open_file (app.main).
    folder = write_study_folder(tmp_path / "study", str(tmp_path / "gone.npz"), regime="lambda")
    before = window.run_panel.dataset_source()
    assert window.open_file(folder)
    assert window.editor.architecture() == BEST
    assert window.run_panel.current_regime() == "lambda"
    assert window.run_panel.dataset_source() == before  # the study's data set is not here
    assert "not found here" in window.message_bar.text()


def bad_folders(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (folder, words the error must show)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = write_study_folder(tmp_path / "corrupt", "mnist")
    (corrupt / BEST_FILE).write_text('{"trial": 3, "architecture": {"input_un')
    bad_setting = write_study_folder(
        tmp_path / "bad_setting", "mnist", config={**BEST_SETTINGS.to_dict(), "epochs": 0}
    )
    bad_regime = write_study_folder(tmp_path / "bad_regime", "mnist", regime="fastest")
    return {
        "no best.json": (empty, f"{empty}: no readable {BEST_FILE}"),
        "corrupt JSON": (corrupt, f"{corrupt / BEST_FILE}: not a readable JSON object"),
        "bad setting": (bad_setting, f"{bad_setting / BEST_FILE}: config: epochs"),
        "bad regime": (bad_regime, f"{bad_regime / BEST_FILE}: regime: must be one of"),
    }


@pytest.mark.parametrize("case", ["no best.json", "corrupt JSON", "bad setting", "bad regime"])
def test_a_bad_study_folder_names_the_file_and_changes_nothing(
    window: MainWindow, tmp_path: Path, case: str
) -> None:
    folder, words = bad_folders(tmp_path)[case]
    panel = window.run_panel
    before = (window.editor.architecture(), panel.current_regime(), panel.config(),
              panel.dataset_source(), window.commands.count)
    assert window.open_file(folder) is False
    assert window.message_bar.level == "error"
    assert words in window.message_bar.text()
    after = (window.editor.architecture(), panel.current_regime(), panel.config(),
             panel.dataset_source(), window.commands.count)
    assert after == before
    assert str(folder.resolve()) not in window.recent_files()


def test_a_study_folder_is_refused_while_a_run_trains(window: MainWindow, tmp_path: Path) -> None:
    folder = write_study_folder(tmp_path / "study", "mnist")
    window.state.set_status("training")
    assert not window.open_study_action.isEnabled()
    assert window.open_file(folder) is False
    assert "stop it before opening a study folder" in window.message_bar.text()
    window.state.set_status("idle")
    assert window.editor.architecture() == START
