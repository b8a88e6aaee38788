"""The spectral-lab train command written for a set of GUI settings parses back, with the CLI's own
parser, into the same architecture, regime, data set and training config."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from resources import preset_paths
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.cli import build_parser, config_from_args, load_architecture
from spectral_core.command_line import train_arguments, train_command_line
from spectral_core.config import ConfigError, TrainingConfig
from spectral_core.regimes import RegimeError

PERCEPTRON = Architecture.load(next(path for path in preset_paths() if path.stem == "perceptron"))
CUSTOM = Architecture("mine", 784, (LayerSpec(32, "linear", telescopic=True), LayerSpec(10, "softmax")))
CONFIGS = [
    TrainingConfig(),
    TrainingConfig(
        epochs=3, batch_size=64, learning_rate=0.0025, optimizer="adam", seed=9,
        validation_fraction=0.0, eigenvalue_penalty="l1", eigenvalue_penalty_weight=1e-4,
        initialization="paper", jit_compile=True,
    ),
]


def parsed(command: str):
    argv = shlex.split(command)
    assert argv[:2] == ["spectral-lab", "train"]
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("config", CONFIGS)
def test_a_preset_is_named_and_every_setting_parses_back(config: TrainingConfig) -> None:
    command = train_command_line(PERCEPTRON, "lambda-phi", "/data/my digits.npz", config)
    assert "\n" not in command
    args = parsed(command)
    assert load_architecture(args.architecture) == PERCEPTRON
    assert (args.regime, args.dataset, args.out) == ("lambda-phi", "/data/my digits.npz", "spectral-run")
    assert config_from_args(args) == config


def test_another_stack_comes_with_its_json_in_a_here_document(tmp_path: Path) -> None:
    snippet = train_command_line(CUSTOM, "direct-full", "mnist", CONFIGS[1], out="runs/one")
    lines = snippet.splitlines()
    assert lines[0] == "cat > architecture.json <<'EOF'"
    end = lines.index("EOF")
    assert Architecture.from_json("\n".join(lines[1:end])) == CUSTOM
    (command,) = lines[end + 1 :]
    args = parsed(command)
    assert args.architecture == "architecture.json" and args.out == "runs/one"
    assert config_from_args(args) == CONFIGS[1]


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        train_arguments("perceptron", "lambda", "mnist", TrainingConfig(epochs=0))
    with pytest.raises(RegimeError):
        train_arguments("perceptron", "nonsense", "mnist", TrainingConfig())
