"""The JSON file formats, declared once with pydantic: training settings, architectures, sweeps
and sessions.

Each format is a pydantic model here, and that model is what checks the files: unknown keys are
refused with their path, and :func:`parse` turns pydantic's errors into the library's messages,
which name the field, what it allows and what was given (``layers[1].activation: must be one of
linear, relu, tanh, sigmoid, softmax, got 'rleu'``). Rules that span fields (softmax only on the
last layer, a grid setting not also fixed in ``settings``) are validators of the same models.

- Training settings: generated from :class:`TrainingConfig`'s fields and
  :data:`spectral_core.config.LIMITS` (``TrainingConfig.from_dict``, ``train --config``).
- Architectures: :class:`ArchitectureFormat` (``Architecture.from_dict`` and ``problems``).
- Sweeps: :data:`SweepFormat` (:func:`spectral_core.sweep.parse_sweep`, which then resolves
  files and presets).
- Sessions: :class:`SessionFormat`, the ``session.json`` of format
  :data:`SESSION_FORMAT_VERSION` (:mod:`spectral_core.session` migrates older ones first; arrays
  are archive members named by strings, read and checked there).

``python -m spectral_core.formats docs/schemas`` writes the JSON Schemas (a test checks that
the committed ones are current).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from spectral_core.architecture import (
    ACTIVATIONS,
    MAX_LAYERS,
    MAX_NAME_LENGTH,
    MAX_UNITS,
    Architecture,
    LayerSpec,
)
from spectral_core.config import LIMITS, ConfigError, TrainingConfig
from spectral_core.regimes import REGIMES

MAX_JSON_BYTES = 1_000_000
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
RULE = "format_rule"  # the pydantic error type of the cross-field rules below

Model = TypeVar("Model", bound=BaseModel)


# -- pydantic's errors in the library's words -------------------------------------------------


class FormatProblem(NamedTuple):
    """One problem of a file: the field's path (``layers[1].units``; empty for the whole file)
    and what is wrong (``must be an integer from 1 to 100000, got 0``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FormatErrors(ValueError):
    """A value does not match its format; ``problems`` lists every problem in field order.

    Callers turn it into their own error (ArchitectureError, SweepError, ...)."""

    def __init__(self, problems: list[FormatProblem]) -> None:
        self.problems = problems
        super().__init__(str(problems[0]))

    @property
    def first(self) -> FormatProblem:
        """The problem a one-line error message names."""
        return self.problems[0]


# Models whose keys are training settings: their unknown keys are "settings", not "fields".
_SETTING_MODELS: set[type[BaseModel]] = set()


def parse(model: type[Model], data: Any, what: str) -> Model:
    """``data`` validated by ``model``; else :class:`FormatErrors` naming each bad field.

    ``what`` names the whole value in a message about it (``the architecture must be a JSON
    object, got list``).
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise FormatErrors(explain(error, model, what)) from None


def explain(error: pydantic.ValidationError, model: type[BaseModel], what: str) -> list[FormatProblem]:
    """Every problem of ``error`` (raised by ``model``) as a path and a message that says what
    the field allows and what was given; one problem per path, unknown keys first, then in
    field order."""
    found: dict[str, FormatProblem] = {}
    details = error.errors()
    # A misspelt key comes first: the "is required" of the key it meant follows from it.
    details.sort(key=lambda detail: detail["type"] != "extra_forbidden")
    for detail in details:
        problem = _explain_one(detail, model, what)
        # A union's members each report the same field; the first says it.
        found.setdefault(problem.path, problem)
    return list(found.values())


def _explain_one(detail: Any, model: type[BaseModel], what: str) -> FormatProblem:
    kind, location, given = detail["type"], detail["loc"], detail.get("input")
    if kind == RULE:
        path, *_ = _locate(model, location)
        return FormatProblem(path, detail["msg"])
    if not location:
        return FormatProblem("", f"the {what} must be a JSON object, got {type(given).__name__}")
    path, annotation, metadata, owner = _locate(model, location)
    if kind == "extra_forbidden" and owner is not None:
        noun = "setting" if owner in _SETTING_MODELS else "field"
        return FormatProblem(
            path, f"unknown {noun}; allowed {noun}s are {', '.join(owner.model_fields)}"
        )
    if kind == "missing":
        return FormatProblem(path, "is required")
    if annotation is None:
        return FormatProblem(path, detail["msg"])
    counted = _count_text(annotation, metadata)
    if kind in ("too_short", "too_long") and counted and isinstance(given, list):
        return FormatProblem(path, f"{counted}, got {len(given)}")
    return FormatProblem(path, f"{allowed_text(annotation, metadata)}, got {_shown(kind, given)}")


def _count_text(annotation: Any, metadata: list[Any]) -> str:
    """``must hold 1 to 64 layers`` for a list of titled objects (layers, runs), else ''."""
    bare, metadata, _ = _peel(annotation, metadata)
    if typing.get_origin(bare) is not list:
        return ""
    item, _, _ = _peel(typing.get_args(bare)[0], [])
    title = item.model_config.get("title") if _is_model(item) else None
    limits = _bounds(metadata)
    low, high = limits.get("min_length", 0), limits.get("max_length")
    if not title or (not low and high is None):
        return ""
    count = f"{low} to {high}" if low and high is not None else (
        f"at least {low}" if low else f"at most {high}"
    )
    return f"must hold {count} {title}s"


def _shown(kind: str, given: Any) -> str:
    if kind in ("too_short", "too_long") and isinstance(given, (list, dict)):
        if not given:
            return "an empty list" if isinstance(given, list) else "an empty object"
        return f"a list of {len(given)}" if isinstance(given, list) else f"{len(given)} entries"
    return repr(given)[:200]


def _peel(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any], bool]:
    """``annotation`` without Annotated and None: (bare type, its constraints, nullable)."""
    metadata = list(metadata)
    nullable = False
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation, *extras = typing.get_args(annotation)
            for extra in extras:
                metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        elif _is_union(annotation) and type(None) in typing.get_args(annotation):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
            nullable = True
        else:
            return annotation, metadata, nullable


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag(member: Any) -> str | None:
    _, metadata, _ = _peel(member, [])
    return next((item.tag for item in metadata if isinstance(item, Tag)), None)


def _locate(
    model: type[BaseModel], location: tuple[Any, ...]
) -> tuple[str, Any, list[Any], type[BaseModel] | None]:
    """Follow pydantic's error location through ``model``'s annotations: the path as the
    library writes it, the annotation and constraints found there, and the model the last key
    belongs to (None when the location leaves the declared types)."""
    path = ""
    annotation: Any = model
    metadata: list[Any] = []
    owner: type[BaseModel] | None = None
    key_type: Any = None
    for key in location:
        bare, metadata, _ = _peel(annotation, metadata)
        origin = typing.get_origin(bare)
        if key == "[key]" and key_type is not None:  # a dict's key is what was wrong
            path, annotation, metadata = f"{path} (key)", key_type, []
        elif _is_model(bare) and isinstance(key, str):
            owner = bare
            path = f"{path}.{key}" if path else key
            field = bare.model_fields.get(key)
            if field is None:
                return path, None, [], owner
            annotation = field.annotation
            metadata = list(field.metadata)
            if isinstance(field.discriminator, Discriminator):
                metadata.append(field.discriminator)
        elif origin in (list, tuple) and isinstance(key, int):
            path, annotation, metadata = f"{path}[{key}]", typing.get_args(bare)[0], []
        elif origin is dict and isinstance(key, str):
            key_type, annotation = typing.get_args(bare)
            path, metadata = f"{path}.{key}", []
            continue
        elif _is_union(bare) and key in [_tag(member) for member in typing.get_args(bare)]:
            annotation = next(m for m in typing.get_args(bare) if _tag(m) == key)
            metadata = []
        else:
            return path, annotation, metadata, owner  # a union member's name: the field is here
        key_type = None
    return path, annotation, metadata, owner


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    found = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _range_text(limits: dict[str, Any], integer: bool = False) -> str:
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
    if low.startswith("from"):
        number = low.removeprefix("from ")
        return f"of at least {number}" if integer else f"{number} or more"
    if low:
        return low
    return high.replace("to below", "below").replace("to ", "at most ")


def allowed_text(annotation: Any, metadata: list[Any] = ()) -> str:  # type: ignore[assignment]
    """What a value of ``annotation`` (with constraints ``metadata``) may be, in the words of
    the library's messages: ``must be an integer from 1 to 100000``, ``must be one of ...``."""
    bare, metadata, nullable = _peel(annotation, list(metadata))
    text = f"must be {_wanted(bare, _bounds(metadata))}"
    return f"{text} (or null)" if nullable else text


def _wanted(bare: Any, limits: dict[str, Any]) -> str:
    origin = typing.get_origin(bare)
    if origin is Literal:
        choices = typing.get_args(bare)
        return str(choices[0]) if len(choices) == 1 else f"one of {', '.join(map(str, choices))}"
    if _is_union(bare):
        members = typing.get_args(bare)
        tags = [_tag(member) for member in members]
        if all(tags):
            return " or ".join(typing.cast(list[str], tags))
        if bool in members:  # true, false or "auto"
            words = ["true", "false"] + [
                json.dumps(choice)
                for member in members if typing.get_origin(member) is Literal
                for choice in typing.get_args(member)
            ]
            return f"{', '.join(words[:-1])} or {words[-1]}"
        return " or ".join(_wanted(*_peel(member, [])[:1], {}) for member in members)
    if bare is bool:
        return "true or false"
    if bare is int:
        bounds = _range_text(limits, integer=True)
        return f"an integer {bounds}" if bounds else "an integer"
    if bare is float:
        return _range_text(limits) or "a number"
    if bare is str:
        text = "a non-empty string" if limits.get("min_length") else "a string"
        if "max_length" in limits:
            text += f" of at most {limits['max_length']} characters"
        return text
    if origin in (list, tuple):
        text = "a non-empty list" if limits.get("min_length") == 1 else "a list"
        count = ""
        if limits.get("min_length", 0) > 1 and "max_length" in limits:
            count = f"{limits['min_length']} to {limits['max_length']}"
        elif "max_length" in limits:
            count = f"at most {limits['max_length']}"
        item = typing.get_args(bare)[0]
        items = " ".join(part for part in (count, _plural(item)) if part)
        text = f"{text} of {items}" if items else text
        if _is_union(_peel(item, [])[0]) and not _plural(item):
            text += f", each {_wanted(_peel(item, [])[0], {})}"  # each a name or an object
        return text
    if origin is dict:
        if "max_length" in limits:
            return f"an object of at most {limits['max_length']} entries"
        return "an object"
    if _is_model(bare):
        return "an object"
    return f"a {getattr(bare, '__name__', bare)}"


def _plural(item: Any) -> str:
    """``layer objects``, ``integers from 0 to 9``: what a list holds, or ''."""
    bare, metadata, _ = _peel(item, [])
    limits = _bounds(metadata)
    if _is_model(bare):
        title = bare.model_config.get("title")
        return f"{title} objects" if title else "objects"
    if typing.get_origin(bare) is Literal:
        return f"values among {', '.join(map(str, typing.get_args(bare)))}"
    if bare is int:
        return f"integers {_range_text(limits, integer=True)}".rstrip()
    if bare is float:
        return f"numbers {_range_text(limits)}".rstrip()
    if bare is str:
        return "strings"
    return ""


# -- training settings ------------------------------------------------------------------------


def _setting_kinds(exclude: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    """Setting name → (type, default, limits and description) from TrainingConfig and LIMITS."""
    hints = typing.get_type_hints(TrainingConfig)
    kinds = {}
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
        kinds[field.name] = (kind, field.default, limits)
    return kinds


def _settings_model(name: str, doc: str, exclude: tuple[str, ...] = (), **config: Any) -> Any:
    fields = {
        setting: (kind, Field(default, **limits))
        for setting, (kind, default, limits) in _setting_kinds(exclude).items()
    }
    model = pydantic.create_model(  # type: ignore[call-overload]
        name, __config__=ConfigDict(extra="forbid", strict=True, **config), __doc__=doc, **fields
    )
    _SETTING_MODELS.add(model)
    return model


@functools.cache
def training_settings_model() -> type[BaseModel]:
    """The pydantic model of a training-settings JSON object (every field of TrainingConfig)."""
    return _settings_model(  # type: ignore[no-any-return]
        "TrainingConfig",
        "Settings of one training run (spectral-lab train --config FILE).",
        title="Spectral Lab training settings",
    )


def check_training_settings(data: Any) -> None:
    """Raise :class:`ConfigError` for the first unknown, mistyped or out-of-range setting."""
    try:
        parse(training_settings_model(), data, "training settings")
    except FormatErrors as errors:
        raise ConfigError(str(errors.first)) from None


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


def _rule(location: tuple[Any, ...], given: Any, message: str) -> dict[str, Any]:
    """A pydantic error detail for a cross-field rule (the message is used as is)."""
    return {
        "type": PydanticCustomError(RULE, "{rule}", {"rule": message}),
        "loc": location,
        "input": given,
    }


def _reraisable(detail: Any) -> dict[str, Any]:
    if detail["type"] == RULE:
        return _rule(detail["loc"], detail.get("input"), detail["msg"])
    return {key: detail[key] for key in ("type", "loc", "input", "ctx") if key in detail}


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


def _layer_rule_errors(data: Any) -> list[dict[str, Any]]:
    """Softmax only on the last layer; telescopic layers are linear and not the last. Read
    from the raw value so that they are reported beside the field errors, all at once."""
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return []
    found = []
    last = len(layers) - 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        activation = layer.get("activation", "linear")
        if activation == "softmax" and index != last:
            found.append(_rule(
                ("layers", index, "activation"), activation,
                "softmax is allowed only on the last layer",
            ))
        if layer.get("telescopic") is not True:
            continue
        if activation != "linear":
            found.append(_rule(
                ("layers", index, "telescopic"), True,
                f"only linear layers can be telescopic, this one is {activation}"[:300],
            ))
        elif index == last:
            found.append(_rule(
                ("layers", index, "telescopic"), True,
                "the last layer cannot be telescopic: there is no next layer to fold it into",
            ))
    return found


class ArchitectureFormat(BaseModel):
    """A Spectral Lab architecture file: the input width, then the layers in order."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Spectral Lab architecture")

    name: str = Field("untitled", max_length=MAX_NAME_LENGTH)
    input_units: int = Field(ge=1, le=MAX_UNITS, description="values per input (784 for MNIST)")
    layers: list[LayerFormat] = Field(min_length=1, max_length=MAX_LAYERS)
    train_input_eigenvalues: bool = Field(
        False, description="also train the first layer's input eigenvalues λ_in"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _layer_rules(cls, data: Any, handler: Any) -> Any:
        errors: list[dict[str, Any]] = []
        checked = None
        try:
            checked = handler(data)
        except pydantic.ValidationError as error:
            errors = [_reraisable(detail) for detail in error.errors()]
        errors += _layer_rule_errors(data)
        if errors:
            errors.sort(key=lambda detail: _architecture_order(detail["loc"]))
            raise pydantic.ValidationError.from_exception_data(cls.__name__, errors)  # type: ignore[arg-type]
        return checked

    def to_architecture(self) -> Architecture:
        """The validated file as an :class:`Architecture` value."""
        layers = tuple(LayerSpec(l.units, l.activation, l.telescopic) for l in self.layers)  # noqa: E741
        return Architecture(self.name, self.input_units, layers, self.train_input_eigenvalues)


_ARCHITECTURE_KEYS = {
    name: position
    for keys in (ArchitectureFormat.model_fields, LayerFormat.model_fields)
    for position, name in enumerate(keys)
}


def _architecture_order(location: tuple[Any, ...]) -> tuple[int, ...]:
    """Field order (name, input_units, layers[0].units, layers[0].activation, ...)."""
    return tuple(
        key if isinstance(key, int) else _ARCHITECTURE_KEYS.get(key, len(_ARCHITECTURE_KEYS))
        for key in location
    )


def architecture_problems(data: Any) -> list[FormatProblem]:
    """Every problem of an architecture's JSON value, in field order ([] when valid)."""
    try:
        parse(ArchitectureFormat, data, "architecture")
    except FormatErrors as errors:
        return errors.problems
    return []


# -- sweeps -----------------------------------------------------------------------------------


def _architecture_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "a preset or file name"
    return "an architecture object" if isinstance(value, dict) else None


def _seeds_kind(value: Any) -> str:
    return "a list of seeds" if isinstance(value, list) else "a number of seeds"


def _grid_model() -> Any:
    fields = {
        name: (
            list[Annotated[kind, Field(**{k: v for k, v in limits.items() if k != "description"})]],
            Field(default_factory=list, min_length=1),
        )
        for name, (kind, _, limits) in _setting_kinds(exclude=("seed",)).items()
    }
    model = pydantic.create_model(  # type: ignore[call-overload]
        "SweepGrid",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="Training settings mapped to lists of values; every combination runs.",
        **fields,
    )
    _SETTING_MODELS.add(model)
    return model


def _grid_not_in_settings(sweep: Any) -> Any:
    """A setting is either fixed (settings) or varied (grid), not both."""
    for name in type(sweep.grid).model_fields:
        if name in sweep.grid.model_fields_set and name in sweep.settings.model_fields_set:
            raise pydantic.ValidationError.from_exception_data("SweepFormat", [  # type: ignore[list-item]
                _rule(("grid", name), getattr(sweep.grid, name),
                      "is also in settings; give it in one place only"),
            ])
    return sweep


def _sweep_format() -> type[BaseModel]:
    settings = _settings_model(
        "SweepSettings", "Fixed training settings of every run (the seed comes from seeds).",
        exclude=("seed",),
    )
    grid = _grid_model()
    architecture = Annotated[
        Annotated[str, Tag("a preset or file name")]
        | Annotated[ArchitectureFormat, Tag("an architecture object")],
        Discriminator(_architecture_kind),
    ]
    seeds = Annotated[
        Annotated[int, Field(ge=1), Tag("a number of seeds")]
        | Annotated[
            list[Annotated[int, Field(ge=0, le=2**31 - 1)]],
            Field(min_length=1), Tag("a list of seeds"),
        ],
        Discriminator(_seeds_kind),
    ]
    return pydantic.create_model(  # type: ignore[call-overload,no-any-return]
        "SweepFormat",
        __config__=ConfigDict(extra="forbid", strict=True, title="Spectral Lab sweep"),
        __doc__=(
            "A grid of runs for `spectral-lab sweep`: architectures × regimes × seeds × every "
            "combination of grid values."
        ),
        __validators__={"grid_not_in_settings": model_validator(mode="after")(_grid_not_in_settings)},
        dataset=(str, Field(
            "mnist", min_length=1, description="mnist, fashion-mnist, or an .npz file / IDX "
            "folder (relative to the sweep file)",
        )),
        limit=(int | None, Field(None, ge=1, description="use the first N training images")),
        test_limit=(int | None, Field(None, ge=1, description="use the first N test images")),
        architectures=(list[architecture], Field(  # type: ignore[valid-type]
            min_length=1,
            description="preset names, architecture files (relative to the sweep file) or objects",
        )),
        regimes=(list[Literal[REGIMES]], Field(  # type: ignore[valid-type]
            list(REGIMES), min_length=1, description="default: all four",
        )),
        seeds=(seeds, Field(1, description="N means seeds 0 … N−1; or a list of seeds")),
        settings=(settings, Field(
            default_factory=settings, description="fixed training settings of every run",
        )),
        grid=(grid, Field(
            default_factory=grid,
            description="training settings mapped to lists of values; every combination runs",
        )),
        keep_weights=(bool, Field(False, description="store the compact kernels of each run")),
        save_models=(bool, Field(False, description="write a run folder per run")),
        tensorboard=(bool, Field(
            False, description="write TensorBoard logs per run (spectrum, weights, HParams)",
        )),
    )


SweepFormat = _sweep_format()


# -- sessions ---------------------------------------------------------------------------------

SESSION_FORMAT_VERSION = 3
# Bounds that no real session comes near; they keep a hostile file from exhausting memory.
MAX_RUNS = 10_000
MAX_EPOCH_ROWS = 10_000
MAX_ROW_KEYS = 64
MAX_TEXT_LENGTH = 4096
MAX_ANALYSIS_LAYERS = 256

Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
# An archive member holding one .npy array (read and checked by spectral_core.session).
Member = Annotated[str, Field(max_length=MAX_TEXT_LENGTH, description="archive member (.npy)")]
# JSON has no NaN: null is a metric that is not available.
Metric = float | None


TrainingSettings = training_settings_model()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class HistogramFormat(_Strict):
    """One layer's histogram: counts (1-d, or epochs × bins) and bin edges (one more)."""

    counts: Member
    edges: Member


class LayerEigenvaluesFormat(_Strict):
    """One layer's eigenvalues, epochs × nodes each."""

    eigvals_in: Member
    eigvals_out: Member


class EigenvaluesFormat(_Strict):
    """The eigenvalues per epoch: one label per row, one pair of matrices per layer."""

    labels: list[Text] = Field(max_length=MAX_EPOCH_ROWS + 1)
    layers: dict[Text, LayerEigenvaluesFormat] = Field(max_length=MAX_ANALYSIS_LAYERS)


Histograms = Annotated[dict[Text, HistogramFormat], Field(max_length=MAX_ANALYSIS_LAYERS)]


class AnalysisFormat(_Strict):
    """What the plots of one run draw; every array is an archive member."""

    batch_points: Member = Field(description="(n, 3): position, loss, accuracy")
    eigenvalues: EigenvaluesFormat
    histograms: Histograms = Field(description="final, per layer")
    histogram_history: Histograms = Field(description="epochs × bins, per layer")
    compact_histograms: Histograms = Field(description="the compact model's, epochs × bins")


class ReportFormat(_Strict):
    """How the compact model compares with the full one on the test set."""

    trainable_before: int = Field(ge=0)
    total_before: int = Field(ge=0)
    total_after: int = Field(ge=0)
    layers_before: int = Field(ge=0)
    layers_after: int = Field(ge=0)
    accuracy_before: Metric
    accuracy_after: Metric
    max_abs_difference: Metric



class RunFormat(_Strict):
    """One run of a session (spectral_core.record.RunRecord)."""

    model_config = ConfigDict(title="run")

    name: Text
    architecture: ArchitectureFormat
    regime: Literal[REGIMES]  # type: ignore[valid-type]
    config: TrainingSettings  # type: ignore[valid-type]
    dataset: Text
    history: list[
        Annotated[dict[Text, Metric], Field(max_length=MAX_ROW_KEYS)]
    ] = Field(max_length=MAX_EPOCH_ROWS, description="one row of metrics per finished epoch")
    test_accuracy: Metric = None
    test_loss: Metric = None
    retracted: bool = Field(False, description="the compact model is the active one")
    ended: Text = Field("", description="how the run ended, in words")
    weights: list[Member] | None = Field(None, description="model.get_weights() order")
    stopped: bool = False
    diverged: bool = False
    continued_from: Text = Field("", description="the name of the run this one continued")
    seconds: Metric = Field(None, description="wall time of the training loop")
    report: ReportFormat | None = None
    analysis: AnalysisFormat | None = None


class SessionFormat(_Strict):
    """The session.json of a Spectral Lab session file (*.spectral, a zip archive)."""

    model_config = ConfigDict(title="Spectral Lab session")

    format_version: Literal[SESSION_FORMAT_VERSION]  # type: ignore[valid-type]
    application: Text = "spectral-lab"
    architecture: ArchitectureFormat
    regime: Literal[REGIMES]  # type: ignore[valid-type]
    config: TrainingSettings  # type: ignore[valid-type]
    dataset: Text
    runs: list[RunFormat] = Field(max_length=MAX_RUNS)


# -- JSON Schemas -----------------------------------------------------------------------------


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of each file format (what docs/schemas/ holds)."""
    models = {
        "training-config.schema.json": training_settings_model(),
        "architecture.schema.json": ArchitectureFormat,
        "sweep.schema.json": SweepFormat,
        "session.schema.json": SessionFormat,
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
