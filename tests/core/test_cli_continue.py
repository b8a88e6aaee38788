"""`spectral-lab train --from RUN_DIR`: continue a run in the same regime or another."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from spectral_core.cli import main
from spectral_core.export import load_model
from spectral_core.runs import read_run_record
from spectral_core.training import predict

SMALL_NET = {
    "name": "small non-linear",
    "input_units": 784,
    "layers": [
        {"units": 24, "activation": "linear", "telescopic": True},
        {"units": 12, "activation": "relu"},
        {"units": 10, "activation": "softmax"},
    ],
}


@pytest.fixture(scope="module")
def lambda_run(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("continue")
    spec = folder / "small.json"
    spec.write_text(json.dumps(SMALL_NET))
    out = folder / "lambda"
    argv = ["train", str(spec), "--regime", "lambda", "--dataset", str(tiny_npz),
            "--epochs", "2", "--batch-size", "50", "--out", str(out), "-q"]
    assert main(argv) == 0
    return out


def epochs_of(folder: Path) -> list[int]:
    with open(folder / "metrics.csv", encoding="utf-8") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("regime", ["lambda-phi", "direct-full"])
def test_a_lambda_run_continues_in_another_regime(lambda_run, tiny_npz, tmp_path, regime):
    out = tmp_path / regime
    argv = ["train", "--from", str(lambda_run), "--regime", regime, "--dataset", str(tiny_npz),
            "--epochs", "2", "--batch-size", "50", "--out", str(out), "-q"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    before = json.loads((lambda_run / "summary.json").read_text())
    assert summary["regime"] == regime and summary["epochs_completed"] == 2
    assert summary["continued_from"] == str(lambda_run.resolve())
    record = read_run_record(out)
    assert record.continued_from == str(lambda_run.resolve()) and record.regime == regime
    assert [row["epoch"] for row in record.history] == [3, 4]
    assert record.eigen_history[0][0] == "start (after epoch 2)"
    assert epochs_of(out) == [3, 4]  # the plots join the epochs
    # The continuation trained what was asked: φ moves under lambda-phi, Dense under direct-full.
    full = load_model(out / "full.keras")
    if regime == "lambda-phi":
        assert all(layer.phi.trainable for layer in full.layers[1:])
    else:
        assert [type(layer).__name__ for layer in full.layers[1:]] == ["Dense"] * 3
    assert summary["trainable_parameters"] > before["trainable_parameters"]


def test_a_continuation_continues_and_keeps_counting(lambda_run, tiny_npz, tmp_path):
    first, second = tmp_path / "again", tmp_path / "again2"
    common = ["--dataset", str(tiny_npz), "--epochs", "1", "--batch-size", "50", "-q"]
    assert main(["train", "--from", str(lambda_run), "--regime", "lambda",
                 "--out", str(first), *common]) == 0
    assert main(["train", "--from", str(first), "--regime", "lambda",
                 "--out", str(second), *common]) == 0
    assert epochs_of(first) == [3] and epochs_of(second) == [4]
    # Zero epochs of change would give the same function: check the start is the old end by
    # continuing with a learning rate too small to move float32 weights measurably.
    x = np.random.default_rng(0).random((20, 784)).astype("float32")
    third = tmp_path / "still"
    assert main(["train", "--from", str(first), "--regime", "lambda", "--out", str(third),
                 "--learning-rate", "1e-12", *common]) == 0
    np.testing.assert_allclose(
        predict(load_model(third / "full.keras"), x), predict(load_model(first / "full.keras"), x),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "{missing}", "--regime", "lambda"], "not a run folder (no run.spectral or summary.json)"),
        (["--from", "{run}", "--regime", "direct-subset"],
         "--regime: a lambda run continues as lambda, lambda-phi, direct-full"),
        (["{spec}", "--from", "{run}"], "give an architecture or --from RUN_DIR, not both"),
        ([], "give an architecture (JSON file or preset name) or --from RUN_DIR"),
    ],
    ids=["no run folder", "regime not reachable", "both", "neither"],
)
def test_bad_continuations_are_refused_by_name(
    lambda_run, tiny_npz, tmp_path, capsys, extra, message
):
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps(SMALL_NET))
    names = {"missing": str(tmp_path / "nothing"), "run": str(lambda_run), "spec": str(spec)}
    argv = ["train", *[part.format(**names) for part in extra], "--dataset", str(tiny_npz),
            "--epochs", "1", "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.json").exists()
