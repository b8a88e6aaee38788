"""Training settings as a plain value (no TensorFlow import, so the GUI can edit it early)."""

from __future__ import annotations

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
    # XLA: True or False, or "auto": on where the engine trains a cached-projection view for a
    # long enough run (its small elementwise steps fuse: 1.5–2× faster steps, for ~4 s of
    # compiling), off otherwise (a Dense step gains little; docs/BENCHMARKS.md).
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

        """Return ``self`` if every setting is in range, else raise :class:`ConfigError` naming it."""
        def integer(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name}: must be an integer from {low} to {high}, got {value!r}")

        integer("epochs", 1, 10_000)
        integer("batch_size", 1, 1_000_000)
        integer("seed", 0, 2**31 - 1)
        integer("histogram_bins", 2, 1000)
        integer("steps_per_execution", 0, 10_000)
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise ConfigError(
                f"jit_compile: must be true, false or \"auto\", got {self.jit_compile!r}"
            )
        integer("projection_cache_mb", 0, 1_000_000)
        if self.learning_rate is not None and not (
            isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 10
        ):
            raise ConfigError(
                f"learning_rate: must be above 0 and at most 10, got {self.learning_rate!r}"
            )
        if self.optimizer not in OPTIMIZER_NAMES:
            raise ConfigError(
                f"optimizer: must be one of {', '.join(OPTIMIZER_NAMES)}, got {self.optimizer!r}"
            )
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"validation_fraction: must be from 0 to below 1, got {self.validation_fraction!r}"
            )
        if not self.snapshot_interval >= 0:
            raise ConfigError(
                f"snapshot_interval: must be 0 or more seconds, got {self.snapshot_interval!r}"
            )
        if self.initialization not in INITIALIZATION_NAMES:
            raise ConfigError(
                f"initialization: must be one of {', '.join(INITIALIZATION_NAMES)}, "
                f"got {self.initialization!r}"
            )
        if self.eigenvalue_penalty not in ("none", "l1", "l2"):
            raise ConfigError(
                f"eigenvalue_penalty: must be one of none, l1, l2, got {self.eigenvalue_penalty!r}"
            )
        if not 0 <= self.eigenvalue_penalty_weight <= 100:
            raise ConfigError(
                "eigenvalue_penalty_weight: must be from 0 to 100, "
                f"got {self.eigenvalue_penalty_weight!r}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON object."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Validated settings from a JSON object."""
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known).validate()

    def regularizer(self) -> Any:
        """The Keras regularizer for the trained eigenvalues, or None."""
        import keras

        if self.eigenvalue_penalty == "none" or self.eigenvalue_penalty_weight == 0:
            return None
        if self.eigenvalue_penalty == "l1":
            return keras.regularizers.L1(self.eigenvalue_penalty_weight)
        return keras.regularizers.L2(self.eigenvalue_penalty_weight)
