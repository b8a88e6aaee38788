"""Session files: round trip, versions and migration, atomic saves that fail cleanly."""

from __future__ import annotations

import errno
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spectral_core import files
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.files import WriteError
from spectral_core.session import (
    FORMAT_VERSION,
    SESSION_SUFFIX,
    RunRecord,
    Session,
    SessionError,
    load_session,
    migrate_v0,
    save_session,
)

SMALL = Architecture(
    "small", 16, (LayerSpec(8, "linear", telescopic=True), LayerSpec(4, "softmax"))
)


def make_session(weights: list[np.ndarray] | None = None) -> Session:
    rng = np.random.default_rng(3)
    if weights is None:
        weights = [
            rng.standard_normal((16, 8)).astype(np.float32),
            rng.standard_normal(8).astype(np.float32),
            np.asfortranarray(rng.standard_normal((8, 4))),  # float64, Fortran order
            np.zeros(0, dtype=np.float32),  # an empty array is legal (e.g. no trained values)
        ]
    history = [
        {"epoch": 1.0, "loss": 1.5, "accuracy": 0.4, "val_loss": math.nan, "seconds": 0.25},
        {"epoch": 2.0, "loss": 0.9, "accuracy": 0.7, "val_loss": math.inf, "seconds": 0.5},
    ]
    first = RunRecord(
        "run 1 — λ",
        SMALL,
        "lambda",
        TrainingConfig(epochs=2, learning_rate=0.05),
        "synthetic",
        history,
        0.75,
        0.8,
        weights,
        retracted=False,
        ended="finished",
    )
    second = RunRecord(
        "run 2",
        SMALL.retracted(),
        "direct-full",
        TrainingConfig(seed=7),
        "data/x.npz",
        [],
        math.nan,
        math.nan,
        None,
        retracted=True,
        ended="stopped by the user",
    )
    return Session(
        SMALL, "lambda-phi", TrainingConfig(epochs=5, batch_size=64), "synthetic", [first, second]
    )


def test_round_trip_keeps_every_field_and_weights_bit_exact(tmp_path: Path) -> None:
    session = make_session()
    path = tmp_path / f"lab{SESSION_SUFFIX}"
    save_session(path, session)
    loaded = load_session(path)

    assert loaded.architecture == session.architecture
    assert loaded.regime == "lambda-phi"
    assert loaded.config == session.config
    assert loaded.dataset == "synthetic"
    assert len(loaded.runs) == 2
    first, second = loaded.runs
    assert first.name == "run 1 — λ" and first.regime == "lambda" and first.ended == "finished"
    assert first.config.learning_rate == 0.05
    assert (first.test_accuracy, first.test_loss) == (0.75, 0.8)
    # JSON has no NaN/inf: non-finite metrics come back as NaN ("not available").
    assert first.history[0]["loss"] == 1.5 and math.isnan(first.history[0]["val_loss"])
    assert math.isnan(first.history[1]["val_loss"])
    for original, restored in zip(session.runs[0].weights, first.weights, strict=True):
        assert restored.dtype == original.dtype and restored.shape == original.shape
        np.testing.assert_array_equal(restored, original)
    assert second.weights is None and second.retracted is True
    assert math.isnan(second.test_accuracy) and second.architecture == SMALL.retracted()
    # No temporary file is left beside the session.
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_file_is_a_zip_with_versioned_json_and_plain_npy_members(tmp_path: Path) -> None:
    path = tmp_path / "lab.spectral"
    save_session(path, make_session())
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("session.json"))
        assert document["format_version"] == FORMAT_VERSION
        names = document["runs"][0]["weights"]
        assert names == [f"weights/run0_{i}.npy" for i in range(4)]
        assert all(name in archive.namelist() for name in names)
        assert document["runs"][1]["weights"] is None
        assert document["runs"][0]["history"][0]["val_loss"] is None


