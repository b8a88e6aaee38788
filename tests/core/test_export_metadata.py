"""Exported .keras files say what input the model expects (784 values, flattened, in [0, 1]) in
their metadata.json, and plain Keras still loads them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.export import (
    METADATA_KEY,
    ModelFileError,
    expected_input,
    load_model,
    read_model_metadata,
    save_model,
)


def plain_dense(features: int = 784, activation: str = "softmax") -> keras.Model:
    inputs = keras.Input((features,))
    return keras.Model(inputs, keras.layers.Dense(10, activation=activation)(inputs))


def test_metadata_states_the_expected_input_and_output(tmp_path: Path) -> None:
    path = save_model(plain_dense(), tmp_path / "compact.keras")
    metadata = read_model_metadata(path)
    assert metadata["input"]["shape"] == [None, 784]
    assert metadata["input"]["dtype"] == "float32" and metadata["input"]["range"] == [0.0, 1.0]
    description = metadata["input"]["description"]
    assert "784 values" in description and "flattened" in description and "[0, 1]" in description
    assert "28×28" in description
    assert "10 class probabilities (softmax)" in metadata["output"]["description"]
    assert metadata["software"].startswith("Spectral Lab ")
    # Keras's own metadata is kept beside it.
    with zipfile.ZipFile(path) as archive:
        raw = json.loads(archive.read("metadata.json"))
    assert "keras_version" in raw and METADATA_KEY in raw


def test_plain_keras_loads_the_file_with_identical_predictions(tmp_path: Path) -> None:
    model = plain_dense()
    path = save_model(model, tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 1, size=(5, 784)).astype("float32")
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert load_model(path).count_params() == model.count_params()


def test_a_spectral_model_and_other_input_sizes(tmp_path: Path) -> None:
    architecture = Architecture("small", 64, (LayerSpec(10, "linear"),))
    path = save_model(build_model(architecture, "lambda", compile=False), tmp_path / "full.keras")
    metadata = read_model_metadata(path)
    assert metadata["input"]["description"].startswith("64 values per sample, flattened")
    assert "scores (linear)" in metadata["output"]["description"]
    assert "28×28" not in expected_input(64)


def test_files_without_or_with_broken_metadata(tmp_path: Path) -> None:
    bare = tmp_path / "bare.keras"
    plain_dense().save(bare)
    assert read_model_metadata(bare) == {}
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="broken.keras"):
        read_model_metadata(broken)
    assert not list(tmp_path.glob("*.meta")), "no temporary file is left behind"
