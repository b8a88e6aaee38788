"""``spectral-lab search``: tune any training setting or layer size with Optuna.

A study file::

    {
      "dataset": "mnist",                     # or an .npz path / IDX folder (relative to the file)
      "limit": 10000, "test_limit": 2000,     # optional: first N training / test images
      "architectures": ["nonlinear"],          # presets, files or objects; several: searched too
      "regimes": ["lambda"],                   # several: searched too
      "seed": 0,                               # the training seed of every trial
      "settings": {"epochs": 10},              # fixed training settings (TrainingConfig fields)
      "space": {                               # what the sampler chooses
        "learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": true},
        "batch_size": {"type": "int", "low": 50, "high": 600, "step": 50},
        "initialization": {"type": "categorical", "choices": ["paper", "glorot"]},
        "layers[0].units": {"type": "int", "low": 100, "high": 1000, "log": true}
      },
      "pruner": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 1},
      "sampler": {"type": "tpe", "seed": 0},
      "first_trials": [{"learning_rate": 0.01, "initialization": "paper"}]
    }

The objective is the validation accuracy of the last epoch (never the test accuracy); a trial
reports it after every epoch, and the pruner (``median``, ``successive-halving`` or ``none``)
stops weak trials through :class:`~spectral_core.training.TrainingControl`. The study lives in
``DIR/study.db`` (Optuna's SQLite storage): a second run of the same command resumes it, and
``--trials N`` means N finished (complete or pruned) trials in all. After the search the best
trial is trained once more and evaluated once on the test set.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import io
import json
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spectral_core.architecture import MAX_UNITS, Architecture
from spectral_core.config import ConfigError, TrainingConfig
from spectral_core.errors import SpectralLabError
from spectral_core.experiments import (
    CSV_COLUMNS,
    DataSource,
    ExperimentError,
    InlineExecutor,
    RunSpec,
    add_executor_options,
    execute_run,
    folder_lock,
    load_source,
    make_executor,
    run_inline,
    run_row,
    settings_tuple,
)
from spectral_core.files import atomic_write_text, read_json_file
from spectral_core.sweep import SETTING_FIELDS, SweepError, parse_sweep

STUDY_NAME = "spectral-lab"
# Columns of a sweep's row that a trial leaves out: it never looks at the test set.
TRIAL_UNSEEN_COLUMNS = ("test_images", "test_accuracy", "test_accuracy_compact", "test_loss", "ended")
STUDY_DB = "study.db"
BEST_FILE = "best.json"
BEST_CONFIG = "best_config.json"
BEST_ARCHITECTURE = "best_architecture.json"
TRIALS_CSV = "trials.csv"
BEST_RUN = "best_run"
PLOTS = {
    "importances.png": "plot_param_importances",
    "history.png": "plot_optimization_history",
    "parallel_coordinate.png": "plot_parallel_coordinate",
}
TOP_LEVEL = (
    "dataset", "limit", "test_limit", "architectures", "regimes", "seed", "settings", "space",
    "pruner", "sampler", "first_trials",
)
PRUNERS: dict[str, dict[str, tuple[type, Any]]] = {
    # type → {argument: (python type, default)}; the arguments are Optuna's own; a step is an epoch
    "median": {"n_startup_trials": (int, 5), "n_warmup_steps": (int, 0), "interval_steps": (int, 1)},
    "successive-halving": {
        "min_resource": (int, 1), "reduction_factor": (int, 3), "min_early_stopping_rate": (int, 0),
    },
    "none": {},
}
SAMPLERS: dict[str, dict[str, tuple[type, Any]]] = {
    "tpe": {"seed": (int, 0), "n_startup_trials": (int, 10)},
    "random": {"seed": (int, 0)},
}
SPACE_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
}
LAYER_UNITS = re.compile(r"^layers\[(\d+)\]\.units$")
MAX_STUDY_BYTES = 1_000_000
TRIAL_COLUMNS = ("trial", "state", "val_accuracy", "pruned_at_epoch", "params", "error")


class StudyError(SpectralLabError):
    """A study file is invalid; ``path`` names the field (e.g. ``space.learning_rate.low``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True)