def test_trained_model_weights_restore_the_same_predictions(tmp_path: Path) -> None:
    from spectral_core.build import build_model

    model = build_model(SMALL, "lambda-phi", seed=1)
    x = np.random.default_rng(0).random((5, 16)).astype(np.float32)
    record = RunRecord(
        "r", SMALL, "lambda-phi", TrainingConfig(), "synthetic", [], 0.5, 1.0, model.get_weights()
    )
    save_session(
        tmp_path / "m.spectral",
        Session(SMALL, "lambda-phi", TrainingConfig(), "synthetic", [record]),
    )
    restored = build_model(SMALL, "lambda-phi", seed=99)
    restored.set_weights(load_session(tmp_path / "m.spectral").runs[0].weights)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


V0_DOCUMENT = {
    "version": 0,
    "architecture": SMALL.to_dict(),
    "regime": "lambda",
    "settings": {"epochs": 3, "batch_size": 32, "optimizer": "adam"},
    "dataset": "mnist",
    "runs": [
        {
            "name": "old run",
            "architecture": SMALL.to_dict(),
            "regime": "direct-subset",
            "settings": {"epochs": 2, "learning_rate": 0.02},
            "dataset": "mnist",
            "epochs": [{"epoch": 1, "loss": 2.0, "accuracy": 0.3}],
            "test_accuracy": 0.31,
            "test_loss": None,
        }
    ],
}


def test_version_0_plain_json_session_loads_through_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.spectral"
    path.write_text(json.dumps(V0_DOCUMENT), encoding="utf-8")
    loaded = load_session(path)
    assert loaded.config.epochs == 3 and loaded.config.optimizer == "adam"
    assert loaded.dataset == "mnist" and loaded.regime == "lambda"
    (run,) = loaded.runs
    assert run.name == "old run" and run.regime == "direct-subset"
    assert run.config.learning_rate == 0.02 and run.config.epochs == 2
    assert run.history == [{"epoch": 1.0, "loss": 2.0, "accuracy": 0.3}]
    assert run.test_accuracy == 0.31 and math.isnan(run.test_loss)
    assert run.weights is None and run.retracted is False and run.ended == ""
    # Re-saving writes the current version, which loads to the same session.
    save_session(tmp_path / "new.spectral", loaded)
    again = load_session(tmp_path / "new.spectral")
    assert again.runs[0].history == run.history and again.config == loaded.config


def test_migrate_v0_renames_fields_without_touching_the_input() -> None:
    before = json.dumps(V0_DOCUMENT, sort_keys=True)
    migrated = migrate_v0(V0_DOCUMENT)
    assert json.dumps(V0_DOCUMENT, sort_keys=True) == before
    assert migrated["format_version"] == 1 and "version" not in migrated
    assert migrated["config"] == V0_DOCUMENT["settings"] and "settings" not in migrated
    assert migrated["runs"][0]["history"] == V0_DOCUMENT["runs"][0]["epochs"]
    assert migrated["runs"][0]["weights"] is None


@pytest.mark.parametrize(
    ("saved", "loaded"),
    [("paper", "paper-text"), (None, "paper-text"), ("glorot", "glorot")],
)
def test_version_1_paper_initialization_meant_the_articles_text(
    tmp_path: Path, saved: str | None, loaded: str
) -> None:
    """Up to format 1 `paper` named the text's values; now it is the authors' code."""
    path = tmp_path / "v1.spectral"
    save_session(path, make_session(weights=[]))
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("session.json"))
    document["format_version"] = 1
    for config in (document["config"], *(run["config"] for run in document["runs"])):
        config.pop("initialization")
        if saved is not None:
            config["initialization"] = saved
    write_document(path, document)
    session = load_session(path)
    assert session.config.initialization == loaded
    assert [run.config.initialization for run in session.runs] == [loaded] * len(session.runs)
    assert session.runs  # the check above covered at least one run


def write_document(path: Path, document: dict) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))


