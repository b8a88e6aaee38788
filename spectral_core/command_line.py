"""The ``spectral-lab train`` command that reproduces a run's settings headless.

The GUI's "Copy as command line" uses it; a test parses its output with the CLI's own parser,
so the two cannot drift apart.
"""

from __future__ import annotations

import shlex

from spectral_core.architecture import Architecture
from spectral_core.config import TrainingConfig
from spectral_core.regimes import check_regime

DEFAULT_OUT = "spectral-run"
ARCHITECTURE_FILE = "architecture.json"


def preset_name(architecture: Architecture) -> str | None:
    """The stem of the shipped preset equal to ``architecture``, or None."""
    from resources import preset_paths

    for path in preset_paths():
        try:
            if Architecture.load(path) == architecture:
                return path.stem
        except ValueError:
            continue
    return None


def train_arguments(
    architecture_source: str, regime: str, dataset: str, config: TrainingConfig, out: str = DEFAULT_OUT
) -> list[str]:
    """``spectral-lab train`` and its arguments (a list, unquoted) for these settings.

    Every setting that changes the result is written out, even at its default value, so the
    command keeps meaning the same run if a default changes later.
    """
    config = config.validate()
    arguments = [
        "spectral-lab", "train", architecture_source,
        "--regime", check_regime(regime),
        "--dataset", dataset,
        "--epochs", str(config.epochs),
        "--batch-size", str(config.batch_size),
    ]
    if config.learning_rate is not None:
        arguments += ["--learning-rate", repr(float(config.learning_rate))]
    arguments += [
        "--optimizer", config.optimizer,
        "--seed", str(config.seed),
        "--validation-fraction", repr(float(config.validation_fraction)),
        "--initialization", config.initialization,
    ]
    if config.eigenvalue_penalty != "none":
        arguments += [
            "--eigenvalue-penalty", config.eigenvalue_penalty,
            "--eigenvalue-penalty-weight", repr(float(config.eigenvalue_penalty_weight)),
        ]
    if config.jit_compile != "auto":
        arguments += ["--jit-compile", "on" if config.jit_compile else "off"]
    arguments += ["--out", out]
    return arguments


def train_command_line(
    architecture: Architecture, regime: str, dataset: str, config: TrainingConfig, out: str = DEFAULT_OUT
) -> str:
    """A shell snippet that trains ``architecture`` like the GUI would, headless.

    A shipped preset is named; any other stack is written to ``architecture.json`` by a
    here-document first, so the snippet is complete on its own.
    """
    preset = preset_name(architecture)
    source = preset if preset is not None else ARCHITECTURE_FILE
    command = shlex.join(train_arguments(source, regime, dataset, config, out))
    if preset is not None:
        return command
    return f"cat > {ARCHITECTURE_FILE} <<'EOF'\n{architecture.to_json().rstrip()}\nEOF\n{command}"
