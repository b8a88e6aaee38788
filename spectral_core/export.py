"""Saving and loading ``.keras`` files: atomic writes, ``safe_mode=True`` loads, clear errors."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras

import spectral_core.layers  # noqa: F401  (registers our layers with Keras before any load)
from spectral_core.files import WriteError, atomic_path

# A .keras archive larger than this is refused before Keras reads it.
MAX_MODEL_BYTES = 2 * 1024**3


class ModelFileError(ValueError):
    """A model file cannot be loaded; the message says which and why."""


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (must end in .keras) atomically; return the path."""
    target = Path(path)
    if target.suffix != ".keras":
        raise WriteError(f"cannot write {target}: a model file name must end in .keras")
    with atomic_path(target) as temp:
        model.save(temp)
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
    try:
        return keras.models.load_model(source, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for corrupt or unsafe files.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{source}: cannot load model: {reason[:500]}") from error
