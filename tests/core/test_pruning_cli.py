"""``spectral-lab prune-curve`` on tiny data, and the eigenvalue penalty it relies on."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spectral_core.architecture import Architecture, LayerSpec  # noqa: E402
from spectral_core.cli import main  # noqa: E402
from spectral_core.prune_cli import parse_percentiles  # noqa: E402
from spectral_core.pruning import PruningError  # noqa: E402

TINY = Architecture(
    "tiny",
    784,
    (LayerSpec(16, "linear", telescopic=True), LayerSpec(12, "tanh"), LayerSpec(10, "softmax")),
)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory, tiny_npz):
    out = tmp_path_factory.mktemp("prune") / "curve"
    arch_file = out.parent / "tiny.json"
    TINY.save(arch_file)
    status = main([
        "prune-curve", "--train", str(arch_file), "--dataset", str(tiny_npz), "--out", str(out),
        "--epochs", "2", "--percentiles", "0,50,90", "--train-baseline", "-q",
        "--eigenvalue-penalty", "l1", "--eigenvalue-penalty-weight", "0.001",
    ])
    assert status == 0
    return out


def test_train_route_writes_csv_png_and_run_folders(trained_folder):
    rows = read_rows(trained_folder / "prune_curve.csv")
    assert [row["percentile"] for row in rows] == ["0", "50", "90"]
    assert [int(row["nodes_removed"]) for row in rows] == [0, 14, 25]
    columns = {"accuracy_eigenvalue", "accuracy_eigenvalue-gain", "accuracy_connectivity",
               "accuracy_direct-full-connectivity"}
    assert columns <= set(rows[0])
    for column in columns:
        assert all(0 <= float(row[column]) <= 1 for row in rows)
    summary = json.loads((trained_folder / "run" / "summary.json").read_text())
    # The three spectral curves start from the same unpruned network.
    for column in columns - {"accuracy_direct-full-connectivity"}:
        assert float(rows[0][column]) == pytest.approx(summary["test_accuracy"], abs=1e-6)
    baseline = json.loads((trained_folder / "baseline_run" / "summary.json").read_text())
    assert baseline["regime"] == "direct-full"
    assert float(rows[0]["accuracy_direct-full-connectivity"]) == pytest.approx(
        baseline["test_accuracy"]
    )
    assert (trained_folder / "prune_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_run_folder_and_model_file_routes_reproduce_the_curve(trained_folder, tiny_npz, tmp_path):
    expected = read_rows(trained_folder / "prune_curve.csv")
    again = tmp_path / "again"
    assert main([
        "prune-curve", str(trained_folder / "run"), "--dataset", str(tiny_npz), "--out", str(again),
        "--percentiles", "0,50,90", "--baseline", str(trained_folder / "baseline_run"),
    ]) == 0
    assert read_rows(again / "prune_curve.csv") == expected

    from_file = tmp_path / "file"
    assert main([
        "prune-curve", str(trained_folder / "run" / "full.keras"), "--dataset", str(tiny_npz),
        "--out", str(from_file), "--percentiles", "0,50,90", "--scope", "per-layer",
        "--rankings", "connectivity",
    ]) == 0
    rows = read_rows(from_file / "prune_curve.csv")
    assert list(rows[0]) == ["percentile", "fraction_removed", "nodes_removed", "accuracy_connectivity"]
    assert [int(row["nodes_removed"]) for row in rows] == [0, 8 + 6, 14 + 10]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--percentiles", "0,abc"], "--percentiles: expected numbers"),
        (["--percentiles", "0,150"], "percentile: must be a number from 0 to 100"),
        (["--rankings", "magic"], "ranking: must be one of"),
        (["--scope", "per-layer", "--train", "tiny"], "not both"),
    ],
)
def test_bad_arguments_get_a_clear_error(arguments, message, trained_folder, tiny_npz, tmp_path, capsys):
    status = main([
        "prune-curve", str(trained_folder / "run"), "--dataset", str(tiny_npz),
        "--out", str(tmp_path / "x"), *arguments,
    ])
    assert status == 2
    assert message in capsys.readouterr().err


def test_missing_source_is_named(tiny_npz, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["prune-curve", str(missing), "--dataset", str(tiny_npz), "--out", str(tmp_path / "o")]) == 2
    assert f"{missing}: no such run folder or .keras file" in capsys.readouterr().err


def test_parse_percentiles_ranges_and_lists():
    assert parse_percentiles("0:100:25") == [0, 25, 50, 75]
    assert parse_percentiles("5, 10,97.5") == [5, 10, 97.5]
    with pytest.raises(PruningError, match="step must be above 0"):
        parse_percentiles("0:10:0")


# -- eigenvalue regularization (the training option that sharpens node importance) --------------
@pytest.fixture(scope="module")
def penalty_runs(small_digits):
    from spectral_core.config import TrainingConfig
    from spectral_core.runs import run_training

    architecture = Architecture("pen", 64, (LayerSpec(32, "tanh"), LayerSpec(10, "softmax")))
    runs = {}
    for penalty, weight in (("none", 0.0), ("l1", 0.01), ("l2", 0.05)):
        config = TrainingConfig(
            epochs=5, batch_size=100, validation_fraction=0,
            eigenvalue_penalty=penalty, eigenvalue_penalty_weight=weight,
        )
        runs[penalty] = (run_training(architecture, "lambda", small_digits, config), weight)
    return runs


def _eigvals(model) -> list[np.ndarray]:
    from spectral_core.layers import dense_layers

    return [layer.eigvals_out.numpy().astype(np.float64) for layer in dense_layers(model)]


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_penalty_term_is_part_of_the_loss(penalty_runs, penalty):
    outcome, weight = penalty_runs[penalty]
    eigvals = _eigvals(outcome.model)
    if penalty == "l1":
        expected = weight * sum(np.abs(e).sum() for e in eigvals)
    else:
        expected = weight * sum((e**2).sum() for e in eigvals)
    total = float(sum(keras.ops.convert_to_numpy(loss) for loss in outcome.model.losses))
    assert total == pytest.approx(expected, rel=1e-5)
    assert penalty_runs["none"][0].model.losses == []


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_penalty_shrinks_the_eigenvalues(penalty_runs, penalty):
    free = np.mean([np.abs(e).mean() for e in _eigvals(penalty_runs["none"][0].model)])
    shrunk = np.mean([np.abs(e).mean() for e in _eigvals(penalty_runs[penalty][0].model)])
    assert shrunk < 0.85 * free, (free, shrunk)
