"""`spectral-lab train` end to end: the run folder, TensorBoard logs, and bad inputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spectral_core.cli import main
from spectral_core.export import load_model

SMALL_NET = {
    "name": "small non-linear",
    "input_units": 784,
    "layers": [
        {"units": 24, "activation": "linear", "telescopic": True},
        {"units": 12, "activation": "relu"},
        {"units": 10, "activation": "softmax"},
    ],
    "train_input_eigenvalues": False,
}


@pytest.fixture(scope="module")
def small_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("arch") / "small.json"
    path.write_text(json.dumps(SMALL_NET))
    return path


@pytest.fixture(scope="module")
def finished_run(small_net: Path, tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("run")
    out, logs = folder / "demo", folder / "tensorboard"
    argv = [
        "train",
        str(small_net),
        "--regime",
        "lambda",
        "--dataset",
        str(tiny_npz),
        "--epochs",
        "2",
        "--seed",
        "0",
        "--out",
        str(out),
        "--tensorboard",
        str(logs),
        "--quiet",
    ]
    status = main(argv)
    return status, out, logs


def test_train_writes_the_run_folder(finished_run, capsys):
    status, out, _ = finished_run
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "compact.keras",
        "full.keras",
        "metrics.csv",
        "run.spectral",
        "summary.json",
    ]
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    for row in rows:
        assert all(np.isfinite(float(row[key])) for key in row)


def test_summary_has_counts_accuracies_and_provenance(finished_run, tiny_npz: Path):
    _, out, _ = finished_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["regime"] == "lambda"
    assert summary["trainable_parameters"] == 24 + 12 + 10
    assert summary["total_parameters"] == (784 * 24 + 784 + 24) + (24 * 12 + 24 + 12) + (
        12 * 10 + 12 + 10
    )
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert 0.0 <= summary["test_accuracy_compact"] <= 1.0
    assert summary["max_abs_output_difference"] < 1e-4
    assert summary["seed"] == 0
    assert summary["dataset"] == tiny_npz.name
    assert summary["epochs_completed"] == 2 and summary["diverged"] is False
    assert {"python", "numpy", "tensorflow", "keras"} <= set(summary["versions"])


def test_run_folder_models_load_and_agree(finished_run, tiny_npz: Path):
    _, out, _ = finished_run
    full, compact = load_model(out / "full.keras"), load_model(out / "compact.keras")
    assert [type(layer).__name__ for layer in compact.layers[1:]] == ["Dense", "Dense"]
    with np.load(tiny_npz) as data:
        x = data["x_test"].reshape(-1, 784).astype("float32") / 255
    difference = np.abs(full.predict(x, verbose=0) - compact.predict(x, verbose=0))
    assert difference.max() < 1e-4


def test_tensorboard_logs_hold_scalars_and_histograms(finished_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, logs = finished_run
    assert list((logs / "train").glob("events.out.tfevents.*"))
    train = EventAccumulator(str(logs / "train"), size_guidance={"tensors": 0})
    train.Reload()
    tags = set(train.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy"} <= tags
    assert [event.step for event in train.Tensors("epoch_loss")] == [0, 1]
    histograms = [tag for tag in tags if "histogram" in tag]
    assert any("eigvals_out" in tag for tag in histograms), sorted(tags)
    validation = EventAccumulator(str(logs / "validation"))
    validation.Reload()
    assert "epoch_loss" in validation.Tags()["tensors"]


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["--epochs", "0"], "epochs: must be an integer from 1 to 10000, got 0"),
        (["--batch-size", "-4"], "batch_size: must be an integer"),
        (["--learning-rate", "50"], "learning_rate: must be above 0 and at most 10"),
        (["--validation-fraction", "1.5"], "validation_fraction"),
    ],
)
def test_bad_training_options_exit_2(argv_tail, message, small_net, tiny_npz, tmp_path, capsys):
    argv = ["train", str(small_net), "--dataset", str(tiny_npz), "--out", str(tmp_path / "o")]
    assert main([*argv, *argv_tail]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs' (choose from 'adamax'"),
        (["--initialization", "he"], "argument --initialization: invalid choice: 'he'"),
    ],
)
def test_unknown_names_are_refused_by_the_parser(argv_tail, message, small_net, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", str(small_net), "--out", str(tmp_path / "o"), *argv_tail])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "o").exists()


def test_bad_files_exit_2_naming_them(small_net, tiny_npz, tmp_path, capsys):
    notes = tmp_path / "notes.npz"
    notes.write_text("not data")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    narrow = tmp_path / "narrow.json"
    narrow.write_text(json.dumps({**SMALL_NET, "input_units": 64}))
    cases = [
        ([str(tmp_path / "absent.json"), "--dataset", str(tiny_npz)], "absent.json"),
        ([str(small_net), "--dataset", str(notes)], "notes.npz: not an .npz archive"),
        ([str(narrow), "--dataset", str(tiny_npz)], "784 values but the network's input layer"),
    ]
    for head, message in cases:
        assert main(["train", *head, "--out", str(tmp_path / "o"), "-q"]) == 2
        error = capsys.readouterr().err
        assert message in error and "Traceback" not in error, error
    argv = ["train", str(small_net), "--dataset", str(tiny_npz), "--out", str(blocker / "run")]
    assert main([*argv, "-q"]) == 2
    error = capsys.readouterr().err
    assert "file" in error and "Traceback" not in error


def test_unknown_regime_is_an_argparse_error(small_net, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["train", str(small_net), "--regime", "spectral", "--out", "x"])
    assert stopped.value.code == 2
    assert "invalid choice: 'spectral'" in capsys.readouterr().err


def test_real_process_reports_a_bad_dataset_without_traceback(small_net, tmp_path):
    notes = tmp_path / "notes.npz"
    notes.write_text("not data")
    script = Path(sys.executable).with_name("spectral-lab")
    done = subprocess.run(
        [str(script), "train", str(small_net), "--dataset", str(notes), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "spectral-lab train: error:" in done.stderr and "notes.npz" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_same_seed_in_a_fresh_process_gives_the_same_run(
    finished_run, small_net, tiny_npz, tmp_path
):
    """Reproducible across processes too (hash seeds, thread pools and import order differ)."""
    _, first, _ = finished_run
    script = Path(sys.executable).with_name("spectral-lab")
    argv = ["train", str(small_net), "--regime", "lambda", "--dataset", str(tiny_npz)]
    argv += ["--epochs", "2", "--seed", "0", "--out", str(tmp_path / "again"), "--quiet"]
    done = subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    def without_seconds(folder: Path) -> list[dict[str, str]]:
        with (folder / "metrics.csv").open() as handle:
            return [
                {k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)
            ]

    assert without_seconds(tmp_path / "again") == without_seconds(first)
    summaries = [
        json.loads((folder / "summary.json").read_text()) for folder in (first, tmp_path / "again")
    ]
    for key in ("test_accuracy", "test_loss", "test_accuracy_compact", "max_abs_output_difference"):
        assert summaries[0][key] == summaries[1][key], key
    weights = [
        load_model(folder / "compact.keras").get_weights() for folder in (first, tmp_path / "again")
    ]
    for mine, theirs in zip(*weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)
