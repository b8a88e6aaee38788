"""The ``spectral-lab`` command: everything the GUI does, headless.

Subcommands live in their own modules and register here through :data:`SUBCOMMANDS`; each
module exposes ``add_parser(subparsers)`` setting ``func`` on its parser.
TensorFlow is imported only by commands that need it, so ``--help`` and ``params`` stay quick,
and without its start-up noise (:func:`spectral_core.devices.quiet_tensorflow_start`).
Shell completion: ``spectral-lab --print-completion bash`` (or zsh, tcsh), made by shtab.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import shtab

from spectral_core import __version__
from spectral_core.architecture import Architecture, load_preset, preset_names
from spectral_core.config import INITIALIZATION_NAMES, OPTIMIZER_NAMES
from spectral_core.errors import SpectralLabError
from spectral_core.regimes import REGIMES, parameter_counts

# Modules that add subcommands (module path, attribute).
SUBCOMMANDS: list[str] = [
    "spectral_core.experiments", "spectral_core.prune_cli", "spectral_core.sweep",
    "spectral_core.search",
]


class CommandError(SpectralLabError):
    """A user-facing error: printed without a traceback, exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless it is None or False, or the help already says it)
    and keeps descriptions' line breaks (the sweep file example)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if (
            "%(default)" in help_text
            or "default" in help_text.lower()
            or action.default is None
            or action.default is False
            or action.default == []
            or action.default == argparse.SUPPRESS
            or not action.option_strings
        ):
            return help_text
        return f"{help_text} (default: %(default)s)".strip()

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._get_help_string(action):
            action = argparse.Namespace(**vars(action))  # type: ignore[assignment]
            action.help = self._get_help_string(action)
        return super()._format_action(action)


# Why the GUI cannot start, and what to do (Qt would abort with exit status 134 instead).
NO_DISPLAY_MESSAGE = (
    "no display: DISPLAY and WAYLAND_DISPLAY are unset. Run it in a desktop session, under "
    "`xvfb-run -a spectral-lab gui`, or with QT_QPA_PLATFORM=offscreen (no window shown); "
    "the headless commands (train, sweep, reproduce, prune-curve) need no display"
)


