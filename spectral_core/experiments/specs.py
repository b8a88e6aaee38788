"""Run specifications: what one run of a grid is, and where its data comes from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from spectral_core.architecture import Architecture
from spectral_core.config import (
    DEFAULT_INITIALIZATION,
    LEGACY_INITIALIZATION_NAMES,
    TrainingConfig,
)
from spectral_core.errors import SpectralLabError
from spectral_core.record import RunRecord

# The name each scheme had in run logs written before the rename ("paper-text" was "paper").
SCHEME_ID_NAMES = {
    **{new: old for old, new in LEGACY_INITIALIZATION_NAMES.items()},
    "paper": "paper-authors-code",
}


# Per-epoch cost that does not grow with the weights (data movement, Keras dispatch), in weight
# units: on MNIST an epoch of 784→800→10 (~640k weights) takes about twice a perceptron's.
EPOCH_OVERHEAD = 500_000


class ExperimentError(SpectralLabError):
    """An experiment cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class RunSpec:
    """The plan of one grid run: what to build, how to train it, and where it belongs.

    It is not a second run record: a finished run is its :class:`~spectral_core.record.RunRecord`
    (:meth:`plan` builds that record's settings). A spec stays because a grid needs its runs
    before any has run — to tell the finished ones from the pending on resume — and because it
    keeps what a record does not: the settings *as given* (``settings``: only the fields the
    sweep set, not the defaults of the day), which the :attr:`run_id` hashes so that ids stay
    stable across versions, and the report's labels (``family``, ``size``).
    """

    architecture: Architecture
    regime: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = ()  # TrainingConfig fields other than seed
    family: str = ""
    size: str = ""  # label of the size within the family, e.g. "800" or "800-600"

    def config(self) -> TrainingConfig:
        """The run's validated training settings, seed included."""
        return TrainingConfig.from_dict({**dict(self.settings), "seed": self.seed})

    @property
    def initialization(self) -> str:
        """The run's initialization scheme (the default when its settings name none)."""
        return str(dict(self.settings).get("initialization", DEFAULT_INITIALIZATION))

    @property
    def run_id(self) -> str:
        """Stable id from what determines the result (not the name, family or label).

        Scheme names are hashed by what they mean: run logs written while ``paper`` named the
        article's text keep their ids as ``paper-text`` runs, and ``paper`` runs (the authors'
        code) get new ones, so a resumed folder never mixes the two.
        """
        architecture = self.architecture.to_dict()
        architecture.pop("name")
        settings = dict(self.settings)
        if "initialization" in settings:
            settings["initialization"] = SCHEME_ID_NAMES.get(
                settings["initialization"], settings["initialization"]
            )
        key = {
            "architecture": architecture,
            "regime": self.regime,
            "seed": self.seed,
            "settings": sorted(settings.items()),
        }
        text = json.dumps(key, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def epochs(self) -> int:
        """Epochs the run trains."""
        return int(dict(self.settings).get("epochs", TrainingConfig().epochs))

    @property
    def cost(self) -> int:
        """Relative compute of the run, for the progress bar's time left."""
        widths = self.architecture.widths
        weights = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
        return self.epochs * (weights + EPOCH_OVERHEAD)

    def plan(self, dataset_source: str) -> RunRecord:
        """The run's record before it trains: named by its id, with its settings and data."""
        return RunRecord(
            name=self.run_id,
            architecture=self.architecture,
            regime=self.regime,
            config=self.config(),
            dataset=dataset_source,
        )


def settings_tuple(settings: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Settings as a sorted, hashable tuple of (name, value) pairs."""
    return tuple(sorted(settings.items()))


@dataclass(frozen=True)
class DataSource:
    """Where workers load the data from (a path must be readable by every worker)."""

    source: str
    limit: int | None = None  # first N training images
    test_limit: int | None = None  # first N test images (None: all)

    def describe(self) -> dict[str, Any]:
        """The data source as a JSON object (the folder's manifest)."""
        return {"dataset": self.source, "limit": self.limit, "test_limit": self.test_limit}
