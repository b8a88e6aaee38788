"""``spectral-lab prune-curve``: accuracy against the fraction of hidden nodes removed.

Loads a trained model (a run folder from ``spectral-lab train`` or a ``.keras`` file), or trains
one with ``--train ARCH``, then prunes it at each percentile with every applicable ranking and
writes ``prune_curve.csv`` and ``prune_curve.png`` to ``--out``. TensorFlow is imported only when
the command runs, so ``spectral-lab --help`` stays quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spectral_core.regimes import REGIMES

BASELINE_COLUMN = "direct-full-connectivity"


def parse_percentiles(text: str) -> list[float]:
    """``"0,10,20"`` or ``"0:100:5"`` (start:stop:step, stop excluded) into floats from 0 to 100."""
    from spectral_core.pruning import PruningError, check_percentile

    text = text.strip()
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0:
                raise PruningError(f"--percentiles: the step must be above 0, got {step:g}")
            values = []
            current = start
            while current < stop - 1e-9:
                values.append(round(current, 6))
                current += step
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        if isinstance(error, PruningError):
            raise
        raise PruningError(
            f"--percentiles: expected numbers like 0,10,20 or 0:100:5, got {text!r}"
        ) from None
    if not values:
        raise PruningError("--percentiles: give at least one percentile from 0 to 100")
    return [check_percentile(value) for value in values]


def load_source(source: str) -> tuple[Any, Any]:
    """(model, architecture) from a run folder (full.keras + its record) or a .keras file."""
    from spectral_core.cli import CommandError
    from spectral_core.export import load_model
    from spectral_core.pruning import architecture_of, check_architecture
    from spectral_core.runs import RUN_RECORD_FILE, SUMMARY_FILE, RunFolderError, read_run_record

    path = Path(source)
    if path.is_dir():
        model_file = path / "full.keras"
        if not model_file.is_file():
            raise CommandError(f"{path}: not a run folder (no full.keras in it)")
        model = load_model(model_file, compile=False)
        if (path / RUN_RECORD_FILE).is_file() or (path / SUMMARY_FILE).is_file():
            try:
                architecture = read_run_record(path).architecture
            except RunFolderError as error:
                raise CommandError(f"unreadable run record: {error}") from None
        else:
            architecture = architecture_of(model)
        check_architecture(model, architecture)
        return model, architecture
    if path.is_file():
        model = load_model(path, compile=False)
        return model, architecture_of(model)
    raise CommandError(f"{source}: no such run folder or .keras file")


def cmd_prune_curve(args: argparse.Namespace) -> int:
    """``spectral-lab prune-curve``: write prune_curve.csv and .png for a run or model."""
    from spectral_core.cli import CommandError, config_from_args, load_architecture
    from spectral_core.data import load_dataset
    from spectral_core.pruning import plot_curve, prune_curve

    if (args.source is None) == (args.train is None):
        raise CommandError("give either a run folder / .keras file, or --train ARCH, not both")
    if args.train_baseline and args.baseline:
        raise CommandError("give either --baseline or --train-baseline, not both")
    percentiles = parse_percentiles(args.percentiles)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.dataset)
    if args.limit:
        dataset = dataset.subset(args.limit, min(len(dataset.y_test), max(args.limit // 5, 1)))
    if args.test_limit:
        dataset = dataset.subset(len(dataset.y_train), args.test_limit)

    baselines: dict[str, Any] = {}
    if args.train is not None:
        from spectral_core.progress import TqdmProgress
        from spectral_core.runs import run_training

        architecture = load_architecture(args.train)
        config = config_from_args(args)
        with TqdmProgress(disable=args.quiet) as progress:
            outcome = run_training(
                architecture, args.regime, dataset, config, out=out / "run", observers=[progress]
            )
        print(f"trained {args.regime}: test accuracy {outcome.record.test_accuracy:.4f} "
              f"(run folder {out / 'run'})")
        model = outcome.model
        if args.train_baseline:
            with TqdmProgress(disable=args.quiet) as progress:
                baseline = run_training(
                    architecture, "direct-full", dataset, config, out=out / "baseline_run",
                    observers=[progress],
                )
            print(f"trained direct-full baseline: test accuracy "
                  f"{baseline.record.test_accuracy:.4f} (run folder {out / 'baseline_run'})")
            baselines[BASELINE_COLUMN] = (baseline.model, architecture, "connectivity")
    else:
        if args.train_baseline:
            raise CommandError("--train-baseline needs --train ARCH; use --baseline RUN_DIR")
        model, architecture = load_source(args.source)
    if args.baseline:
        baseline_model, baseline_architecture = load_source(args.baseline)
        baselines[BASELINE_COLUMN] = (baseline_model, baseline_architecture, "connectivity")
    if dataset.features != architecture.input_units:
        raise CommandError(
            f"--dataset: images have {dataset.features} values but the network takes "
            f"{architecture.input_units}"
        )
    rankings = None if args.rankings == "all" else [name.strip() for name in args.rankings.split(",")]
    curve = prune_curve(
        model, architecture, dataset.x_test, dataset.y_test, percentiles,
        rankings=rankings, scope=args.scope, baselines=baselines,
    )
    from spectral_core.files import atomic_write_text

    atomic_write_text(out / "prune_curve.csv", curve.to_csv())
    title = f"{architecture.name}: {dataset.name}, {len(dataset.y_test)} test images"
    plot_curve(curve, out / "prune_curve.png", title=title)
    print(curve.to_csv(), end="")
    print(f"wrote {out / 'prune_curve.csv'} and {out / 'prune_curve.png'}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register the ``prune-curve`` subcommand."""
    from spectral_core.cli import add_training_options

    parser = subparsers.add_parser(
        "prune-curve",
        help="accuracy against the fraction of hidden nodes pruned, per ranking (CSV + PNG)",
        description=(
            "Prune a trained network's hidden nodes at several percentiles, ranking nodes by "
            "|λ_out| (eigenvalue), by |λ_in − λ_out| (eigenvalue-gain) and by summed absolute "
            "incoming weights (connectivity), and measure test accuracy of each smaller network."
        ),
    )
    parser.add_argument(
        "source", nargs="?", help="run folder from `spectral-lab train`, or a .keras model file"
    )
    parser.add_argument("--train", metavar="ARCH", help="train this architecture (file or preset) first")
    parser.add_argument("--regime", choices=REGIMES, default="lambda", help="regime for --train")
    parser.add_argument(
        "--dataset", default="mnist", help="mnist, fashion-mnist, an .npz file or an IDX folder"
    )
    parser.add_argument("--out", required=True, help="folder for prune_curve.csv and .png")
    parser.add_argument("--scope", choices=("global", "per-layer"), default="global")
    parser.add_argument(
        "--percentiles", default="0:100:5",
        help="percentiles of nodes to prune: 0,10,20 or start:stop:step (default 0:100:5)",
    )
    parser.add_argument(
        "--rankings", default="all",
        help="comma list of eigenvalue, eigenvalue-gain, connectivity (default: all that apply)",
    )
    parser.add_argument("--baseline", metavar="RUN_OR_MODEL",
                        help="also plot a direct model of the same widths, ranked by connectivity")
    parser.add_argument("--train-baseline", action="store_true",
                        help="with --train: also train direct-full with the same settings")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="measure on the first N test images only")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_training_options(parser)
    parser.set_defaults(func=cmd_prune_curve)
