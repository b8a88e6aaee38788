"""Saving and loading ``.keras`` files: atomic writes, ``safe_mode=True`` loads, clear errors."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras

import spectral_core.layers  # noqa: F401  (registers our layers with Keras before any load)
from spectral_core.architecture import MAX_UNITS
from spectral_core.errors import SpectralLabError
from spectral_core.files import WriteError, atomic_path
from spectral_core.layers import dense_layers

# A .keras archive larger than this is refused before Keras reads it.
MAX_MODEL_BYTES = 2 * 1024**3
MAX_CONFIG_BYTES = 16 * 1024**2
MAX_ARCHIVE_MEMBERS = 10_000
# Deflate cannot exceed ~1032:1; model weights compress far less than this.
MAX_COMPRESSION_RATIO = 100
# Keras writes metadata.json (its version, the date) into every .keras archive and never reads
# it back; Spectral Lab adds what a user of the file needs to know under this key.
KERAS_METADATA = "metadata.json"
METADATA_KEY = "spectral_lab"
MNIST_PIXELS = 784


class ModelFileError(SpectralLabError):
    """A model file cannot be loaded; the message says which and why."""


def _dense_kernel_sizes(node: Any) -> Iterator[int]:
    """Numbers in the kernel of every layer config carrying ``units`` (Dense and our layers)."""
    if isinstance(node, dict):
        config = node.get("config")
        if isinstance(config, dict) and "units" in config:
            units = config["units"]
            build = node.get("build_config")
            shape = build.get("input_shape") if isinstance(build, dict) else None
            while isinstance(shape, list) and shape and isinstance(shape[-1], list):
                shape = shape[-1]  # a layer with several inputs: the last one's shape
            if isinstance(shape, list) and shape:
                fan_in = shape[-1]
            else:
                fan_in = MAX_UNITS  # unknown: assume the widest a layer may be
            for value, name in ((units, "units"), (fan_in, "input width")):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_UNITS:
                    raise ValueError(f"a layer's {name} is {value!r}; allowed: 1 to {MAX_UNITS}")
            yield units * fan_in
        for value in node.values():
            yield from _dense_kernel_sizes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dense_kernel_sizes(value)


def check_model_archive(source: Path) -> None:
    """Refuse a ``.keras`` archive whose content would make Keras allocate huge amounts.

    Keras reads ``config.json`` whole and builds every layer before loading weights, so a
    tiny file could claim a layer of 10⁹ units or decompress to gigabytes. Each layer's kernel
    must be backed by data in the weights file (at least 2 bytes per number, float16).
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise ModelFileError(f"{source}: {len(members)} archive members; not a model file")
            total = 0
            for info in members:
                total += info.file_size
                if info.file_size > 1024**2 and info.file_size > MAX_COMPRESSION_RATIO * max(
                    1, info.compress_size
                ):
                    raise ModelFileError(
                        f"{source}: {info.filename} claims {info.file_size} bytes from "
                        f"{info.compress_size} compressed bytes; refused as a decompression bomb"
                    )
            if total > MAX_MODEL_BYTES:
                raise ModelFileError(
                    f"{source}: unpacks to {total} bytes; at most {MAX_MODEL_BYTES} allowed"
                )
            try:
                config_info = archive.getinfo("config.json")
            except KeyError:
                raise ModelFileError(f"{source}: not a .keras model file (no config.json)") from None
            if config_info.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(
                    f"{source}: config.json is {config_info.file_size} bytes; at most "
                    f"{MAX_CONFIG_BYTES} allowed"
                )
            config = json.loads(archive.read(config_info).decode("utf-8"))
            weight_bytes = sum(
                info.file_size
                for info in members
                if info.filename not in ("config.json", "metadata.json")
            )
    except ModelFileError:
        raise
    except RecursionError:
        raise ModelFileError(f"{source}: config.json is nested too deeply") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise ModelFileError(f"{source}: damaged .keras archive ({error})"[:500]) from None
    try:
        kernel_numbers = sum(_dense_kernel_sizes(config))
    except ValueError as error:
        raise ModelFileError(f"{source}: {error}") from None
    except RecursionError:
        raise ModelFileError(f"{source}: config.json is nested too deeply") from None
    if 2 * kernel_numbers > weight_bytes:
        raise ModelFileError(
            f"{source}: its layers claim {kernel_numbers} weights but the file holds only "
            f"{weight_bytes} bytes of weights; the file is damaged or forged"
        )


