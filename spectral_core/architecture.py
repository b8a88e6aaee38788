"""Layer stacks as plain values: validation and the JSON form of DESIGN.md / issue 2.

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


def _check_units(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UNITS:
        raise ArchitectureError(
            path, f"must be an integer from 1 to {MAX_UNITS}, got {value!r}"
        )
    return value


def _check_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ArchitectureError(path, f"must be true or false, got {value!r}")
    return value


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
        if not isinstance(data, dict):
            raise ArchitectureError(path, f"must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"units", "activation", "telescopic"})
        if unknown:
            raise ArchitectureError(
                f"{path}.{unknown[0]}",
                "unknown field; allowed fields are units, activation, telescopic",
            )
        if "units" not in data:
            raise ArchitectureError(f"{path}.units", "is required")
        units = _check_units(data["units"], f"{path}.units")
        activation = data.get("activation", "linear")
        if activation not in ACTIVATIONS:
            raise ArchitectureError(
                f"{path}.activation",
                f"must be one of {', '.join(ACTIVATIONS)}, got {activation!r}",
            )
        telescopic = _check_bool(data.get("telescopic", False), f"{path}.telescopic")
        return cls(units=units, activation=activation, telescopic=telescopic)


def _layer_problems(layer: Any, index: int, last: int) -> list[ArchitectureError]:
    path = f"layers[{index}]"
    if not isinstance(layer, LayerSpec):
        return [ArchitectureError(path, "must be a LayerSpec")]
    found = []
    try:
        _check_units(layer.units, f"{path}.units")
    except ArchitectureError as error:
        found.append(error)
    if layer.activation not in ACTIVATIONS:
        found.append(
            ArchitectureError(
                f"{path}.activation",
                f"must be one of {', '.join(ACTIVATIONS)}, got {layer.activation!r}",
            )
        )
    elif layer.activation == "softmax" and index != last:
        found.append(
            ArchitectureError(f"{path}.activation", "softmax is allowed only on the last layer")
        )
    if not isinstance(layer.telescopic, bool):
        found.append(
            ArchitectureError(f"{path}.telescopic", f"must be true or false, got {layer.telescopic!r}")
        )
    elif layer.telescopic and layer.activation != "linear":
        found.append(
            ArchitectureError(
                f"{path}.telescopic",
                f"only linear layers can be telescopic, this one is {layer.activation}",
            )
        )
    elif layer.telescopic and index == last:
        found.append(
            ArchitectureError(
                f"{path}.telescopic",
                "the last layer cannot be telescopic: there is no next layer to fold it into",
            )
        )
    return found


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
        found: list[ArchitectureError] = []

        def check(function: Any, *args: Any) -> None:
            try:
                function(*args)
            except ArchitectureError as error:
                found.append(error)

        if not isinstance(self.name, str) or len(self.name) > MAX_NAME_LENGTH:
            found.append(
                ArchitectureError("name", f"must be a string of at most {MAX_NAME_LENGTH} characters")
            )
        check(_check_units, self.input_units, "input_units")
        check(_check_bool, self.train_input_eigenvalues, "train_input_eigenvalues")
        if not self.layers:
            found.append(ArchitectureError("layers", "must hold at least one layer"))
        if len(self.layers) > MAX_LAYERS:
            found.append(
                ArchitectureError(
                    "layers", f"must hold at most {MAX_LAYERS} layers, got {len(self.layers)}"
                )
            )
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            found.extend(_layer_problems(layer, index, last))
        return found

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
        """A validated architecture from its JSON object; errors name the field."""
        if not isinstance(data, dict):
            raise ArchitectureError("", f"the architecture must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"name", "input_units", "layers", "train_input_eigenvalues"})
        if unknown:
            raise ArchitectureError(
                unknown[0],
                "unknown field; allowed fields are name, input_units, layers, train_input_eigenvalues",
            )
        name = data.get("name", "untitled")
        if not isinstance(name, str):
            raise ArchitectureError("name", f"must be a string, got {name!r}")
        if "input_units" not in data:
            raise ArchitectureError("input_units", "is required")
        input_units = _check_units(data["input_units"], "input_units")
        raw_layers = data.get("layers")
        if not isinstance(raw_layers, list):
            raise ArchitectureError("layers", "must be a list of layer objects")
        if len(raw_layers) > MAX_LAYERS:
            raise ArchitectureError(
                "layers", f"must hold at most {MAX_LAYERS} layers, got {len(raw_layers)}"
            )
        layers = tuple(
            LayerSpec.from_dict(item, f"layers[{index}]") for index, item in enumerate(raw_layers)
        )
        train_input = _check_bool(
            data.get("train_input_eigenvalues", False), "train_input_eigenvalues"
        )
        return cls(name, input_units, layers, train_input).validate()

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
