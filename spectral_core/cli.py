"""The ``spectral-lab`` command: everything the GUI does, headless.

Subcommands live in their own modules and register here through :data:`SUBCOMMANDS`; each
module exposes ``add_parser(subparsers)`` setting ``func`` on its parser.
TensorFlow is imported only by commands that need it, so ``--help`` and ``params`` stay quick.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from spectral_core.architecture import Architecture, ArchitectureError
from spectral_core.regimes import REGIMES, parameter_counts

# Modules that add subcommands (module path, attribute).
SUBCOMMANDS: list[str] = [
    "spectral_core.experiments", "spectral_core.prune_cli", "spectral_core.sweep", "spectral_core.bench",
    "spectral_core.search",
]


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def load_architecture(path: str) -> Architecture:
    from resources import PRESETS

    candidate = Path(path)
    if not candidate.exists() and (PRESETS / f"{path}.json").exists():
        candidate = PRESETS / f"{path}.json"
    return Architecture.load(candidate)


def cmd_params(args: argparse.Namespace) -> int:
    architecture = load_architecture(args.architecture)
    regimes = REGIMES if args.regime == "all" else (args.regime,)
    for regime in regimes:
        counts = parameter_counts(architecture, regime)
        if args.regime == "all" or args.verbose:
            print(f"{regime}\t{counts.trainable}\t{counts.total}")
        else:
            print(counts.trainable)
    return 0


def add_training_options(parser: argparse.ArgumentParser) -> None:
    from spectral_core.config import TrainingConfig

    defaults = TrainingConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="default: 0.03 linear, 0.01 non-linear"
    )
    parser.add_argument("--optimizer", default=defaults.optimizer)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction)
    parser.add_argument(
        "--eigenvalue-penalty", choices=("none", "l1", "l2"), default="none",
        help="regularize the trained eigenvalues (sharpens node importance for pruning)",
    )
    parser.add_argument("--eigenvalue-penalty-weight", type=float, default=0.0)
    parser.add_argument("--jit-compile", action="store_true", help="compile steps with XLA")
    parser.add_argument(
        "--initialization", default=defaults.initialization,
        help="paper (φ ~ U(−0.5, 0.5)) or glorot (φ Glorot-uniform); see docs/REPRODUCTION.md",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use only the first N training images (quick runs)"
    )


def config_from_args(args: argparse.Namespace):
    from spectral_core.config import TrainingConfig

    return TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        optimizer=args.optimizer,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        eigenvalue_penalty=args.eigenvalue_penalty,
        eigenvalue_penalty_weight=args.eigenvalue_penalty_weight,
        jit_compile=args.jit_compile,
        initialization=args.initialization,
    ).validate()


def cmd_train(args: argparse.Namespace) -> int:
    architecture = load_architecture(args.architecture)
    from spectral_core.data import load_dataset

    config = config_from_args(args)
    dataset = load_dataset(args.dataset)
    if args.limit:
        dataset = dataset.subset(args.limit, min(len(dataset.y_test), max(args.limit // 5, 1)))
    # Imported only now: they load TensorFlow (seconds), so bad inputs above fail fast.
    from spectral_core.progress import TqdmProgress
    from spectral_core.runs import run_training

    callbacks = []
    if args.tensorboard:
        import keras

        callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard, histogram_freq=1))
    with TqdmProgress(disable=args.quiet) as progress:
        outcome = run_training(
            architecture, args.regime, dataset, config, out=args.out,
            observers=[progress], callbacks=callbacks,
        )
    summary = outcome.summary
    print(
        f"{args.regime}: test accuracy {summary['test_accuracy']:.4f} "
        f"(compact {summary['test_accuracy_compact']:.4f}, max |Δ| "
        f"{summary['max_abs_output_difference']:.2e}); {outcome.result.message}"
    )
    print(f"wrote {args.out}/metrics.csv, full.keras, compact.keras, summary.json")
    return 1 if outcome.result.diverged else 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app.main import main as gui_main

    return gui_main(args.files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectral-lab",
        description="Train neural networks in the spectral domain (Giambagli et al. 2021).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="launch the desktop app (the default)")
    gui.add_argument("files", nargs="*", help="a session or architecture file to open")
    gui.set_defaults(func=cmd_gui)

    params = sub.add_parser("params", help="print the trainable parameter count")
    params.add_argument("architecture", help="architecture JSON file or preset name")
    params.add_argument("--regime", choices=(*REGIMES, "all"), default="lambda")
    params.add_argument("-v", "--verbose", action="store_true", help="also print the total")
    params.set_defaults(func=cmd_params)

    train = sub.add_parser("train", help="train one network and write a run folder")
    train.add_argument("architecture", help="architecture JSON file or preset name")
    train.add_argument("--regime", choices=REGIMES, default="lambda")
    train.add_argument(
        "--dataset", default="mnist", help="mnist, fashion-mnist, an .npz file or an IDX folder"
    )
    train.add_argument("--out", required=True, help="run folder to write")
    train.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard logs")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_training_options(train)
    train.set_defaults(func=cmd_train)

    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    try:
        return int(args.func(args) or 0)
    except (ArchitectureError, CommandError, ValueError, OSError) as error:
        print(f"spectral-lab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def dump_json(data: object) -> str:
    return json.dumps(data, indent=2)


if __name__ == "__main__":
    sys.exit(main())
