"""One run record everywhere: the engine's record, the run folder's, and the sweep log's rows.

- ``run_training`` produces a :class:`RunRecord`; the run folder stores it with the session
  serializer (``run.spectral``) and :func:`read_run_record` gives it back field by field.
- A sweep run executes into a record, and its ``runs.jsonl`` row is :func:`run_row` of it;
  the row's columns and run ids stay those of the logs already on disk, which still resume.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.config import TrainingConfig
from spectral_core.record import RetractionReport, RunRecord, record_results

# A linear telescopic layer, so the record also has the compact model's histograms.
TINY = Architecture(
    "tiny", 784, (LayerSpec(12, "linear", telescopic=True), LayerSpec(10, "softmax")),
    train_input_eigenvalues=False,
)
FAST = {"epochs": 2, "batch_size": 100, "validation_fraction": 0.2}

# The columns of every runs.jsonl line the sweeps have written so far (docs/figures/*.csv and
# the sweeps resuming today read them): they must not change.
ROW_COLUMNS = sorted([
    "architecture", "compact_parameters", "dataset", "diverged", "ended", "epochs_completed",
    "family", "finished_at", "hidden", "host", "regime", "run_id", "seconds", "seed", "settings",
    "size", "test_accuracy", "test_accuracy_compact", "test_images", "test_loss",
    "total_parameters", "train_accuracy", "train_images", "train_seconds", "trainable_parameters",
    "widths",
])
CSV_HEADER = (
    "run_id,family,size,architecture,widths,hidden,regime,seed,epochs,learning_rate,batch_size,"
    "optimizer,initialization,settings,trainable_parameters,total_parameters,compact_parameters,"
    "test_accuracy,test_accuracy_compact,test_loss,train_accuracy,epochs_completed,diverged,"
    "train_seconds,seconds,dataset,train_images,test_images,host,finished_at"
)


def assert_same_record(mine: RunRecord, theirs: RunRecord) -> None:
    """Every field equal; arrays (weights, batch points, eigenvalues, histograms) exactly."""
    for field in dataclasses.fields(RunRecord):
        left, right = getattr(mine, field.name), getattr(theirs, field.name)
        if field.name in ("architecture", "config", "report"):
            assert left == right, field.name
        else:  # numbers (NaN equals NaN), lists, dicts and tuples of arrays
            np.testing.assert_equal(left, right, err_msg=field.name)


# -- the run folder ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_folder(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory):
    from spectral_core.data import load_dataset
    from spectral_core.runs import run_training

    folder = tmp_path_factory.mktemp("run") / "demo"
    config = TrainingConfig(**FAST, snapshot_interval=0)
    outcome = run_training(
        TINY, "lambda", load_dataset(tiny_npz), config, out=folder, dataset_source=str(tiny_npz)
    )
    return outcome, folder


def test_the_run_folder_gives_back_the_engines_record_field_by_field(trained_folder, tiny_npz):
    from spectral_core.runs import read_run_record

    outcome, folder = trained_folder
    record = outcome.record
    # The engine's record holds what the plots draw, not only the metrics.
    assert record.name == "demo" and record.dataset == str(tiny_npz)
    assert [label for label, _ in record.eigen_history] == ["initial", "after epoch 1", "after epoch 2"]
    assert len(record.batch_points) >= 2 and record.report is not None
    from spectral_core.layers import dense_layers

    assert set(record.histograms) == {layer.name for layer in dense_layers(outcome.model)}
    assert [len(counts) for counts, _ in record.histogram_history.values()] == [3, 3]
    assert [len(counts) for counts, _ in record.compact_histograms.values()] == [3]
    assert record.weights is None  # in memory the weights are the model's

    loaded = read_run_record(folder)
    weights = outcome.model.get_weights()
    assert len(loaded.weights) == len(weights)
    assert_same_record(loaded, dataclasses.replace(record, weights=weights))


def test_without_analysis_the_record_has_the_results_and_no_plot_data(tiny_npz):
    """Sweeps keep only results: no histogram pass or retraction per epoch for them."""
    from spectral_core.data import load_dataset
    from spectral_core.runs import run_training

    config = TrainingConfig(**FAST)
    outcome = run_training(TINY, "lambda", load_dataset(tiny_npz), config, analysis=False)
    record = outcome.record
    assert len(record.history) == 2 and record.report is not None
    assert math.isfinite(record.test_accuracy)
    assert record.eigen_history == [] and record.histogram_history == {}
    assert record.compact_histograms == {} and len(record.batch_points) == 0


def test_summary_and_metrics_are_derived_from_the_record(trained_folder):
    import csv

    from spectral_core.runs import SUMMARY_FILE

    outcome, folder = trained_folder
    record = outcome.record
    summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    results = json.loads(json.dumps(record_results(record)))
    assert {key: summary[key] for key in results} == pytest.approx(results, nan_ok=True)
    assert summary["max_abs_output_difference"] == record.report.max_abs_difference
    assert summary["config"] == record.config.to_dict() and summary["name"] == "demo"
    with open(folder / "metrics.csv", encoding="utf-8") as handle:
        epochs = [float(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [row["epoch"] for row in record.history]


def test_a_run_folder_from_before_run_spectral_still_reads_and_continues(
    trained_folder, tiny_npz, tmp_path
):
    """Folders written before the record was stored hold summary.json and metrics.csv only."""
    import shutil

    from spectral_core.continuation import continue_run
    from spectral_core.data import load_dataset
    from spectral_core.runs import RUN_RECORD_FILE, read_run_record

    outcome, folder = trained_folder
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / RUN_RECORD_FILE).unlink()
    summary = json.loads((old / "summary.json").read_text(encoding="utf-8"))
    summary["continued_from"] = None  # as the old writer wrote a fresh run's
    (old / "summary.json").write_text(json.dumps(summary), encoding="utf-8")

    record = read_run_record(old)
    assert (record.architecture, record.regime, record.config) == (
        TINY, "lambda", outcome.record.config,
    )
    assert [row["epoch"] for row in record.history] == [1.0, 2.0]
    assert record.test_accuracy == outcome.record.test_accuracy and record.weights is None

    config = TrainingConfig(epochs=1, batch_size=100, validation_fraction=0.0)
    again = continue_run(old, "lambda-phi", load_dataset(tiny_npz), config, out=tmp_path / "next")
    assert again.record.continued_from == str(old.resolve())
    assert [row["epoch"] for row in again.record.history] == [3]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "not a run folder (no run.spectral or summary.json)"),
        ({"summary.json": "{"}, "summary.json: unreadable"),
        ({"summary.json": '{"regime": "lambda"}'}, "summary.json: architecture: missing"),
        ({"run.spectral": "not a zip"}, "run.spectral"),
    ],
    ids=["empty", "bad json", "missing field", "bad record"],
)
def test_unreadable_run_folders_are_refused_by_name(tmp_path, files, message):
    from spectral_core.runs import RunFolderError, read_run_record

    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(RunFolderError) as caught:
        read_run_record(tmp_path)
    assert message in str(caught.value)


# -- sweeps -----------------------------------------------------------------------------------


def finished_record() -> RunRecord:
    """A record as a run leaves it, with numbers chosen by hand."""
    return RunRecord(
        name="r", architecture=TINY, regime="lambda",
        config=TrainingConfig(epochs=2, batch_size=100, seed=3), dataset="digits.npz",
        history=[{"epoch": 1.0, "accuracy": 0.5}, {"epoch": 2.0, "accuracy": 0.75, "loss": math.nan}],
        test_accuracy=0.8, test_loss=math.nan, ended="finished", seconds=1.5,
        report=RetractionReport(22, 10346, 7850, 0.8, 0.79, 1e-6, 2, 1),
    )


def test_a_sweep_row_is_derived_from_the_record():
    from spectral_core.data import Dataset
    from spectral_core.experiments import RunSpec, run_row, settings_tuple

    spec = RunSpec(TINY, "lambda", 3, settings_tuple({"epochs": 2, "batch_size": 100}), "wide", "12")
    dataset = Dataset("digits.npz[:200]", np.zeros((200, 784)), np.zeros(200), np.zeros((50, 784)), np.zeros(50))
    row = run_row(spec, finished_record(), dataset, 2.5, host="h", finished_at="t")
    assert row == {
        "run_id": spec.run_id, "family": "wide", "size": "12", "architecture": "tiny",
        "widths": "784-12-10", "hidden": 12, "regime": "lambda", "seed": 3,
        "settings": {"batch_size": 100, "epochs": 2},
        "dataset": "digits.npz[:200]", "train_images": 200, "test_images": 50,
        "trainable_parameters": 22, "total_parameters": 10346, "compact_parameters": 7850,
        "test_accuracy": 0.8, "test_accuracy_compact": 0.79, "test_loss": None,
        "train_accuracy": 0.75, "epochs_completed": 2, "diverged": False, "ended": "finished",
        "train_seconds": 1.5, "seconds": 2.5, "host": "h", "finished_at": "t",
    }
    assert sorted(row) == ROW_COLUMNS
    json.dumps(row, allow_nan=False)  # strict JSON: a log line


def test_a_sweep_run_executes_into_its_record_and_logs_its_row(tiny_npz, tmp_path):
    from spectral_core.experiments import (
        DataSource,
        RunLog,
        RunSpec,
        execute_run,
        load_source,
        plan_rows,
        run_grid,
        run_row,
        runs_csv,
        settings_tuple,
    )

    data = DataSource(str(tiny_npz), limit=200)
    spec = RunSpec(TINY, "lambda", 0, settings_tuple(FAST), "tiny", "12")
    result = execute_run(spec, data)
    record = result.record
    assert record.name == spec.run_id and record.dataset == str(tiny_npz)
    assert record.config.epochs == 2 and len(record.history) == 2
    assert record.eigen_history == []  # a sweep keeps results only (no plot data)
    row = result.row
    assert row == run_row(spec, record, load_source(data), row["seconds"], row["host"], row["finished_at"])
    assert (row["test_accuracy"], row["train_seconds"]) == (record.test_accuracy, record.seconds)
    assert row["test_accuracy_compact"] == record.report.accuracy_after
    assert sorted(row) == ROW_COLUMNS

    # The grid logs that row as its runs.jsonl line; runs.csv keeps its header.
    outcome = run_grid([spec], tmp_path, data, workers=0, quiet=True)
    (line,) = RunLog(tmp_path).path.read_text(encoding="utf-8").splitlines()
    logged = json.loads(line)
    assert sorted(logged) == ROW_COLUMNS and logged["run_id"] == spec.run_id
    assert outcome.records[spec.run_id] == logged
    for key in ("test_accuracy", "test_loss", "train_accuracy", "trainable_parameters"):
        assert logged[key] == pytest.approx(row[key], rel=1e-5, abs=1e-5), key
    assert runs_csv(plan_rows([spec], outcome.records)).splitlines()[0] == CSV_HEADER


def test_an_old_run_log_resumes_its_finished_runs_are_skipped(tiny_npz, tmp_path):
    """Lines written before runs executed into records (today's columns, and an older line
    with fewer) are read, kept as they are, and their runs are not trained again."""
    from spectral_core.experiments import (
        DataSource,
        RunLog,
        RunSpec,
        plan_rows,
        run_grid,
        runs_csv,
        settings_tuple,
    )

    specs = [
        RunSpec(TINY, regime, 0, settings_tuple(FAST), "tiny", "12")
        for regime in ("lambda", "direct-full", "lambda-phi")
    ]
    today = {column: None for column in ROW_COLUMNS} | {
        "run_id": specs[0].run_id, "family": "tiny", "size": "12", "architecture": "tiny",
        "widths": "784-12-10", "hidden": 12, "regime": "lambda", "seed": 0, "settings": FAST,
        "test_accuracy": 0.25, "trainable_parameters": 22, "train_images": 300, "test_images": 100,
        "dataset": "digits.npz", "diverged": False, "ended": "finished", "seconds": 1.0,
    }
    older = {
        "run_id": specs[1].run_id, "family": "tiny", "size": "12", "regime": "direct-full",
        "seed": 0, "settings": FAST, "test_accuracy": 0.5, "trainable_parameters": 9550,
    }
    log = RunLog(tmp_path)
    for line in (today, older):
        log.append(line)

    outcome = run_grid(specs, tmp_path, DataSource(str(tiny_npz)), workers=0, quiet=True)
    assert (outcome.ran, outcome.skipped, outcome.failures) == (1, 2, [])
    assert outcome.records[specs[0].run_id] == today and outcome.records[specs[1].run_id] == older
    assert sorted(outcome.records[specs[2].run_id]) == ROW_COLUMNS
    rows = runs_csv(plan_rows(specs, outcome.records)).splitlines()
    assert rows[0] == CSV_HEADER and len(rows) == 4
