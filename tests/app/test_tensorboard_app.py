"""Run ▸ Log to TensorBoard: each GUI run also logs (through the library's TensorBoardObserver,
as `train --tensorboard` does) to FOLDER/<run name>; the folder is remembered; a folder that
cannot hold logs refuses the run with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from app.run_panel import TENSORBOARD_KEY, RunPanel
from spectral_core.architecture import Architecture, LayerSpec

pytest.importorskip("tensorflow")

from tests.core.test_tensorboard import read_events  # noqa: E402

TINY = Architecture(
    "tiny", 784, (LayerSpec(16, "linear", telescopic=True), LayerSpec(10, "softmax"))
)


@pytest.fixture
def window(qtbot, tmp_path: Path, tiny_npz: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.editor.set_architecture(TINY)
    window.run_panel.set_dataset_source(str(tiny_npz))
    window.run_panel.epochs.setValue(2)
    window.run_panel.batch_size.setValue(100)
    return window


def session_start_hparams(folder: Path) -> dict[str, object]:
    """The HParams of the run (TensorBoard's session_start_info) as plain values."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    data = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content
                    )
                    return {
                        key: getattr(item, item.WhichOneof("kind"))
                        for key, item in data.session_start_info.hparams.items()
                    }
    return {}


def test_a_gui_run_logs_to_the_tensorboard_folder(qtbot, window: MainWindow, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "run-1").mkdir(parents=True)  # left by an earlier launch: not mixed with this run
    window.run_panel.set_tensorboard_folder(str(logs))
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.train_action.trigger()
        assert window.is_training
        assert str(logs / "run-1-2") in window.message_bar.text()
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    (entry,) = window.runs_list.entries()

    assert sorted(path.name for path in logs.iterdir()) == ["run-1", "run-1-2"]
    assert not any((logs / "run-1").iterdir())
    events = read_events(logs / "run-1-2")
    assert [step for step, _ in events["epoch/loss"]] == [1, 2]
    assert [step for step, _ in events["epoch/val_accuracy"]] == [1, 2]
    assert [step for step, _ in events["spectrum/layer_1/lambda_out_q050"]] == [0, 1, 2]
    _, histogram = events["weights/layer_1"][-1]
    assert histogram.shape[1] == 3 and histogram[:, 2].sum() == 784 * 16  # every kernel entry
    assert "compact_weights/compact_1" in events  # the retracted model's folded layer
    assert float(events["test/accuracy"][0][1]) == pytest.approx(entry.test_accuracy, rel=1e-5)
    hparams = session_start_hparams(logs / "run-1-2")
    assert hparams["run"] == "run 1" and hparams["regime"] == "lambda"
    assert hparams["epochs"] == 2 and hparams["batch_size"] == 100
    assert hparams["dataset"] == window.run_panel.dataset_source()


def test_the_run_menu_turns_the_logs_on_and_off(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = window.tensorboard_action
    assert action in window.menuBar().actions()[2].menu().actions()  # the Run menu
    assert not action.isChecked() and window.run_panel.tensorboard_folder() == ""  # off at first
    chosen = [""]  # the folder dialog's answer: cancelled first
    monkeypatch.setattr(
        "app.run_panel.QFileDialog.getExistingDirectory", lambda *_args: chosen[0]
    )
    action.trigger()
    assert not action.isChecked() and window.run_panel.tensorboard_folder() == ""
    chosen[0] = str(tmp_path / "logs")
    action.trigger()
    assert action.isChecked() and window.run_panel.tensorboard_folder() == chosen[0]
    assert chosen[0] in action.statusTip()
    window.state.set_status("training")
    assert not action.isEnabled()  # not while a run goes
    window.state.set_status("idle")
    action.trigger()
    assert not action.isChecked() and window.run_panel.tensorboard_folder() == ""


def test_with_the_logs_off_a_run_writes_none(qtbot, window: MainWindow, tmp_path: Path) -> None:
    assert window.run_panel.tensorboard_folder() == ""  # off by default
    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        window.train_action.trigger()
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)
    assert window.worker is None and "TensorBoard" not in window.message_bar.text()
    assert not list(tmp_path.rglob("events.out.tfevents.*"))


def test_a_file_as_the_log_folder_refuses_the_run(window: MainWindow, tmp_path: Path) -> None:
    taken = tmp_path / "not-a-folder"
    taken.write_text("x")
    window.run_panel.set_tensorboard_folder(str(taken))
    window.train_action.trigger()
    assert not window.is_training
    assert window.message_bar.level == "error"
    assert f"TensorBoard log folder: {taken} is a file, not a folder" in window.message_bar.text()
    assert window.runs_list.entries() == []


def test_the_log_folder_is_remembered_across_launches(qtbot, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = RunPanel()
    qtbot.addWidget(first)
    first.remember_in(settings)
    first.set_tensorboard_folder(str(tmp_path / "logs"))
    assert settings.value(TENSORBOARD_KEY) == str(tmp_path / "logs")
    assert remembered_folder(qtbot, settings) == str(tmp_path / "logs")
    first.set_tensorboard_folder("")  # off, and remembered as off
    assert remembered_folder(qtbot, settings) == ""


def remembered_folder(qtbot, settings: QSettings) -> str:
    """The log folder a newly launched run panel restores from ``settings``."""
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.remember_in(settings)
    return panel.tensorboard_folder()
