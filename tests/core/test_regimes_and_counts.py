"""Trainable parameter counts per regime: the paper's numbers, from the formula and the model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import pytest

from resources import PRESETS, preset_paths
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model, count_trainable
from spectral_core.layers import MaskedDense, SpectralDense
from spectral_core.regimes import REGIMES, RegimeError, parameter_counts

PERCEPTRON = Architecture.load(PRESETS / "perceptron.json")
WIDE = Architecture.load(PRESETS / "wide_linear.json")
NONLINEAR = Architecture.load(PRESETS / "nonlinear.json")


def model_total(model: keras.Model) -> int:
    """Numbers the model's function depends on (MaskedDense's trainable copies not twice)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, MaskedDense):
            total += int(layer.frozen_kernel.shape[0] * layer.frozen_kernel.shape[1])
        else:
            total += layer.count_params()
    return total


@pytest.mark.parametrize(
    ("regime", "trainable"),
    [("lambda", 794), ("lambda-phi", 8634), ("direct-subset", 794), ("direct-full", 7850)],
)
def test_perceptron_counts_match_the_paper(regime, trainable):
    assert PERCEPTRON.train_input_eigenvalues
    counts = parameter_counts(PERCEPTRON, regime)
    assert counts.trainable == trainable
    model = build_model(PERCEPTRON, regime, compile=False)
    assert count_trainable(model) == trainable
    assert model_total(model) == counts.total


@pytest.mark.parametrize("hidden", [800, 37])
def test_wide_linear_lambda_trains_n2_plus_10(hidden):
    architecture = Architecture(
        "wide", 784, (LayerSpec(hidden, "linear", True), LayerSpec(10, "softmax"))
    )
    if hidden == 800:
        assert architecture.layers == WIDE.layers
    assert parameter_counts(architecture, "lambda").trainable == hidden + 10
    assert count_trainable(build_model(architecture, "lambda", compile=False)) == hidden + 10


def test_nonlinear_lambda_trains_n2_plus_120_plus_10():
    n2 = NONLINEAR.layers[0].units
    expected = n2 + 120 + 10
    assert parameter_counts(NONLINEAR, "lambda").trainable == expected
    model = build_model(NONLINEAR, "lambda", compile=False)
    assert count_trainable(model) == expected
    assert model_total(model) == parameter_counts(NONLINEAR, "lambda").total


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
@pytest.mark.parametrize("regime", REGIMES)
def test_every_preset_and_regime_formula_equals_the_built_model(path, regime):
    architecture = Architecture.load(path)
    # Narrow the layers so 24 builds stay quick; the counting rules do not depend on width.
    narrow = Architecture(
        architecture.name,
        architecture.input_units,
        tuple(
            LayerSpec(min(layer.units, 23), layer.activation, layer.telescopic)
            for layer in architecture.layers
        ),
        architecture.train_input_eigenvalues,
    )
    counts = parameter_counts(narrow, regime)
    model = build_model(narrow, regime, compile=False)
    assert count_trainable(model) == counts.trainable
    assert model_total(model) == counts.total
    kinds = {type(layer) for layer in model.layers[1:]}
    expected_kind = {
        "lambda": SpectralDense,
        "lambda-phi": SpectralDense,
        "direct-subset": MaskedDense,
        "direct-full": keras.layers.Dense,
    }[regime]
    assert kinds == {expected_kind}


def test_unknown_regime_is_refused_with_the_allowed_names():
    with pytest.raises(RegimeError, match="regime: must be one of lambda, lambda-phi"):
        parameter_counts(PERCEPTRON, "spectral")


def test_cli_params_prints_794_for_the_perceptron(repo_root: Path):
    script = Path(sys.executable).with_name("spectral-lab")
    done = subprocess.run(
        [str(script), "params", "resources/presets/perceptron.json", "--regime", "lambda"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "794"


def test_cli_params_all_regimes(capsys):
    from spectral_core.cli import main

    assert main(["params", "perceptron", "--regime", "all"]) == 0
    lines = capsys.readouterr().out.split("\n")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines if line}
    assert rows == {
        "lambda": ["794", "8634"],
        "lambda-phi": ["8634", "8634"],
        "direct-subset": ["794", "7840"],
        "direct-full": ["7850", "7850"],
    }