class Param:
    """One searched dimension: a training setting or ``layers[i].units``."""

    name: str
    kind: str  # float, int or categorical
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for an Optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this dimension can take (for ``first_trials``)."""
        if self.kind == "categorical":
            return any(value == choice and type(value) is type(choice) for choice in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        """The parameter as it is written in a study file."""
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        data = {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}
        if self.step is not None:
            data["step"] = self.step
        return data

    @property
    def layer(self) -> int | None:
        """The hidden layer index of a ``layers[i].units`` parameter, else None."""
        match = LAYER_UNITS.match(self.name)
        return int(match.group(1)) if match else None


@dataclass
class Study:
    """A validated study file: what to search over and how."""

    data: DataSource
    architectures: dict[str, Architecture]
    regimes: list[str]
    seed: int
    settings: dict[str, Any]
    space: dict[str, Param]
    pruner: dict[str, Any] = field(default_factory=lambda: {"type": "median"})
    sampler: dict[str, Any] = field(default_factory=lambda: {"type": "tpe"})
    first_trials: list[dict[str, Any]] = field(default_factory=list)

    def definition(self) -> dict[str, Any]:
        """What fixes the meaning of the trials: a resumed study must have the same."""
        return {
            **self.data.describe(),
            "architectures": {name: a.to_dict() for name, a in self.architectures.items()},
            "regimes": list(self.regimes),
            "seed": self.seed,
            "settings": dict(sorted(self.settings.items())),
            "space": {name: param.to_dict() for name, param in sorted(self.space.items())},
        }

    def sample(self, trial: Any) -> RunSpec:
        """The run a trial stands for, with every searched value drawn from ``trial``."""
        names = list(self.architectures)
        name = trial.suggest_categorical("architecture", names) if len(names) > 1 else names[0]
        regime = (
            trial.suggest_categorical("regime", list(self.regimes))
            if len(self.regimes) > 1 else self.regimes[0]
        )
        architecture = self.architectures[name]
        settings = dict(self.settings)
        layers = list(architecture.layers)
        for param in sorted(self.space.values(), key=lambda p: p.name):
            value = param.suggest(trial)
            if param.layer is None:
                settings[param.name] = value
            else:
                layers[param.layer] = replace(layers[param.layer], units=int(value))
        if layers != list(architecture.layers):
            widths = "-".join(str(w) for w in [architecture.input_units] + [la.units for la in layers])
            architecture = replace(architecture, layers=tuple(layers), name=f"{name} {widths}")
        return RunSpec(architecture, regime, self.seed, settings_tuple(settings), name, "")


# -- validation ------------------------------------------------------------------------------


def _integer(value: Any, path: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise StudyError(path, f"must be an integer of at least {low}, got {value!r}")
    return value


def _options(data: Any, path: str, kinds: dict[str, dict[str, tuple[type, Any]]], default: str) -> dict[str, Any]:
    """A pruner or sampler object: ``type`` among ``kinds`` and only that type's arguments."""
    if data is None:
        data = {"type": default}
    if not isinstance(data, dict):
        raise StudyError(path, f"must be an object with a type among {', '.join(kinds)}")
    kind = data.get("type", default)
    if kind not in kinds:
        raise StudyError(f"{path}.type", f"must be one of {', '.join(kinds)}, got {kind!r}")
    allowed = kinds[kind]
    chosen: dict[str, Any] = {"type": kind}
    for key, value in data.items():
        if key == "type":
            continue
        if key not in allowed:
            names = ", ".join(("type", *allowed))
            raise StudyError(f"{path}.{key}", f"unknown field for {kind}; allowed fields are {names}")
        chosen[key] = _integer(value, f"{path}.{key}", low=1 if key == "reduction_factor" else 0)
    for key, (_, fallback) in allowed.items():
        chosen.setdefault(key, fallback)
    if kind == "successive-halving" and chosen["reduction_factor"] < 2:
        raise StudyError(f"{path}.reduction_factor", "must be at least 2")
    return chosen


def _check_setting_value(name: str, value: Any, path: str) -> None:
    try:
        TrainingConfig.from_dict({name: value})
    except ConfigError as error:
        raise StudyError(path, str(error).split(": ", 1)[-1]) from None
    except TypeError:
        raise StudyError(path, f"has the wrong type: {value!r}") from None


def _setting_kind(name: str) -> str:
    """int, float or other: the kinds of space a TrainingConfig field accepts."""
    annotation = str(TrainingConfig.__dataclass_fields__[name].type)
    if annotation == "int":
        return "int"
    if annotation.startswith("float"):
        return "float"
    return "other"