def display_available(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt can open a window: always off Linux; on Linux, an X11 or Wayland display or
    an explicit ``QT_QPA_PLATFORM`` (offscreen, vnc, eglfs…)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def load_architecture(path: str) -> Architecture:
    """An architecture from a JSON file, or a preset by name (``perceptron``, ``wide_linear``…)."""
    if not Path(path).exists() and path in preset_names():
        return load_preset(path)
    return Architecture.load(path)


def cmd_params(args: argparse.Namespace) -> int:
    """``spectral-lab params``: print the trainable (and total) parameter count per regime."""
    architecture = load_architecture(args.architecture)
    regimes = REGIMES if args.regime == "all" else (args.regime,)
    for regime in regimes:
        counts = parameter_counts(architecture, regime)
        if args.regime == "all" or args.verbose:
            print(f"{regime}\t{counts.trainable}\t{counts.total}")
        else:
            print(counts.trainable)
    return 0


# TrainingConfig fields the training options set (the rest come from --config or defaults).
SETTING_OPTIONS = (
    "epochs", "batch_size", "learning_rate", "optimizer", "seed", "validation_fraction",
    "eigenvalue_penalty", "eigenvalue_penalty_weight", "jit_compile", "initialization",
)


class _Given(argparse._StoreAction):
    """Stores the value and notes that the option was given, so it overrides ``--config``."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        super().__call__(parser, namespace, values, option_string)
        namespace.given_settings = {*getattr(namespace, "given_settings", ()), self.dest}


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The training settings every training command takes (``TrainingConfig`` fields)."""
    from spectral_core.config import TrainingConfig

    defaults = TrainingConfig()
    parser.add_argument(
        "--config", metavar="FILE",
        help="JSON file of training settings (format: docs/schemas/training-config.schema.json); "
        "the options below, when given, override it",
    ).complete = shtab.FILE  # type: ignore[attr-defined]
    add = functools.partial(parser.add_argument, action=_Given)
    add("--epochs", type=int, default=defaults.epochs, help="passes over the data")
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--learning-rate", type=float, default=None, help="default: 0.03 linear, 0.01 non-linear")
    add("--optimizer", choices=OPTIMIZER_NAMES, default=defaults.optimizer)
    add("--seed", type=int, default=defaults.seed)
    add(
        "--validation-fraction", type=float, default=defaults.validation_fraction,
        help="share of the training images held out for validation",
    )
    add(
        "--eigenvalue-penalty", choices=("none", "l1", "l2"), default=defaults.eigenvalue_penalty,
        help="regularize the trained eigenvalues (sharpens node importance for pruning)",
    )
    add("--eigenvalue-penalty-weight", type=float, default=defaults.eigenvalue_penalty_weight)
    add(
        "--jit-compile", nargs="?", const="on", default="auto", choices=("auto", "on", "off"),
        help="compile steps with XLA (auto: for direct-subset when its first layer's frozen "
        "projection is cached, where XLA halves an epoch's CPU time)",
    )
    add(
        "--initialization", choices=INITIALIZATION_NAMES, default=defaults.initialization,
        help="initial φ and eigenvalues; the schemes are described in docs/REPRODUCTION.md",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use only the first N training images (quick runs)"
    )


def config_from_args(args: argparse.Namespace):
    """The validated ``TrainingConfig`` of ``--config FILE`` (if given) and the options given,
    which take precedence over the file."""
    from spectral_core.config import TrainingConfig

    settings = {name: getattr(args, name) for name in SETTING_OPTIONS}
    settings["jit_compile"] = {"on": True, "off": False}.get(args.jit_compile, "auto")
    if getattr(args, "config", None):
        given = getattr(args, "given_settings", set())
        from_file = TrainingConfig.load(args.config).to_dict()
        settings = {**from_file, **{key: settings[key] for key in given}}
    return TrainingConfig.from_dict(settings)


def cmd_train(args: argparse.Namespace) -> int:
    """``spectral-lab train``: one run, written to a run folder."""
    if args.from_run and args.architecture:
        raise CommandError("train: give an architecture or --from RUN_DIR, not both")
    if not args.from_run and not args.architecture:
        raise CommandError("train: give an architecture (JSON file or preset name) or --from RUN_DIR")
    architecture = load_architecture(args.architecture) if args.architecture else None
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
    observers: list[Any] = []
    if args.tensorboard:
        from spectral_core.tensorboard import TensorBoardObserver, run_hparams

        hparams = (
            run_hparams(architecture, args.regime, config) if architecture is not None
            else {"regime": args.regime, "continued_from": str(args.from_run), "seed": config.seed}
        )
        observers.append(TensorBoardObserver(args.tensorboard, hparams))
    with TqdmProgress(disable=args.quiet) as progress:
        if args.from_run:
            from spectral_core.continuation import continue_run

            outcome = continue_run(
                args.from_run, args.regime, dataset, config, out=args.out,
                observers=[progress, *observers], callbacks=callbacks,
            )
        else:
            outcome = run_training(
                architecture, args.regime, dataset, config, out=args.out,
                observers=[progress, *observers], callbacks=callbacks,
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
    """``spectral-lab gui``: the desktop app (refused, exit status 2, without a display)."""
    if not display_available():
        raise CommandError(NO_DISPLAY_MESSAGE)
    from app.main import main as gui_main

    return gui_main(args.files)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``spectral-lab`` command line, subcommands included."""
    parser = argparse.ArgumentParser(
        prog="spectral-lab",
        description="Train neural networks in the spectral domain (Giambagli et al. 2021).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    shtab.add_argument_to(parser, ["--print-completion"], help="print a shell completion script")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="launch the desktop app (the default)")
    gui.add_argument(
        "files", nargs="*", help="a session, an architecture file or a search's study folder to open"
    ).complete = shtab.FILE  # type: ignore[attr-defined]
    gui.set_defaults(func=cmd_gui)

    params = sub.add_parser("params", help="print the trainable parameter count")
    params.add_argument(
        "architecture", help="architecture JSON file or preset name"
    ).complete = shtab.FILE  # type: ignore[attr-defined]
    params.add_argument("--regime", choices=(*REGIMES, "all"), default="lambda")
    params.add_argument("-v", "--verbose", action="store_true", help="also print the total")
    params.set_defaults(func=cmd_params)

    train = sub.add_parser("train", help="train one network and write a run folder")
    train.add_argument(
        "architecture", nargs="?",
        help="architecture JSON file or preset name (not with --from: the run folder has it)",
    ).complete = shtab.FILE  # type: ignore[attr-defined]
    train.add_argument(
        "--from", dest="from_run", metavar="RUN_DIR",
        help="continue the run in this folder from its weights, in --regime (e.g. lambda → "
        "lambda-phi or direct-full), for --epochs more epochs",
    ).complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    train.add_argument("--regime", choices=REGIMES, default="lambda")
    train.add_argument(
        "--dataset", default="mnist", help="mnist, fashion-mnist, an .npz file or an IDX folder"
    ).complete = shtab.FILE  # type: ignore[attr-defined]
    train.add_argument(
        "--out", required=True, help="run folder to write"
    ).complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    train.add_argument(
        "--tensorboard", metavar="DIR",
        help="also write TensorBoard logs: metrics, the spectrum per layer, weight histograms, HParams",
    ).complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_training_options(train)
    train.set_defaults(func=cmd_train)

    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    for subparser in sub.choices.values():  # the subcommand modules' parsers too
        subparser.formatter_class = HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``spectral-lab`` with ``argv`` (default: the process's); return the exit status."""
    from spectral_core.devices import quiet_tensorflow_start

    quiet_tensorflow_start()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    try:
        return int(args.func(args) or 0)
    except (SpectralLabError, ValueError, OSError) as error:  # ValueError: Keras's own
        print(f"spectral-lab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
