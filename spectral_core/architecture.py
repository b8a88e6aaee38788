"""Layer stacks as plain values and their JSON form (DESIGN.md / issue 2); the file format
is declared in :mod:`spectral_core.formats`, which checks it.

No TensorFlow here: the GUI edits these values before TensorFlow has loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spectral_core.errors import SpectralLabError

ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "tanh", "sigmoid", "softmax")
MAX_UNITS = 100_000
MAX_LAYERS = 64
MAX_NAME_LENGTH = 200
# Largest architecture JSON we read; real ones are a few hundred bytes.
MAX_FILE_BYTES = 1_000_000


class ArchitectureError(SpectralLabError):
    """An architecture value or file is invalid; ``path`` names the bad field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer: its width, activation and whether it folds into the next one."""

    units: int
    activation: str = "linear"
    telescopic: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The layer as a JSON object (``telescopic`` only when set)."""
        data: dict[str, Any] = {"units": self.units, "activation": self.activation}
        if self.telescopic:
            data["telescopic"] = True
        return data

    @classmethod
    def from_dict(cls, data: Any, path: str = "layer") -> LayerSpec:
        """A layer from its JSON object; errors name the field under ``path``."""
        from spectral_core.formats import FormatErrors, LayerFormat, parse

        try:
            layer = parse(LayerFormat, data, "layer")
        except FormatErrors as errors:
            problem = errors.first
            raise ArchitectureError(
                f"{path}.{problem.path}" if problem.path else path, problem.message
            ) from None
        return cls(units=layer.units, activation=layer.activation, telescopic=layer.telescopic)


@dataclass(frozen=True)
class Architecture:
    """A feed-forward stack: ``input_units`` then ``layers`` in order."""

    name: str
    input_units: int
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)
    train_input_eigenvalues: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))

    # -- validation -----------------------------------------------------------------
    def problems(self) -> list[ArchitectureError]:
        """Every problem at once (for inline marks in an editor), in field order."""
        from spectral_core.formats import architecture_problems

        return [
            ArchitectureError(problem.path, problem.message)
            for problem in architecture_problems(self._raw_dict())
        ]

    def _raw_dict(self) -> dict[str, Any]:
        """The fields as they are, even when invalid (what :meth:`problems` checks)."""
        return {
            "name": self.name,
            "input_units": self.input_units,
            "layers": [
                {"units": layer.units, "activation": layer.activation, "telescopic": layer.telescopic}
                if isinstance(layer, LayerSpec) else layer
                for layer in self.layers
            ],
            "train_input_eigenvalues": self.train_input_eigenvalues,
        }

    def validate(self) -> Architecture:
        """Raise :class:`ArchitectureError` naming the first bad field; return self."""
        found = self.problems()
        if found:
            raise found[0]
        return self

    # -- derived facts --------------------------------------------------------------
    @property
    def widths(self) -> list[int]:
        """Node counts from input to output."""
        return [self.input_units] + [layer.units for layer in self.layers]

    @property
    def output_units(self) -> int:
        """Width of the last layer (the number of classes)."""
        return self.layers[-1].units

    def has_telescopic(self) -> bool:
        """Whether any layer folds into the next one on retraction."""
        return any(layer.telescopic for layer in self.layers)

    def retracted(self) -> Architecture:
        """The compact architecture that retraction produces (telescopic layers folded)."""
        kept = tuple(
            replace(layer, telescopic=False) for layer in self.layers if not layer.telescopic
        )
        return Architecture(f"{self.name} (compact)", self.input_units, kept, False)

    # -- JSON -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The architecture as a JSON object (the file format)."""
        return {
            "name": self.name,
            "input_units": self.input_units,
            "layers": [layer.to_dict() for layer in self.layers],
            "train_input_eigenvalues": self.train_input_eigenvalues,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        """A validated architecture from its JSON object (:class:`spectral_core.formats.
        ArchitectureFormat`); the error names the first bad field."""
        from spectral_core.formats import ArchitectureFormat, FormatErrors, parse

        try:
            return parse(ArchitectureFormat, data, "architecture").to_architecture()
        except FormatErrors as errors:
            raise ArchitectureError(*errors.first) from None

    def to_json(self) -> str:
        """The architecture file's text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """A validated architecture from a file's text; bad JSON says where."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ArchitectureError(
                "", f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
            ) from None
        except RecursionError:
            raise ArchitectureError("", "not an architecture: the JSON is nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Architecture:
        """Read an architecture JSON file, refusing huge or non-text files up front."""
        file = Path(path)
        try:
            size = file.stat().st_size
        except OSError as error:
            raise ArchitectureError("", f"cannot read {file}: {error.strerror}") from None
        if size > MAX_FILE_BYTES:
            raise ArchitectureError(
                "", f"{file} is {size} bytes; an architecture file is at most {MAX_FILE_BYTES}"
            )
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ArchitectureError("", f"{file} is not a UTF-8 text file") from None
        except OSError as error:
            raise ArchitectureError("", f"cannot read {file}: {error.strerror}") from None
        try:
            return cls.from_json(text)
        except ArchitectureError as error:
            raise ArchitectureError(error.path, f"{error.reason} (in {file})") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the architecture file atomically (no partial file on failure)."""
        from spectral_core.files import atomic_write_text

        atomic_write_text(path, self.to_json())


def preset_names() -> list[str]:
    """Names of the architectures shipped with the package (the paper's networks)."""
    from resources import preset_paths

    return [path.stem for path in preset_paths()]


def load_preset(name: str) -> Architecture:
    """A shipped architecture by name: ``perceptron``, ``wide_linear``, ``nonlinear``,
    ``deep_linear_l3`` … (see :func:`preset_names`)."""
    from resources import PRESETS

    if name not in preset_names():
        raise ArchitectureError("preset", f"must be one of {', '.join(preset_names())}, got {name!r}")
    return Architecture.load(PRESETS / f"{name}.json")