def test_newer_format_is_refused_with_an_update_hint(tmp_path: Path) -> None:
    path = tmp_path / "future.spectral"
    save_session(path, make_session(weights=[]))
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("session.json"))
    document["format_version"] = FORMAT_VERSION + 1
    write_document(path, document)
    with pytest.raises(
        SessionError, match=rf"newer Spectral Lab.*format {FORMAT_VERSION + 1}.*Update"
    ):
        load_session(path)
    path.write_text(json.dumps({"format_version": 7}), encoding="utf-8")
    with pytest.raises(SessionError, match="newer Spectral Lab"):
        load_session(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("regime"), r"regime: is required"),
        (lambda d: d.update(regime="fast"), r"regime: must be one of lambda, lambda-phi"),
        (
            lambda d: d["architecture"]["layers"][0].update(units=10**9),
            r"architecture\.layers\[0\]\.units: must be an integer from 1 to 100000",
        ),
        (
            lambda d: d["config"].update(epochs="many"),
            r"config\.epochs: must be an integer from 1 to 10000, got 'many'",
        ),
        (lambda d: d["config"].update(batch_size=0), r"config\.batch_size: must be an integer"),
        (lambda d: d["runs"][0].update(history="none"), r"runs\[0\]\.history: must be a list"),
        (
            lambda d: d["runs"][0]["history"][0].update(loss="low"),
            r"runs\[0\]\.history\[0\]\.loss: must be a number \(or null\), got 'low'",
        ),
        (lambda d: d["runs"][0].update(retracted="yes"), r"runs\[0\]\.retracted: must be true"),
        (
            lambda d: d["runs"][0].update(weights=["weights/missing.npy"]),
            r"runs\[0\]\.weights\[0\]: member 'weights/missing.npy' is missing",
        ),
        (lambda d: d.update(format_version="1"), r"format_version: must be a whole number"),
        (lambda d: d.update(runs={}), r"runs: must be a list"),
        # Unknown keys are refused with their path, at any depth.
        (lambda d: d.update(colour="red"), r"colour: unknown field; allowed fields are format_version"),
        (lambda d: d["runs"][0].update(note="x"), r"runs\[0\]\.note: unknown field; allowed fields are name"),
        (
            lambda d: d["runs"][0]["config"].update(epohcs=3),
            r"runs\[0\]\.config\.epohcs: unknown setting; allowed settings are epochs",
        ),
        (
            lambda d: d["runs"][0]["architecture"]["layers"][0].update(unit=3),
            r"runs\[0\]\.architecture\.layers\[0\]\.unit: unknown field",
        ),
        (
            lambda d: d["runs"][0].update(report={"total_before": 3}),
            r"runs\[0\]\.report\.trainable_before: is required",
        ),
        (lambda d: d["runs"][0].update(seconds="1 s"), r"runs\[0\]\.seconds: must be a number \(or null\), got '1 s'"),
        (lambda d: d["runs"][0].update(name=["x"]), r"runs\[0\]\.name: must be a string of at most 4096 characters"),
        (lambda d: d.update(format_version=True), r"format_version: must be a whole number, got True"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(tmp_path: Path, change, message) -> None:
    path = tmp_path / "bad.spectral"
    save_session(path, make_session(weights=[]))
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("session.json"))
    change(document)
    write_document(path, document)
    with pytest.raises(SessionError, match=message) as caught:
        load_session(path)
    assert str(path) in str(caught.value)


def test_full_disk_during_save_keeps_the_previous_session(tmp_path, monkeypatch) -> None:
    path = tmp_path / "lab.spectral"
    save_session(path, make_session())
    before = path.read_bytes()

    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)
    changed = make_session(weights=[np.ones((16, 8), np.float32)])
    with pytest.raises(WriteError, match=r"cannot write .*lab\.spectral: No space left on device"):
        save_session(path, changed)
    monkeypatch.setattr(files.os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lab.spectral"]
    load_session(path)


def test_write_failure_midway_through_the_archive_keeps_the_previous_session(
    tmp_path, monkeypatch
) -> None:
    path = tmp_path / "lab.spectral"
    save_session(path, make_session())
    before = path.read_bytes()
    real_writestr = zipfile.ZipFile.writestr
    calls = []

    def fails_on_second_member(self, name, data, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fails_on_second_member)
    with pytest.raises(WriteError, match="No space left on device"):
        save_session(path, make_session())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lab.spectral"]


def test_unwritable_folder_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    # Tests run as root, for whom chmod does not block writes: a parent that is a regular file
    # makes the folder impossible to create or write for anyone.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(WriteError, match="cannot write .*not_a_folder/lab.spectral"):
        save_session(blocker / "lab.spectral", make_session())
    assert blocker.read_text() == "x"


def test_read_only_folder_is_reported_and_the_previous_file_stays(tmp_path, monkeypatch) -> None:
    path = tmp_path / "lab.spectral"
    save_session(path, make_session())
    before = path.read_bytes()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError, match="Read-only file system"):
        save_session(path, make_session(weights=[]))
    assert path.read_bytes() == before