def _number(value: Any, path: str, integer: bool) -> float | int:
    wanted = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        raise StudyError(path, f"must be {kind}, got {value!r}")
    return value


def _param(name: str, data: Any, path: str, architectures: dict[str, Architecture]) -> Param:
    if not isinstance(data, dict):
        raise StudyError(path, 'must be an object such as {"type": "float", "low": 0.001, "high": 0.1}')
    kind = data.get("type")
    if kind not in SPACE_KEYS:
        raise StudyError(f"{path}.type", f"must be one of {', '.join(SPACE_KEYS)}, got {kind!r}")
    for key in data:
        if key not in SPACE_KEYS[kind]:
            raise StudyError(
                f"{path}.{key}", f"unknown field for {kind}; allowed fields are {', '.join(SPACE_KEYS[kind])}"
            )
    match = LAYER_UNITS.match(name)
    if match:
        index = int(match.group(1))
        for arch_name, architecture in architectures.items():
            hidden = len(architecture.layers) - 1
            if index >= hidden:
                raise StudyError(
                    path,
                    f"{arch_name!r} has {hidden} hidden layer(s) (layers[0] to layers[{hidden - 1}]); "
                    "the output layer's width is fixed by the classes" if hidden else
                    f"{arch_name!r} has no hidden layer to size",
                )
        if kind == "float":
            raise StudyError(f"{path}.type", "a layer size is an integer: use int or categorical")

        def check(value: Any, where: str) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UNITS:
                raise StudyError(where, f"must be an integer from 1 to {MAX_UNITS}, got {value!r}")
    elif name in SETTING_FIELDS:
        setting_kind = _setting_kind(name)
        if kind != "categorical" and setting_kind == "other":
            raise StudyError(f"{path}.type", f"{name} takes named values: use categorical")
        if kind == "float" and setting_kind == "int":
            raise StudyError(f"{path}.type", f"{name} is an integer setting: use int or categorical")

        def check(value: Any, where: str) -> None:
            _check_setting_value(name, value, where)
    else:
        raise StudyError(
            path,
            f"unknown setting; allowed: {', '.join(SETTING_FIELDS)}, or layers[i].units for a "
            "hidden layer's width",
        )

    if kind == "categorical":
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise StudyError(f"{path}.choices", "must be a non-empty list of values")
        for index, value in enumerate(choices):
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise StudyError(f"{path}.choices[{index}]", "must be a number, string, boolean or null")
            check(value, f"{path}.choices[{index}]")
        if len({json.dumps(value) for value in choices}) != len(choices):
            raise StudyError(f"{path}.choices", "must not repeat a value")
        return Param(name, kind, choices=tuple(choices))

    integer = kind == "int"
    for key in ("low", "high"):
        if key not in data:
            raise StudyError(f"{path}.{key}", "is required")
    low = _number(data["low"], f"{path}.low", integer)
    high = _number(data["high"], f"{path}.high", integer)
    log = data.get("log", False)
    if not isinstance(log, bool):
        raise StudyError(f"{path}.log", f"must be true or false, got {log!r}")
    if log and low <= 0:
        raise StudyError(f"{path}.low", f"must be above 0 on a log scale, got {low!r}")
    check(low, f"{path}.low")
    check(high, f"{path}.high")
    if not low < high:
        raise StudyError(f"{path}.high", f"must be above low ({low!r}), got {high!r}")
    step = data.get("step")
    if step is not None:
        step = _number(step, f"{path}.step", integer)
        if step <= 0:
            raise StudyError(f"{path}.step", f"must be above 0, got {step!r}")
        if log:
            raise StudyError(f"{path}.step", "cannot be combined with log: true")
    return Param(name, kind, low, high, log, step)


