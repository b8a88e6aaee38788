"""No view can break the run's life: a plot that raises at every redraw is contained at the view
boundary; the run still finishes, is listed, autosaved and reported in the status bar, and the
failure shows in the banner (and is logged) instead of as terminal tracebacks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from app.autosave import Autosaver
from app.main_window import MainWindow
from app.view_guard import ViewGuard
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.session import load_session

TINY = Architecture(
    "boundary", 784, (LayerSpec(16, "linear", telescopic=True), LayerSpec(10, "softmax"))
)


def test_guard_reports_each_distinct_failure_once_and_logs_it(caplog) -> None:
    reported: list[str] = []
    guard = ViewGuard(reported.append)

    def broken(points: int) -> None:
        raise ValueError(f"len(X) must be len(Y)+1 ({points})")

    with caplog.at_level(logging.ERROR, logger="spectral_lab.views"):
        for _ in range(5):
            assert guard.call("eigenvalue spectrum", broken, 3) is False
    assert guard.call("eigenvalue spectrum", lambda: None) is True
    assert len(reported) == 1 and "eigenvalue spectrum" in reported[0] and "len(X)" in reported[0]
    assert guard.failures == 5
    assert sum("eigenvalue spectrum" in record.getMessage() for record in caplog.records) == 1
    guard.reset()
    guard.call("eigenvalue spectrum", broken, 3)
    assert len(reported) == 2


def test_a_failing_banner_does_not_escape_either() -> None:
    def banner(_text: str) -> None:
        raise RuntimeError("banner broken")

    guard = ViewGuard(banner)
    assert guard.call("weights", lambda: 1 / 0) is False


def raise_always(*_args, **_kwargs) -> None:
    raise ValueError("len(X) must be len(Y)+1 since stepMode=True (got (3,) and (3,))")


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch) -> MainWindow:
    monkeypatch.setenv("SPECTRAL_LAB_HOME", str(tmp_path))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.editor.set_architecture(TINY)
    return window


def test_a_view_raising_at_every_redraw_does_not_stop_the_run(
    qtbot, window: MainWindow, tiny_npz: Path, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "autosave").mkdir()
    saver = Autosaver(window, tmp_path / "autosave")
    for panel in (window.metrics_panel, window.spectrum_panel, window.weights_panel):
        for name in ("set_history", "set_live", "set_batch_points", "set_histories", "clear"):
            if hasattr(panel, name):
                monkeypatch.setattr(panel, name, raise_always)
    monkeypatch.setattr(window.pruning_panel, "on_model_ready", raise_always)
    window.modelReady.disconnect()
    window.modelReady.connect(window.views.wrap("pruning", window.pruning_panel.on_model_ready))
    window.run_panel.set_dataset_source(str(tiny_npz))
    window.run_panel.epochs.setValue(2)
    window.run_panel.batch_size.setValue(30)

    with qtbot.waitSignal(window.runFinished, timeout=120_000):
        qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.is_training, timeout=30_000)

    (entry,) = window.runs_list.entries()  # listed
    assert len(entry.history) == 2 and 0.0 <= entry.test_accuracy <= 1.0
    assert entry.name in window.status_label.text() and "training" not in window.status_label.text()
    assert window.run_panel.progress.value() == window.run_panel.progress.maximum()
    assert entry.name in window.result_label.text()  # the Model box shows this run
    assert window.train_action.isEnabled() and not window.editor.is_locked()
    assert window.views.failures > 3
    assert "could not draw" in window.message_bar.text()
    assert saver.wait(20_000)
    (saved,) = load_session(saver.path).runs  # autosaved at the run's end
    assert saved.name == entry.name and len(saved.history) == 2
    saver.shutdown()