def test_weights_of_an_unsupported_dtype_are_refused_on_save(tmp_path: Path) -> None:
    session = make_session(weights=[np.array(["text"], dtype=object)])
    with pytest.raises(SessionError, match=r"runs\[0\]\.weights\[0\] has dtype object"):
        save_session(tmp_path / "x.spectral", session)
    assert not (tmp_path / "x.spectral").exists()


KILLED_WRITER = """
import sys, time
import numpy as np
from spectral_core.session import RunRecord, Session, save_session
from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig

path = sys.argv[1]
arch = Architecture.from_json(sys.argv[2])
def session(value):
    weights = [np.full((16, 8), value, np.float32), np.full(8, value, np.float32)]
    run = RunRecord("r", arch, "lambda", TrainingConfig(), "mnist", [], 0.5, 0.5, weights)
    return Session(arch, "lambda", TrainingConfig(), "mnist", [run])

save_session(path, session(1.0))
real = np.lib.format.write_array
def slow_write(*args, **kwargs):
    real(*args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)  # killed here, in the middle of the archive
np.lib.format.write_array = slow_write
save_session(path, session(2.0))
"""


def test_process_killed_while_saving_leaves_the_previous_file(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    path = tmp_path / "lab.spectral"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), SMALL.to_json()],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout.readline().strip() == "writing"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    loaded = load_session(path)
    np.testing.assert_array_equal(loaded.runs[0].weights[0], np.ones((16, 8), np.float32))
    # The interrupted write left only its temporary file, never a half-written session.
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1 and ".partial" in leftovers[0]


def analysed_record() -> RunRecord:
    """A record carrying everything the plots draw, as the app's recorder fills it."""
    from spectral_core.record import RetractionReport

    rng = np.random.default_rng(5)
    eigen = [
        (label, {
            "layer_1": {"eigvals_in": rng.random(16).astype(np.float32),
                        "eigvals_out": rng.random(8).astype(np.float32)},
            "layer_2": {"eigvals_in": np.ones(8, np.float32), "eigvals_out": rng.random(4).astype(np.float32)},
        })
        for label in ("initial", "after epoch 1", "after epoch 2")
    ]
    return RunRecord(
        "run 1", SMALL, "lambda", TrainingConfig(epochs=2), "synthetic",
        [{"epoch": 1.0, "loss": 1.0}, {"epoch": 2.0, "loss": 0.5}], 0.75, 0.6, None,
        retracted=True, ended="finished",
        batch_points=rng.random((7, 3)),
        eigen_history=eigen,
        histograms={"layer_1": (rng.integers(0, 9, 60), np.linspace(-1, 1, 61))},
        histogram_history={"layer_1": (rng.integers(0, 9, (3, 64)), np.linspace(-2, 2, 65))},
        compact_histograms={"compact_1": (rng.integers(0, 9, (3, 32)), np.linspace(-1, 1, 33))},
        report=RetractionReport(132, 180, 68, 0.75, 0.75, 2.5e-7, 2, 1),
        continued_from="run 0", seconds=1.25, stopped=True,
    )


