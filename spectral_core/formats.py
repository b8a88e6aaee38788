"""The JSON file formats, declared with pydantic: training settings, architectures and sweeps.

- Training settings are checked here: the model is generated from :class:`TrainingConfig`'s
  fields and :data:`spectral_core.config.LIMITS`, unknown keys are refused by name, and pydantic's
  errors are turned into the messages the rest of the library gives (``epochs: must be an
  integer from 1 to 10000, got 0``).
- Architectures and sweeps keep their own checks (:mod:`spectral_core.architecture`,
  :mod:`spectral_core.sweep`: they also check what a schema cannot, such as softmax only on the
  last layer); the models here declare their shape for editors, and tests keep both in step.

``python -m spectral_core.formats docs/schemas`` writes the JSON Schemas (a test checks that
the committed ones are current).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from spectral_core.architecture import ACTIVATIONS, MAX_LAYERS, MAX_NAME_LENGTH, MAX_UNITS
from spectral_core.config import LIMITS, ConfigError, TrainingConfig
from spectral_core.regimes import REGIMES

MAX_JSON_BYTES = 1_000_000
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = {
    "training-config.schema.json": "training_settings_model",
    "architecture.schema.json": "ArchitectureFormat",
    "sweep.schema.json": "SweepFormat",
}


# -- training settings ------------------------------------------------------------------------


def _setting_fields(exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    hints = typing.get_type_hints(TrainingConfig)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(TrainingConfig):
        if field.name in exclude:
            continue
        limits = dict(LIMITS.get(field.name, {}))
        choices = limits.pop("choices", None)
        if choices is None:
            kind = hints[field.name]
        else:
            names = tuple(choice for choice in choices if isinstance(choice, str))
            kind = Literal[names]  # type: ignore[valid-type]
            if any(isinstance(choice, bool) for choice in choices):
                kind = bool | kind  # strict bool: 1 and 0 are not true and false
        fields[field.name] = (kind, Field(field.default, **limits))
    return fields


@functools.cache
def training_settings_model() -> type[BaseModel]:
    """The pydantic model of a training-settings JSON object (every field of TrainingConfig)."""
    return pydantic.create_model(  # type: ignore[call-overload]
        "TrainingConfig",
        __config__=ConfigDict(extra="forbid", strict=True, title="Spectral Lab training settings"),
        __doc__="Settings of one training run (spectral-lab train --config FILE).",
        **_setting_fields(),
    )


@functools.cache
def _sweep_settings_model() -> type[BaseModel]:
    return pydantic.create_model(  # type: ignore[call-overload]
        "SweepSettings",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="Fixed training settings of every run (the seed comes from seeds).",
        **_setting_fields(exclude=("seed",)),
    )


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _range_text(limits: dict[str, Any]) -> str:
    low = f"from {_number(limits['ge'])}" if "ge" in limits else (
        f"above {_number(limits['gt'])}" if "gt" in limits else ""
    )
    high = f"to {_number(limits['le'])}" if "le" in limits else (
        f"to below {_number(limits['lt'])}" if "lt" in limits else ""
    )
    if low.startswith("above") and high:
        high = high.replace("to below", "and below").replace("to ", "and at most ")
    if low and high:
        return f"{low} {high}"
    if low:
        return f"{low.removeprefix('from ')} or more" if low.startswith("from") else low
    return high.replace("to below", "below").replace("to ", "at most ")


def _allowed_text(name: str) -> str:
    """What setting ``name`` allows, in the words of the library's messages."""
    limits = LIMITS.get(name, {})
    kind = typing.get_type_hints(TrainingConfig)[name]
    optional = type(None) in typing.get_args(kind)
    base = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind)
    if "choices" in limits and any(isinstance(choice, bool) for choice in limits["choices"]):
        words = ["true", "false"] + [json.dumps(c) for c in limits["choices"] if isinstance(c, str)]
        text = f"must be {', '.join(words[:-1])} or {words[-1]}"  # true, false or "auto"
    elif "choices" in limits:
        text = f"must be one of {', '.join(limits['choices'])}"
    elif base is bool:
        text = "must be true or false"
    elif base is int:
        bounds = _range_text(limits)
        text = f"must be an integer {bounds}" if bounds else "must be an integer"
    elif base is float:
        bounds = _range_text(limits)
        text = f"must be {bounds}" if bounds else "must be a number"
    else:
        text = f"must be a {getattr(base, '__name__', base)}"
    return f"{text} (or null)" if optional else text


def check_training_settings(data: Any) -> None:
    """Raise :class:`ConfigError` for the first unknown, mistyped or out-of-range setting."""
    try:
        training_settings_model().model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigError(_setting_message(error.errors()[0], data)) from None