def parse_study(data: Any, base: str | Path = ".") -> Study:
    """Validate a study's JSON value; every error names the field it is about."""
    base = Path(base)
    if not isinstance(data, dict):
        raise StudyError("", f"the study must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise StudyError(unknown[0], f"unknown field; allowed fields are {', '.join(TOP_LEVEL)}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise StudyError("seed", f"must be an integer from 0 to 2**31 - 1, got {seed!r}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise StudyError("settings", "must be an object of training settings")
    if "seed" in settings:
        raise StudyError("settings.seed", "give the training seed as the study's top-level seed")
    # The shared fields mean what they mean in a sweep file: validate them the same way.
    shared = {key: data[key] for key in ("dataset", "limit", "test_limit", "architectures", "regimes")
              if key in data}
    try:
        sweep = parse_sweep({**shared, "seeds": [seed], "settings": settings}, base)
    except SweepError as error:
        raise StudyError(error.path, str(error).split(": ", 1)[-1] if error.path else str(error)) from None
    architectures: dict[str, Architecture] = {}
    for spec in sweep.specs:
        name = spec.architecture.name
        if name in architectures and architectures[name] != spec.architecture:
            raise StudyError("architectures", f"two architectures are named {name!r}; rename one")
        architectures[name] = spec.architecture
    regimes = list(dict.fromkeys(spec.regime for spec in sweep.specs))

    raw_space = data.get("space")
    if not isinstance(raw_space, dict) or not raw_space:
        raise StudyError("space", "must be an object naming at least one setting to search")
    space: dict[str, Param] = {}
    for name, item in raw_space.items():
        if name in settings:
            raise StudyError(f"space.{name}", "is also in settings; give it in one place only")
        space[name] = _param(name, item, f"space.{name}", architectures)

    fraction = settings.get("validation_fraction", TrainingConfig().validation_fraction)
    if "validation_fraction" in space:
        param = space["validation_fraction"]
        values = param.choices if param.kind == "categorical" else (param.low,)
        if any(not value for value in values):
            raise StudyError("space.validation_fraction",
                             "must stay above 0: the objective is the validation accuracy")
    elif not fraction:
        raise StudyError("settings.validation_fraction",
                         "must be above 0: the objective is the validation accuracy")

    first_trials = data.get("first_trials", [])
    if not isinstance(first_trials, list):
        raise StudyError("first_trials", "must be a list of objects of searched values")
    categorical = {"architecture": list(architectures), "regime": regimes}
    for index, values in enumerate(first_trials):
        path = f"first_trials[{index}]"
        if not isinstance(values, dict):
            raise StudyError(path, "must be an object mapping searched names to values")
        for key, value in values.items():
            if key in space:
                if not space[key].contains(value):
                    raise StudyError(f"{path}.{key}", f"{value!r} is outside space.{key}")
            elif key in categorical and len(categorical[key]) > 1:
                if value not in categorical[key]:
                    raise StudyError(f"{path}.{key}", f"must be one of {categorical[key]}")
            else:
                raise StudyError(f"{path}.{key}", f"is not searched; searched: {', '.join(space)}")

    return Study(
        data=sweep.data,
        architectures=architectures,
        regimes=regimes,
        seed=seed,
        settings=dict(settings),
        space=space,
        pruner=_options(data.get("pruner"), "pruner", PRUNERS, "median"),
        sampler=_options(data.get("sampler"), "sampler", SAMPLERS, "tpe"),
        first_trials=[dict(values) for values in first_trials],
    )


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (paths inside it are relative to the file)."""
    file = Path(path)
    try:
        data = read_json_file(file, MAX_STUDY_BYTES)
    except ValueError as error:
        raise StudyError("", str(error)) from None
    try:
        return parse_study(data, file.parent)
    except StudyError as error:
        raise StudyError(error.path, f"{error.reason} (in {file})") from None


# -- trials (these run on the workers) -------------------------------------------------------


def make_pruner(options: dict[str, Any]) -> Any:
    """The Optuna pruner a study file's ``pruner`` options name (or a no-op pruner)."""
    import optuna

    arguments = {key: value for key, value in options.items() if key != "type"}
    if options["type"] == "median":
        return optuna.pruners.MedianPruner(**arguments)
    if options["type"] == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(**arguments)
    return optuna.pruners.NopPruner()


def make_sampler(options: dict[str, Any], seed: int) -> Any:
    """The Optuna sampler a study file's ``sampler`` options name, seeded."""
    import optuna

    if options["type"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=options["n_startup_trials"])


def make_storage(storage: Any) -> Any:
    """An Optuna storage from a SQLite URL (each process opens its own), or the object given."""
    if not isinstance(storage, str):
        return storage  # a DaskStorage: it reaches the storage on the scheduler
    from optuna.storages import RDBStorage

    # Several processes write the same SQLite file: wait for its lock instead of failing.
    return RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 120}})


