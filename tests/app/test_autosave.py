"""Autosave: background writes that never block the GUI, coalescing, failures reported with the
previous autosave intact, clean shutdown, and the recovery offer."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QTimer

import app.autosave as autosave
from app.autosave import (
    DISCARDED_SESSION,
    LAST_SESSION,
    RECOVERED_SESSION,
    Autosaver,
    find_crashed_sessions,
    offer_recovery,
)
from app.main_window import MainWindow
from spectral_core import files
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.session import RunRecord, Session, load_session, save_session

TINY = Architecture(
    "autosave tiny", 784, (LayerSpec(12, "linear", telescopic=True), LayerSpec(10, "softmax"))
)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.editor.set_architecture(TINY)
    return window


@pytest.fixture
def saver(window: MainWindow, tmp_path: Path) -> Autosaver:
    saver = Autosaver(window, tmp_path / "autosave")
    yield saver
    saver.shutdown()


@pytest.fixture(autouse=True)
def autosave_folder(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "autosave"
    folder.mkdir()
    monkeypatch.setenv("SPECTRAL_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("SPECTRAL_LAB_RECOVER", raising=False)
    return folder


def test_folder_follows_spectral_lab_home(tmp_path: Path) -> None:
    assert autosave.autosave_folder() == tmp_path / "autosave"


def test_save_runs_on_a_pool_thread_and_the_gui_keeps_running(
    qtbot, window, saver, monkeypatch
) -> None:
    release = threading.Event()
    writer_threads = []
    real_save = autosave.save_session

    def slow_save(path, session):
        writer_threads.append(threading.current_thread())
        release.wait(20)
        real_save(path, session)

    monkeypatch.setattr(autosave, "save_session", slow_save)
    saver.save_now()  # returns at once although the write is blocked
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)  # the event loop is alive
    timer.stop()
    assert saver.save_count == 0 and not saver.path.exists()
    release.set()
    with qtbot.waitSignal(saver.saved, timeout=10_000):
        pass
    assert writer_threads and writer_threads[0] is not threading.main_thread()
    assert load_session(saver.path).architecture == TINY


def test_saves_are_coalesced_to_the_newest_state(qtbot, window, saver, monkeypatch) -> None:
    release = threading.Event()
    written = []
    real_save = autosave.save_session

    def gated_save(path, session):
        release.wait(20)
        written.append(session.architecture.name)
        real_save(path, session)

    monkeypatch.setattr(autosave, "save_session", gated_save)
    saver.save_now()
    for name in ("second", "third", "fourth"):
        window.editor.set_architecture(Architecture(name, 784, TINY.layers))
        saver.save_now()
    release.set()
    assert saver.wait(10_000)
    # The one in flight, then only the newest of the three queued.
    assert written == ["autosave tiny", "fourth"]
    assert load_session(saver.path).architecture.name == "fourth"


def test_architecture_edits_are_autosaved_after_a_pause(qtbot, window, saver) -> None:
    window.editor.set_architecture(Architecture("edited", 784, TINY.layers))
    with qtbot.waitSignal(saver.saved, timeout=10_000):
        pass
    assert load_session(saver.path).architecture.name == "edited"


def test_settings_edits_are_autosaved_through_the_lab_state(qtbot, window, saver) -> None:
    """The autosave follows the lab state, which follows every run-panel setting."""
    window.run_panel.epochs.setValue(7)
    assert window.state.config.epochs == 7
    with qtbot.waitSignal(saver.saved, timeout=10_000):
        pass
    assert load_session(saver.path).config.epochs == 7


def test_full_disk_is_reported_once_and_the_previous_autosave_stays(
    qtbot, window, saver, monkeypatch
) -> None:
    saver.save_now()
    assert saver.wait(10_000) and saver.save_count == 1
    before = saver.path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)
    window.editor.set_architecture(Architecture("changed", 784, TINY.layers))
    errors = []
    saver.failed.connect(errors.append)
    for _ in range(3):
        saver.save_now()
        assert saver.wait(10_000)
    assert len(errors) == 3 and "No space left on device" in errors[0]
    assert "autosave failed" in window.message_bar.text()
    assert "No space left on device" in window.message_bar.text()
    assert saver.path.read_bytes() == before
    assert not [p for p in saver.folder.iterdir() if ".partial" in p.name]


def test_clean_shutdown_waits_keeps_the_last_session_and_releases_the_lock(
    qtbot, window, monkeypatch
) -> None:
    saver = Autosaver(window, autosave.autosave_folder())
    release = threading.Event()
    real_save = autosave.save_session

    def slow_save(path, session):
        release.wait(20)
        real_save(path, session)

    monkeypatch.setattr(autosave, "save_session", slow_save)
    saver.save_now()
    threading.Timer(0.3, release.set).start()  # the GUI thread is blocked in shutdown()
    saver.shutdown()  # waits for the write in flight, then writes the final state
    assert saver.pool.activeThreadCount() == 0
    assert not saver.path.exists() and not saver.path.with_suffix(".lock").exists()
    last = load_session(saver.folder / LAST_SESSION)
    assert last.architecture == TINY
    assert find_crashed_sessions(saver.folder) == []
    saver.save_now()  # after shutdown nothing more is written
    assert saver.pool.activeThreadCount() == 0 and not saver.path.exists()


def test_a_live_instance_autosave_is_not_offered_but_a_crashed_one_is(window, saver) -> None:
    saver.save_now()
    assert saver.wait(10_000)
    assert find_crashed_sessions(saver.folder) == []  # its lock is held
    orphan = saver.folder / "autosave-12345-deadbeef.spectral"
    save_session(orphan, Session(TINY, "lambda", TrainingConfig(), "mnist", []))
    (crashed,) = find_crashed_sessions(saver.folder)
    assert crashed.path == orphan


def crashed_session(folder: Path) -> Path:
    record = RunRecord(
        "run 1", TINY, "lambda", TrainingConfig(epochs=9), "mnist",
        [{"epoch": 1.0, "loss": 1.0}, {"epoch": 2.0, "loss": 0.5}], float("nan"), float("nan"),
        [np.ones((784, 12), np.float32)], ended="interrupted after epoch 2 of 9",
    )
    path = folder / "autosave-999999-cafe0000.spectral"
    save_session(path, Session(TINY, "direct-full", TrainingConfig(epochs=9), "mnist", [record]))
    return path


def test_recovery_restores_the_session_into_the_window(qtbot, window, autosave_folder) -> None:
    path = crashed_session(autosave_folder)
    # A write the crash cut short leaves its temporary file; recovery removes it.
    partial = autosave_folder / f".{path.stem}.x1y2z3.spectral.partial.spectral"
    partial.write_bytes(b"PK\x03\x04 half")
    offered = offer_recovery(window, autosave_folder, answer="restore")
    assert not partial.exists()
    assert offered is not None and offered.runs[0].name == "run 1"
    qtbot.waitUntil(lambda: len(window.runs_list.entries()) == 1, timeout=5000)
    assert window.editor.architecture() == TINY
    assert window.run_panel.current_regime() == "direct-full"
    assert window.runs_list.entries()[0].history == offered.runs[0].history
    assert not path.exists() and (autosave_folder / RECOVERED_SESSION).exists()
    assert find_crashed_sessions(autosave_folder) == []


def test_recovery_declined_keeps_the_file_aside(window, autosave_folder, monkeypatch) -> None:
    crashed_session(autosave_folder)
    monkeypatch.setenv("SPECTRAL_LAB_RECOVER", "discard")
    assert offer_recovery(window, autosave_folder) is not None
    assert window.runs_list.entries() == []
    kept = load_session(autosave_folder / DISCARDED_SESSION)
    assert kept.runs[0].history[-1]["loss"] == 0.5
    assert offer_recovery(window, autosave_folder) is None  # offered once only


def test_recovery_asks_with_a_message_box(window, autosave_folder, monkeypatch) -> None:
    crashed_session(autosave_folder)
    asked = []

    def answer_no(parent, crashed, session):
        asked.append((crashed.path.name, session.architecture.name))
        return False

    monkeypatch.setattr(autosave, "_ask", answer_no)
    offer_recovery(window, autosave_folder)
    assert asked == [("autosave-999999-cafe0000.spectral", "autosave tiny")]
    assert (autosave_folder / DISCARDED_SESSION).exists()


def test_unreadable_autosave_is_reported_and_kept(window, autosave_folder) -> None:
    (autosave_folder / "autosave-1-bad.spectral").write_bytes(b"PK\x03\x04 truncated")
    assert offer_recovery(window, autosave_folder, answer="restore") is None
    assert "cannot be read" in window.message_bar.text()
    assert (autosave_folder / "unreadable-autosave-1-bad.spectral").exists()
    assert find_crashed_sessions(autosave_folder) == []


def test_worker_checkpoint_holds_the_last_epoch_weights(tmp_path: Path) -> None:
    from app.worker import TrainingJob
    from spectral_core.data import synthetic_digits

    digits = synthetic_digits(train=120, test=30, seed=4)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=(digits.x_train * 255).astype(np.uint8), y_train=digits.y_train,
             x_test=(digits.x_test * 255).astype(np.uint8), y_test=digits.y_test)
    plan = RunRecord("run 1", TINY, "lambda", TrainingConfig(epochs=3, batch_size=40), str(data))
    job = TrainingJob(plan)
    run = job()  # synchronously, on this thread
    rows, weights = job.checkpoint()
    assert rows == run.history and len(rows) == 3
    for kept, final in zip(weights, run.model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, final)
    # The checkpoint as a record carries the analysis gathered so far, for crash recovery.
    record = job.checkpoint_record()
    assert len(record.eigen_history) == 4 and record.histogram_history
    assert record.ended.startswith("interrupted after epoch 3 of 3")


def test_closing_during_training_stops_cleanly_and_keeps_the_work(
    qtbot, window, tmp_path: Path
) -> None:
    from spectral_core.data import synthetic_digits

    digits = synthetic_digits(train=600, test=50, seed=6)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=(digits.x_train * 255).astype(np.uint8), y_train=digits.y_train,
             x_test=(digits.x_test * 255).astype(np.uint8), y_test=digits.y_test)
    saver = Autosaver(window, autosave.autosave_folder())
    window.start_loading_tensorflow()
    qtbot.waitUntil(lambda: window.tensorflow_ready, timeout=120_000)
    window.run_panel.set_dataset_source(str(data))
    window.run_panel.set_config(TrainingConfig(epochs=300, batch_size=20))
    saves = []
    saver.saved.connect(saves.append)
    window.start_training()
    qtbot.waitUntil(lambda: bool(saves) and len(load_session(saver.path).runs) == 1, timeout=120_000)

    window.close()  # stops after the current batch and waits for the training thread
    saver.shutdown()
    qtbot.waitUntil(lambda: not window.is_training, timeout=10_000)
    assert saver.pool.activeThreadCount() == 0
    last = load_session(saver.folder / LAST_SESSION)
    (run,) = last.runs
    assert run.weights is not None and len(run.history) >= 1
    assert sorted(p.name for p in saver.folder.iterdir()) == [LAST_SESSION]


def test_autosaved_session_matches_the_windows_own_session(window, saver) -> None:
    """The autosave gathers on the GUI thread and reads weights on its pool thread; the result
    must be exactly what MainWindow.current_session() (File ▸ Save) produces."""
    from app.lab_state import LabRun
    from spectral_core.build import build_model

    for index, regime in enumerate(("lambda", "direct-full")):
        record = RunRecord(
            name=f"run {index + 1}", architecture=TINY, regime=regime,
            config=TrainingConfig(epochs=2, seed=index), dataset="mnist",
            history=[{"epoch": 1.0, "loss": 0.7}, {"epoch": 2.0, "loss": 0.4}],
            test_accuracy=0.8, test_loss=0.5, ended="finished",
        )
        window.state.add_run(LabRun(record, model=build_model(TINY, regime, seed=index)))
    expected = window.current_session()
    got = saver.session_now()
    assert (got.architecture, got.regime, got.config, got.dataset) == (
        expected.architecture, expected.regime, expected.config, expected.dataset
    )
    assert len(got.runs) == len(expected.runs) == 2
    for mine, theirs in zip(got.runs, expected.runs, strict=True):
        assert (mine.name, mine.architecture, mine.regime, mine.config, mine.dataset) == (
            theirs.name, theirs.architecture, theirs.regime, theirs.config, theirs.dataset
        )
        assert mine.history == theirs.history and mine.ended == theirs.ended
        assert (mine.test_accuracy, mine.test_loss, mine.retracted) == (
            theirs.test_accuracy, theirs.test_loss, theirs.retracted
        )
        for a, b in zip(mine.weights, theirs.weights, strict=True):
            np.testing.assert_array_equal(a, b)
    saver.save_now()
    assert saver.wait(20_000)
    assert len(load_session(saver.path).runs[1].weights) == len(expected.runs[1].weights)


def test_unusable_autosave_folder_keeps_the_app_running_and_says_why(
    qtbot, window, tmp_path: Path, monkeypatch
) -> None:
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SPECTRAL_LAB_HOME", str(blocker))
    saver = Autosaver(window)
    saver.save_now()
    assert saver.wait(10_000)
    assert saver.save_count == 0 and "does not exist" in saver.last_error
    assert "autosave failed" in window.message_bar.text()
    saver.shutdown()
    assert offer_recovery(window, saver.folder) is None