def _setting_message(problem: dict[str, Any], data: Any) -> str:
    location = problem["loc"]
    if not location:
        return f"the training settings must be a JSON object, got {type(data).__name__}"
    name = str(location[0])
    if problem["type"] == "extra_forbidden":
        allowed = ", ".join(field.name for field in dataclasses.fields(TrainingConfig))
        return f"{name}: unknown setting; allowed settings are {allowed}"
    shown = repr(problem.get("input"))[:200]
    return f"{name}: {_allowed_text(name)}, got {shown}"


def read_json_object(path: str | os.PathLike[str], error: type[Exception]) -> dict[str, Any]:
    """The JSON object in file ``path``; any problem (unreadable, too big, not JSON, not an
    object) raises ``error`` with a message naming the file."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_JSON_BYTES:
            raise error(f"{file} is larger than {MAX_JSON_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except OSError as problem:
        raise error(f"cannot read {file}: {problem.strerror or problem}") from None
    except UnicodeDecodeError:
        raise error(f"{file} is not a UTF-8 text file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(
            f"{file}: not valid JSON (line {problem.lineno}, column {problem.colno}: {problem.msg})"
        ) from None
    except RecursionError:
        raise error(f"{file}: the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise error(f"{file}: must hold a JSON object, got {type(data).__name__}")
    return data


# -- architectures ----------------------------------------------------------------------------


class LayerFormat(BaseModel):
    """One dense layer of an architecture."""

    model_config = ConfigDict(extra="forbid", strict=True, title="layer")

    units: int = Field(ge=1, le=MAX_UNITS, description="width of the layer")
    activation: Literal[ACTIVATIONS] = Field(  # type: ignore[valid-type]
        "linear", description="softmax only on the last layer"
    )
    telescopic: bool = Field(
        False, description="a linear layer folded into the next one by retraction (not the last)"
    )


class ArchitectureFormat(BaseModel):
    """A Spectral Lab architecture file: the input width, then the layers in order."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Spectral Lab architecture")

    name: str = Field("untitled", max_length=MAX_NAME_LENGTH)
    input_units: int = Field(ge=1, le=MAX_UNITS, description="values per input (784 for MNIST)")
    layers: list[LayerFormat] = Field(max_length=MAX_LAYERS)
    train_input_eigenvalues: bool = Field(
        False, description="also train the first layer's input eigenvalues λ_in"
    )


# -- sweeps -----------------------------------------------------------------------------------


def _sweep_format() -> type[BaseModel]:
    settings = _sweep_settings_model()
    names = tuple(settings.model_fields)
    return pydantic.create_model(  # type: ignore[call-overload]
        "SweepFormat",
        __config__=ConfigDict(extra="forbid", strict=True, title="Spectral Lab sweep"),
        __doc__=(
            "A grid of runs for `spectral-lab sweep`: architectures × regimes × seeds × every "
            "combination of grid values."
        ),
        dataset=(str, Field(
            "mnist", description="mnist, fashion-mnist, or an .npz file / IDX folder (relative "
            "to the sweep file)",
        )),
        limit=(int | None, Field(None, ge=1, description="use the first N training images")),
        test_limit=(int | None, Field(None, ge=1, description="use the first N test images")),
        architectures=(list[str | ArchitectureFormat], Field(
            min_length=1,
            description="preset names, architecture files (relative to the sweep file) or objects",
        )),
        regimes=(list[Literal[REGIMES]], Field(  # type: ignore[valid-type]
            list(REGIMES), min_length=1, description="default: all four",
        )),
        seeds=(int | list[int], Field(
            1, description="N means seeds 0 … N−1; or a list of seeds",
        )),
        settings=(settings, Field(
            default_factory=settings, description="fixed training settings of every run",
        )),
        grid=(dict[Literal[names], list[Any]], Field(  # type: ignore[valid-type]
            default_factory=dict,
            description="training settings mapped to lists of values; every combination runs",
        )),
        keep_weights=(bool, Field(False, description="store the compact kernels of each run")),
        save_models=(bool, Field(False, description="write a run folder per run")),
        tensorboard=(bool, Field(
            False, description="write TensorBoard logs per run (spectrum, weights, HParams)",
        )),
    )


SweepFormat = _sweep_format()


# -- JSON Schemas -----------------------------------------------------------------------------


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of each file format (what docs/schemas/ holds)."""
    models = {
        "training-config.schema.json": training_settings_model(),
        "architecture.schema.json": ArchitectureFormat,
        "sweep.schema.json": SweepFormat,
    }
    return {
        name: {"$schema": SCHEMA_DIALECT, **model.model_json_schema()}
        for name, model in models.items()
    }


def write_schemas(folder: str | os.PathLike[str]) -> list[Path]:
    """Write every JSON Schema into ``folder``; return the files written."""
    from spectral_core.files import atomic_write_text

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        atomic_write_text(target / name, json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(target / name)
    return written


if __name__ == "__main__":
    for path in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"):
        print(f"wrote {path}")
