"""Training settings as a plain value (no TensorFlow import, so the GUI can edit it early)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPTIMIZER_NAMES = ("adamax", "adam", "sgd", "rmsprop")
# "paper": φ ~ U(−0.5, 0.5), λ_in = 1, λ_out ~ U(−0.01, 0.01), direct-subset kernel U(−0.5, 0.5).
# "glorot": the same eigenvalues, but φ and the direct-subset kernel Glorot-uniform, the scale
# Keras gives direct-full's Dense kernel (see docs/REPRODUCTION.md for the benchmark).
INITIALIZATION_NAMES = ("paper", "glorot")


class ConfigError(ValueError):
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
    jit_compile: bool = False
    # "glorot" (fan-scaled φ) by default: docs/REPRODUCTION.md §3 shows it gains 1.4–24 points
    # over the paper's U(−0.5, 0.5) on deeper networks; "paper" stays available by name.
    initialization: str = "glorot"  # one of INITIALIZATION_NAMES

    def validate(self) -> TrainingConfig:

        def integer(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name}: must be an integer from {low} to {high}, got {value!r}")

        integer("epochs", 1, 10_000)
        integer("batch_size", 1, 1_000_000)
        integer("seed", 0, 2**31 - 1)
        integer("histogram_bins", 2, 1000)
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
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
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