def expected_input(features: int) -> str:
    """What a model with ``features`` inputs expects, in words."""
    image = " (a 28×28 image flattened row by row)" if features == MNIST_PIXELS else ""
    return (
        f"{features} values per sample{image}, flattened, float32, scaled to [0, 1] "
        "(pixel / 255); input shape (batch, " + str(features) + ")"
    )


def model_metadata(model: keras.Model) -> dict[str, Any]:
    """What the model's input and output mean, for the ``.keras`` file's metadata."""
    import spectral_core

    features = int(model.inputs[0].shape[-1])
    classes = int(model.outputs[0].shape[-1])
    layers = dense_layers(model)
    last = layers[-1].activation.__name__ if layers else "unknown"
    output = (
        f"{classes} class probabilities (softmax); the predicted class is their argmax"
        if last == "softmax"
        else f"{classes} class scores ({last}); the predicted class is their argmax"
    )
    return {
        "input": {
            "shape": [None, features],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "description": expected_input(features),
        },
        "output": {"shape": [None, classes], "description": output},
        "software": f"Spectral Lab {spectral_core.__version__}",
        "paper": "Giambagli et al., Machine learning in spectral domain, Nat. Commun. 12, 1330 (2021)",
    }


def _add_metadata(archive_path: Path, extra: dict[str, Any]) -> None:
    """Rewrite the ``.keras`` zip at ``archive_path`` with ``extra`` in its metadata.json."""
    rewritten = archive_path.with_name(archive_path.name + ".meta")
    try:
        with zipfile.ZipFile(archive_path) as source, zipfile.ZipFile(rewritten, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                if info.filename == KERAS_METADATA:
                    metadata = json.loads(data.decode("utf-8"))
                    metadata[METADATA_KEY] = extra
                    data = json.dumps(metadata, indent=2).encode("utf-8")
                target.writestr(info, data)
        os.replace(rewritten, archive_path)
    finally:
        rewritten.unlink(missing_ok=True)


def read_model_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Spectral Lab's metadata of a ``.keras`` file ({} when it has none)."""
    source = Path(path)
    try:
        with zipfile.ZipFile(source) as archive:
            metadata = json.loads(archive.read(KERAS_METADATA).decode("utf-8"))
    except KeyError:
        return {}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{source}: cannot read its metadata ({error})"[:500]) from None
    value = metadata.get(METADATA_KEY, {}) if isinstance(metadata, dict) else {}
    return value if isinstance(value, dict) else {}


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (must end in .keras) atomically; return the path.

    The archive's metadata.json also says what the model expects and returns (see
    :func:`model_metadata`; :func:`read_model_metadata` reads it back); plain
    ``keras.models.load_model`` ignores it.
    """
    target = Path(path)
    if target.suffix != ".keras":
        raise WriteError(f"cannot write {target}: a model file name must end in .keras")
    with atomic_path(target) as temp:
        model.save(temp)
        _add_metadata(temp, model_metadata(model))
    return target


def load_model(path: str | os.PathLike[str], *, compile: bool = True) -> keras.Model:
    """Load a ``.keras`` file with Keras's ``safe_mode=True``; errors name the file."""
    source = Path(path)
    if not source.is_file():
        raise ModelFileError(f"{source}: no such model file")
    size = source.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{source}: {size} bytes is larger than the {MAX_MODEL_BYTES} allowed")
    if not zipfile.is_zipfile(source):
        raise ModelFileError(f"{source}: not a .keras model file (it is not a zip archive)")
    check_model_archive(source)
    try:
        return keras.models.load_model(source, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for corrupt or unsafe files.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{source}: cannot load model: {reason[:500]}") from error