def assert_same_analysis(mine: RunRecord, theirs: RunRecord) -> None:
    np.testing.assert_array_equal(mine.batch_points, theirs.batch_points)
    assert [label for label, _ in mine.eigen_history] == [label for label, _ in theirs.eigen_history]
    for (_, a), (_, b) in zip(mine.eigen_history, theirs.eigen_history, strict=True):
        assert a.keys() == b.keys()
        for layer in a:
            for key in ("eigvals_in", "eigvals_out"):
                np.testing.assert_array_equal(a[layer][key], b[layer][key])
    for name in ("histograms", "histogram_history", "compact_histograms"):
        a, b = getattr(mine, name), getattr(theirs, name)
        assert a.keys() == b.keys(), name
        for layer in a:
            np.testing.assert_array_equal(a[layer][0], b[layer][0])
            np.testing.assert_array_equal(a[layer][1], b[layer][1])


def test_the_run_record_round_trips_with_everything_the_plots_draw(tmp_path: Path) -> None:
    record = analysed_record()
    path = tmp_path / "analysed.spectral"
    save_session(path, Session(SMALL, "lambda", TrainingConfig(), "synthetic", [record]))
    (loaded,) = load_session(path).runs
    assert_same_analysis(loaded, record)
    assert loaded.report == record.report and loaded.retracted
    assert (loaded.continued_from, loaded.seconds, loaded.stopped) == ("run 0", 1.25, True)
    assert loaded.final_histograms().keys() == {"layer_1", "compact_1 (retracted model)"}


def test_version_2_session_loads_with_an_empty_analysis(tmp_path: Path) -> None:
    path = tmp_path / "v2.spectral"
    save_session(path, make_session())
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("session.json"))
        weights = {name: archive.read(name) for name in archive.namelist() if name.startswith("weights/")}
    document["format_version"] = 2
    for run in document["runs"]:
        for key in ("analysis", "report", "continued_from", "seconds", "stopped", "diverged"):
            del run[key]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))
        for name, data in weights.items():
            archive.writestr(name, data)
    first, second = load_session(path).runs
    assert len(first.history) == 2 and first.history[1]["loss"] == 0.9
    assert first.eigen_history == [] and first.report is None and len(first.batch_points) == 0
    assert len(first.weights) == 4 and second.retracted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(batch_points=7), r"runs\[0\]\.analysis\.batch_points: must be a string"),
        (
            lambda a: a["histograms"]["layer_1"].update(edges=a["histograms"]["layer_1"]["counts"]),
            r"runs\[0\]\.analysis\.histograms\.layer_1\.edges: member .* already used",
        ),
        (
            lambda a: a["eigenvalues"].update(labels=["initial"]),
            r"analysis\.eigenvalues\.layers\.layer_1\.eigvals_in: has 3 rows for 1 epochs",
        ),
        (lambda a: a.pop("histogram_history"), r"analysis\.histogram_history: is required"),
        (
            lambda a: a["histograms"]["layer_1"].update(count="x"),
            r"runs\[0\]\.analysis\.histograms\.layer_1\.count: unknown field; allowed fields are counts, edges",
        ),
        (
            lambda a: a["eigenvalues"].update(labels=[1]),
            r"runs\[0\]\.analysis\.eigenvalues\.labels\[0\]: must be a string",
        ),
    ],
)
def test_bad_analysis_is_refused_naming_the_field(tmp_path: Path, change, message) -> None:
    path = tmp_path / "bad-analysis.spectral"
    save_session(path, Session(SMALL, "lambda", TrainingConfig(), "synthetic", [analysed_record()]))
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members.pop("session.json"))
    change(document["runs"][0]["analysis"])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(SessionError, match=message):
        load_session(path)


def test_histogram_with_mismatched_edges_is_refused(tmp_path: Path) -> None:
    """The plots need one more edge than bins (pyqtgraph's stepMode); a file cannot break that."""
    record = analysed_record()
    record.histograms = {"layer_1": (np.ones(60, np.int64), np.linspace(-1, 1, 60))}
    path = tmp_path / "edges.spectral"
    save_session(path, Session(SMALL, "lambda", TrainingConfig(), "synthetic", [record]))
    with pytest.raises(SessionError, match=r"histograms\.layer_1: needs one more edge than bins"):
        load_session(path)