class PruningObserver:
    """A training observer: report each epoch's validation accuracy, stop the run if pruned."""

    def __init__(self, trial: Any, control: Any) -> None:
        self.trial = trial
        self.control = control
        self.pruned_at: int | None = None
        self.history: list[float] = []

    def __call__(self, snapshot: Any) -> None:
        if snapshot.kind != "epoch" or snapshot.batch == 0 or self.pruned_at is not None:
            return  # batch 0 is the snapshot before training; after pruning the run is ending
        value = snapshot.metrics.get("val_accuracy", math.nan)
        if not math.isfinite(value):
            return
        self.history.append(value)
        self.trial.report(value, snapshot.epoch)
        if self.trial.should_prune():
            self.pruned_at = snapshot.epoch
            self.control.stop()


def run_trial(trial: Any, study: Study) -> float:
    """Train the trial's run on the training split and return its last validation accuracy.

    The test images are never seen: the run's "test set" is the validation split itself.
    """
    import optuna

    from spectral_core.data import Dataset
    from spectral_core.runs import run_training
    from spectral_core.training import TrainingControl, split_validation

    spec = study.sample(trial)
    config = spec.config()
    config.snapshot_interval = 1e9  # only epoch snapshots are needed
    full = load_source(study.data)
    _, _, validation = split_validation(full, config.validation_fraction, config.seed)
    assert validation is not None  # parse_study refuses validation_fraction 0
    blind = Dataset(full.name, full.x_train, full.y_train, validation[0], validation[1])
    control = TrainingControl()
    pruning = PruningObserver(trial, control)
    started = time.perf_counter()
    outcome = run_training(spec.architecture, spec.regime, blind, config, observers=[pruning],
                           control=control, name=spec.run_id, dataset_source=study.data.source,
                           analysis=False)  # a trial keeps its results, not plot data
    history = outcome.record.history
    value = history[-1]["val_accuracy"] if history else 0.0
    # The sweep's row of the run's record, less what a trial has no test set for (its "test
    # set" above is the validation split).
    row = run_row(spec, outcome.record, blind, time.perf_counter() - started)
    record = {
        **{key: item for key, item in row.items() if key not in TRIAL_UNSEEN_COLUMNS},
        "val_accuracy": value,
        "pruned_at_epoch": None if pruning.pruned_at is None else pruning.pruned_at + 1,
    }
    trial.set_user_attr("record", _plain(record))
    if pruning.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at + 1}")
    if not math.isfinite(value):
        raise ValueError("the validation accuracy is not finite")
    return float(value)


def _plain(value: Any) -> Any:
    """JSON types only (Optuna stores user attributes as JSON); NaN becomes None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return int(value)
    if isinstance(value, float) or hasattr(value, "dtype"):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


def optimize_worker(
    study: Study,
    storage: Any,
    trials: int,
    sampler_seed: int,
    callbacks: Sequence[Callable[[Any, Any], None]] = (),
) -> int:
    """Add ``trials`` trials to the stored study (one worker process, thread or this process)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(
        study_name=STUDY_NAME,
        storage=make_storage(storage),
        sampler=make_sampler(study.sampler, sampler_seed),
        pruner=make_pruner(study.pruner),
    )

    def objective(trial: Any) -> float:
        try:
            return run_trial(trial, study)
        except optuna.TrialPruned:
            raise
        except Exception as error:  # recorded, then Optuna marks the trial failed and goes on
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            raise

    loaded.optimize(objective, n_trials=trials, catch=(Exception,), callbacks=list(callbacks),
                    gc_after_trial=True)
    return trials


def evaluate_best(spec: RunSpec, data: DataSource, save_to: str) -> dict[str, Any]:
    """Train the best trial's run again and evaluate it on the test set: the one test look."""
    last: dict[str, float] = {}

    def observe(snapshot: Any) -> None:
        if snapshot.kind == "epoch" and snapshot.batch > 0:
            last["val_accuracy"] = snapshot.metrics.get("val_accuracy", math.nan)

    result = execute_run(spec, data, False, save_to, [observe])
    return {**result.row, "val_accuracy": last.get("val_accuracy")}


# -- the search ------------------------------------------------------------------------------


@dataclass
class SearchOutcome:
    """How a search ended and what it wrote."""

    finished: int  # complete + pruned trials in the study
    complete: int
    pruned: int
    failed: int
    ran: int  # trials added by this call
    best: dict[str, Any] | None
    files: list[Path]
    notes: list[str]


def _states(study: Any) -> dict[str, int]:
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _done(counts: dict[str, int]) -> int:
    return counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]


