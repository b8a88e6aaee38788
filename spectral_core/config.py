"""Training settings as a plain value (no TensorFlow import, so the GUI can edit it early)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from spectral_core.errors import SpectralLabError

OPTIMIZER_NAMES = ("adamax", "adam", "sgd", "rmsprop")

# Named initialization schemes and where each comes from (build.py turns them into Keras
# initializers). Every scheme starts λ_in at 1; "paper" is what reproduces Table 1.
INITIALIZATION_SOURCES: dict[str, str] = {
    "paper": (
        "the paper's authors' code (Buffoni/spectral_learning @39a4c47 SpectralLayer.py, later "
        "hard-coded as optimized_uniform): φ ~ U(−0.2, 0.2), λ_in = 1, λ_out ~ U(0.5, 1.5) "
        "(output diagonal 1 + U(−0.5, 0.5)); Constrained NN kernel Glorot-uniform "
        "(marcociav/LeanSpectral SparseLayer.py)"
    ),
    "paper-text": (
        "the article's text: φ ~ U(−0.5, 0.5), λ_in = 1, λ_out ~ U(−0.01, 0.01); "
        "Constrained NN kernel U(−0.5, 0.5)"
    ),
    "glorot": (
        "φ and the Constrained NN kernel Glorot-uniform (the scale Keras gives a Dense kernel), "
        "λ_in = 1, λ_out ~ U(−0.01, 0.01)"
    ),
}
INITIALIZATION_NAMES = tuple(INITIALIZATION_SOURCES)
# The scheme of TrainingConfig, build_model, the app, `train` and `sweep` (docs/REPRODUCTION.md
# "Initialization" compares the three over the four regimes on the Table 1 networks).
DEFAULT_INITIALIZATION = "paper"
# Up to session format 1 (and in run logs of that time) "paper" named the article's text.
LEGACY_INITIALIZATION_NAMES = {"paper": "paper-text"}


class ConfigError(SpectralLabError):
    """A training setting is out of range; the message names the field and the allowed values."""


# What each setting allows, declared once: TrainingConfig.validate checks it (through pydantic,
# spectral_core.formats) and docs/schemas/training-config.schema.json shows it to editors.
# Keys: ge/gt/le/lt bounds, choices, and the description a schema shows.
LIMITS: dict[str, dict[str, Any]] = {
    "epochs": {"ge": 1, "le": 10_000, "description": "passes over the training images"},
    "batch_size": {"ge": 1, "le": 1_000_000, "description": "images per training step"},
    "learning_rate": {
        "gt": 0, "le": 10, "description": "null: 0.03 for linear networks, 0.01 otherwise",
    },
    "optimizer": {"choices": OPTIMIZER_NAMES, "description": "Keras optimizer"},
    "seed": {"ge": 0, "le": 2**31 - 1, "description": "seed of weights, shuffling and split"},
    "validation_fraction": {
        "ge": 0, "lt": 1, "description": "share of the training images held out for validation",
    },
    "snapshot_interval": {
        "ge": 0, "description": "seconds between batch snapshots to observers; 0: every batch",
    },
    "histogram_bins": {"ge": 2, "le": 1000, "description": "bins of the weight histograms"},
    "eigenvalue_penalty": {
        "choices": ("none", "l1", "l2"), "description": "penalty on the trained eigenvalues",
    },
    "eigenvalue_penalty_weight": {"ge": 0, "le": 100, "description": "weight of that penalty"},
    "jit_compile": {
        "choices": ("auto", True, False),
        "description": "XLA: true, false, or auto (on for the Constrained NN's cached training view)",
    },
    "steps_per_execution": {
        "ge": 0, "le": 10_000, "description": "batches per compiled call; 0: about 20 ms a call",
    },
    "projection_cache_mb": {
        "ge": 0, "le": 1_000_000,
        "description": "memory for the first layer's cached input projection; 0: no cache",
    },
    "initialization": {
        "choices": INITIALIZATION_NAMES, "description": "initial φ and eigenvalues (scheme name)",
    },
}


@dataclass
class TrainingConfig:
    """Settings of one run; defaults follow the paper (Adamax, batch 300, 20 epochs)."""

    epochs: int = 20
    batch_size: int = 300
    learning_rate: float | None = None  # None: 0.03 for linear networks, 0.01 otherwise
    optimizer: str = "adamax"
    seed: int = 0
    validation_fraction: float = 0.1
    snapshot_interval: float = 0.1  # seconds between batch snapshots; 0 means every batch
    histogram_bins: int = 60
    eigenvalue_penalty: str = "none"  # none, l1 or l2 on the trained λ_out
    eigenvalue_penalty_weight: float = 0.0
    # XLA: True or False, or "auto": as the model was compiled (build_model: without XLA), except
    # the Constrained NN's cached view, whose sparse correction XLA fuses (training.choose_jit_compile).
    jit_compile: bool | str = "auto"
    # Batches per compiled call (Keras steps_per_execution); 0 picks it from the step's cost so a
    # call lasts about 20 ms (observers and stop/pause act between calls). 1 when
    # snapshot_interval is 0 (observers asked for every batch).
    steps_per_execution: int = 0
    # Memory for the first layer's cached input projection (spectral_core.projection); above it
    # the engine trains uncached and says so. 0 turns the cache off.
    projection_cache_mb: int = 1024
    initialization: str = DEFAULT_INITIALIZATION  # one of INITIALIZATION_NAMES

    def validate(self) -> TrainingConfig:
        """Return ``self`` if every setting has its type and is in range (:data:`LIMITS`), else
        raise :class:`ConfigError` naming the first bad one and what it allows."""
        from spectral_core.formats import check_training_settings

        check_training_settings(self.to_dict())
        return self

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON object."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Validated settings from a JSON object; an unknown key is refused by name."""
        from spectral_core.formats import check_training_settings

        check_training_settings(data)
        return cls(**data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingConfig:
        """Settings from a JSON file (``spectral-lab train --config FILE``); errors name the file."""
        from spectral_core.formats import read_json_object

        data = read_json_object(path, ConfigError)
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise ConfigError(f"{error} (in {path})") from None

    def regularizer(self) -> Any:
        """The Keras regularizer for the trained eigenvalues, or None."""
        import keras

        if self.eigenvalue_penalty == "none" or self.eigenvalue_penalty_weight == 0:
            return None
        if self.eigenvalue_penalty == "l1":
            return keras.regularizers.L1(self.eigenvalue_penalty_weight)
        return keras.regularizers.L2(self.eigenvalue_penalty_weight)