class _Progress:
    """A tqdm bar over the trials: done, pruned, failed and the best value so far."""

    def __init__(self, total: int, quiet: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, disable=quiet, dynamic_ncols=True, desc="search", unit="trial")

    def refresh(self, study: Any) -> None:
        counts = _states(study)
        done = counts["COMPLETE"] + counts["PRUNED"]
        self.bar.n = min(done, self.bar.total)
        try:
            best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
        except ValueError:
            best = "best –"
        self.bar.set_postfix_str(f"pruned {counts['PRUNED']}, failed {counts['FAIL']}, {best}",
                                 refresh=True)

    def close(self) -> None:
        self.bar.close()


def _open_study(study: Study, storage: Any, study_folder: Path) -> Any:
    """Create the stored study, or check that the stored one has this file's definition."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stored = optuna.create_study(
        study_name=STUDY_NAME, storage=storage, direction="maximize", load_if_exists=True
    )
    definition = json.loads(json.dumps(study.definition()))
    old = stored.user_attrs.get("definition")
    if old is None:
        stored.set_user_attr("definition", definition)
        for values in study.first_trials:
            stored.enqueue_trial(values, skip_if_exists=True)
    elif old != definition:
        changed = sorted(key for key in set(old) | set(definition) if old.get(key) != definition.get(key))
        raise ExperimentError(
            f"{study_folder}: the study stored there was made with another {', '.join(changed)}; use the same "
            "study file to resume it, or another --out"
        )
    # Trials left running by an interrupted search belong to no live worker (the folder lock
    # proves this command is the only one): mark them failed so they are redone.
    from optuna.trial import TrialState

    for trial in stored.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    return stored


def _connect(scheduler: Any) -> tuple[Any, bool]:
    try:
        from distributed import Client
    except ImportError:
        raise ExperimentError("--scheduler needs Dask: pip install 'spectral-lab[cluster]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout="20s"), True
    except OSError as error:
        raise ExperimentError(f"--scheduler: cannot reach {scheduler} ({error})") from None


def run_search(
    study: Study,
    out: str | Path,
    trials: int,
    *,
    workers: int = 1,
    scheduler: Any = None,
    quiet: bool = False,
) -> SearchOutcome:
    """Run ``study`` until it holds ``trials`` finished trials, then write the results to ``out``.

    ``workers`` processes (0: this process) or the Dask cluster at ``scheduler`` (an address or a
    ``distributed.Client``) add trials at once through the study's SQLite storage.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ExperimentError(f"--trials: must be at least 1, got {trials!r}")
    if scheduler is None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ExperimentError(f"--workers: must be 0 (this process) or more, got {workers!r}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(folder / STUDY_DB).resolve()}"
    client, own_client = _connect(scheduler) if scheduler is not None else (None, False)
    try:
        with folder_lock(folder):
            if client is not None:
                from optuna_integration import DaskStorage

                # The SQLite file is opened by the scheduler: it must see this folder's path.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # DaskStorage is marked experimental
                    storage: Any = DaskStorage(url, client=client)
                worker_storage: Any = storage
            else:
                storage, worker_storage = make_storage(url), url
            stored = _open_study(study, storage, folder)
            before = _states(stored)
            remaining = trials - before["COMPLETE"] - before["PRUNED"]
            progress = _Progress(trials, quiet)
            best: dict[str, Any] | None = None
            try:
                progress.refresh(stored)
                with make_executor(workers, client, study.data) as executor:
                    if remaining > 0:
                        _optimize(study, stored, executor, worker_storage, remaining, client,
                                  workers, len(stored.get_trials(deepcopy=False)), progress)
                    progress.refresh(stored)
                    best = _best(study, stored, folder, executor)
            finally:
                progress.close()
            after = _states(stored)
            files, notes = write_results(stored, folder, best)
    finally:
        if own_client:
            client.close()
    return SearchOutcome(
        finished=after["COMPLETE"] + after["PRUNED"],
        complete=after["COMPLETE"],
        pruned=after["PRUNED"],
        failed=after["FAIL"],
        ran=_done(after) - _done(before),
        best=best,
        files=files,
        notes=notes,
    )


def _optimize(
    study: Study,
    stored: Any,
    executor: cf.Executor,
    worker_storage: Any,
    remaining: int,
    client: Any,
    workers: int,
    existing: int,
    progress: _Progress,
) -> None:
    """Split ``remaining`` trials among the workers and wait for them, refreshing the bar."""
    inline = isinstance(executor, InlineExecutor)
    if client is not None:
        slots = max(1, sum(client.nthreads().values()))
    else:
        slots = max(1, workers)
    slots = min(slots, remaining)
    seed = study.sampler["seed"]
    futures = []
    for index in range(slots):
        quota = remaining // slots + (1 if index < remaining % slots else 0)
        # A different sampler seed per worker and per resumption: no two draw the same points.
        sampler_seed = (seed + 7919 * existing + index) % 2**31
        callbacks = [lambda s, t: progress.refresh(s)] if inline else []
        futures.append(
            executor.submit(optimize_worker, study, worker_storage, quota, sampler_seed, callbacks)
        )
    if inline:
        for future in futures:
            run_inline(future)
    pending = set(futures)
    while pending:
        _, pending = cf.wait(pending, timeout=1.0)
        progress.refresh(stored)
    for future in futures:
        future.result()  # a worker that crashed outright (not a failed trial) is an error


def _best(study: Study, stored: Any, folder: Path, executor: cf.Executor) -> dict[str, Any] | None:
    """The best trial's settings and its test accuracy, evaluated once per best trial."""
    from optuna.trial import TrialState

    if not stored.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    trial = stored.best_trial
    previous = read_best(folder)
    if previous is not None and previous.get("trial") == trial.number \
            and previous.get("test_accuracy") is not None:
        return previous
    import optuna

    spec = study.sample(optuna.trial.FixedTrial(trial.params))
    future = executor.submit(evaluate_best, spec, study.data, str(folder / BEST_RUN))
    if isinstance(executor, InlineExecutor):
        run_inline(future)
    record = future.result()
    config = spec.config()
    config.snapshot_interval = TrainingConfig().snapshot_interval
    best = {
        "trial": trial.number,
        "val_accuracy": trial.value,
        "params": trial.params,
        "regime": spec.regime,
        "architecture": spec.architecture.to_dict(),
        "config": config.to_dict(),
        "dataset": study.data.describe(),
        "test_accuracy": record["test_accuracy"],
        "test_accuracy_compact": record["test_accuracy_compact"],
        "test_images": record["test_images"],
        "retrained_val_accuracy": record["val_accuracy"],
        "run_folder": BEST_RUN,
        "train_command": train_command(spec, study.data, folder),
    }
    best = _plain(best)
    atomic_write_text(folder / BEST_CONFIG, json.dumps(best["config"], indent=2) + "\n")
    spec.architecture.save(folder / BEST_ARCHITECTURE)
    atomic_write_text(folder / BEST_FILE, json.dumps(best, indent=2) + "\n")
    return best


def train_command(spec: RunSpec, data: DataSource, folder: Path) -> str:
    """The command that trains the best settings again (``train --config`` reads the config)."""
    parts = ["spectral-lab", "train", str(folder / BEST_ARCHITECTURE), "--regime", spec.regime,
             "--dataset", data.source, "--config", str(folder / BEST_CONFIG),
             "--out", str(folder / "best_again")]
    return " ".join(parts)


def read_best(folder: str | Path) -> dict[str, Any] | None:
    """The folder's ``best.json`` as a dict, or None when the search has not written one."""
    path = Path(folder) / BEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def load_study_best(folder: str | Path) -> tuple[Architecture, TrainingConfig]:
    """The best trial's architecture and training settings from a search folder (no Optuna)."""
    path = Path(folder)
    best_file = path / BEST_FILE
    data = read_best(path)
    if data is None and best_file.is_file():
        raise ExperimentError(
            f"{best_file}: not a readable JSON object (damaged?); `spectral-lab search` "
            "with the same --out rewrites it"
        )
    if data is None:
        raise ExperimentError(
            f"{path}: no readable {BEST_FILE}; it is written when a search has a completed trial"
        )
    values: list[Any] = []
    for key, reader in (("architecture", Architecture.from_dict), ("config", TrainingConfig.from_dict)):
        if key not in data:
            raise ExperimentError(f"{best_file}: {key}: is missing")
        try:
            values.append(reader(data[key]))
        except SpectralLabError as error:  # the field path inside best.json, e.g. config: epochs
            raise ExperimentError(f"{best_file}: {key}: {error}") from None
    architecture, config = values
    return architecture, config


def study_best_regime(folder: str | Path) -> str:
    """The regime of the best trial of a search folder."""
    data = read_best(folder) or {}
    return str(data.get("regime", ""))


# -- results ---------------------------------------------------------------------------------


def trials_csv(stored: Any) -> str:
    """Every trial, one row each: trial columns, then the sweep's columns where they apply."""
    buffer = io.StringIO()
    columns = (*TRIAL_COLUMNS, *(c for c in CSV_COLUMNS if c not in TRIAL_COLUMNS))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    defaults = TrainingConfig()
    for trial in stored.get_trials(deepcopy=False):
        record = dict(trial.user_attrs.get("record", {}))
        settings = record.get("settings") or {}
        row = {
            **record,
            "trial": trial.number,
            "state": trial.state.name.lower(),
            "val_accuracy": trial.value if trial.value is not None else record.get("val_accuracy"),
            "params": json.dumps(trial.params, sort_keys=True),
            "error": trial.user_attrs.get("error", ""),
            "settings": json.dumps(settings, sort_keys=True) if record else "",
        }
        if record:
            for key in ("epochs", "learning_rate", "batch_size", "optimizer", "initialization"):
                row[key] = settings.get(key, getattr(defaults, key))
        writer.writerow(row)
    return buffer.getvalue()


def write_results(stored: Any, folder: Path, best: dict[str, Any] | None) -> tuple[list[Path], list[str]]:
    """trials.csv and the plots; returns the files written and why any plot was left out."""
    atomic_write_text(folder / TRIALS_CSV, trials_csv(stored))
    files = [folder / TRIALS_CSV]
    if best is not None:
        files += [folder / BEST_FILE, folder / BEST_CONFIG, folder / BEST_ARCHITECTURE]
    notes = []
    plt = _pyplot()
    import optuna.visualization.matplotlib as plots

    for name, function in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = getattr(plots, function)(stored)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            notes.append(f"{name} not drawn: {error}")
            continue
        figure = axes.flatten()[0].figure if hasattr(axes, "flatten") else axes.figure
        if not any(ax.has_data() for ax in figure.axes):
            notes.append(f"{name} not drawn: not enough finished trials with varied values")
            plt.close(figure)
            continue
        _save_figure(figure, folder / name)
        plt.close(figure)
        files.append(folder / name)
    return files, notes


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(figure: Any, path: Path) -> None:
    from spectral_core.files import atomic_path

    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")


# -- the command -----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Register ``spectral-lab search`` with the command-line parser."""
    parser = subparsers.add_parser(
        "search",
        help="tune training settings and layer sizes with Optuna (pruning, resumable, Dask)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("study_file", metavar="STUDY.json", help="what to search (format: docs/studies/README.md)")
    parser.add_argument("--trials", type=int, required=True,
                        help="finished trials the study should hold (a resumed study counts its own)")
    parser.add_argument("--out", required=True, help="study folder (resumed if it exists)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_executor_options(parser, default_workers=1)
    parser.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    """Run ``spectral-lab search``: trials, results and the best trial's test accuracy."""
    study = load_study(args.study_file)
    outcome = run_search(study, args.out, args.trials, workers=args.workers,
                         scheduler=args.scheduler, quiet=args.quiet)
    print(f"{outcome.finished} finished trials ({outcome.complete} complete, {outcome.pruned} "
          f"pruned), {outcome.failed} failed; {outcome.ran} run now")
    if outcome.best is not None:
        best = outcome.best
        print(f"best: trial {best['trial']}, validation accuracy {best['val_accuracy']:.4f}, "
              f"test accuracy {best['test_accuracy']:.4f} (evaluated once, after the search)")
        print(f"best settings: {json.dumps(best['params'], sort_keys=True)}")
        print(f"train it again: {best['train_command']}")
    else:
        print("no trial completed (all pruned or failed), so there is no best trial yet; run "
              "the same command with more --trials", file=sys.stderr)
    for note in outcome.notes:
        print(note, file=sys.stderr)
    print("wrote " + ", ".join(str(path) for path in outcome.files))
    if outcome.failed:
        print(f"{outcome.failed} trials failed (see the error column of {TRIALS_CSV}); run the "
              "same command again to run more", file=sys.stderr)
    return 0 if outcome.best is not None else 1


__all__ = [
    "Param", "Study", "StudyError", "SearchOutcome", "PruningObserver", "load_study",
    "parse_study", "run_search", "load_study_best", "study_best_regime", "trials_csv",
]
