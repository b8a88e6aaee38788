"""Retraction (compact == full within float32 round-off) and .keras export round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from tolerances import FLOAT32

from resources import PRESETS
from spectral_core import export
from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.build import build_model
from spectral_core.export import ModelFileError, load_model, save_model
from spectral_core.files import WriteError
from spectral_core.layers import dense_layers
from spectral_core.regimes import REGIMES
from spectral_core.retraction import folded_layers, retract
from spectral_core.training import predict

# The deep linear l=5 preset's shape (784 → linear → linear → linear → 10) with narrow layers.
LINEAR_CASCADE = Architecture(
    "deep linear l=5 (narrow)",
    784,
    (
        LayerSpec(40, "linear", True),
        LayerSpec(30, "linear", True),
        LayerSpec(20, "linear", True),
        LayerSpec(10, "softmax"),
    ),
)
NONLINEAR = Architecture.load(PRESETS / "nonlinear.json")


def trained(architecture: Architecture, regime: str, digits=None) -> keras.Model:
    """A model whose trainable weights moved away from their initial values, as training does.

    Moving them directly (instead of running fit) keeps these tests quick; the training tests
    cover real optimizer steps.
    """
    model = build_model(architecture, regime, seed=4, compile=False)
    rng = np.random.default_rng(4)
    for weight in model.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        moved = value * (1 + 0.5 * rng.uniform(-1, 1, value.shape)) + rng.uniform(
            -0.3, 0.3, value.shape
        )
        weight.assign(moved.astype("float32"))
    return model


def assert_plain_dense(compact: keras.Model, shapes: list[tuple[int, int, str]]) -> None:
    layers = compact.layers[1:]
    assert all(type(layer) is keras.layers.Dense for layer in layers)
    assert [
        (layer.kernel.shape[0], layer.kernel.shape[1], layer.activation.__name__)
        for layer in layers
    ] == shapes


@pytest.mark.parametrize("regime", REGIMES)
def test_linear_cascade_folds_into_one_perceptron(regime, digits):
    model = trained(LINEAR_CASCADE, regime, digits)
    flags = [layer.telescopic for layer in LINEAR_CASCADE.layers]
    compact = retract(model, flags)
    assert_plain_dense(compact, [(784, 10, "softmax")])
    x = digits.x_test
    assert np.max(np.abs(predict(compact, x) - predict(model, x))) < 1e-4
    # Independent float64 check of the fold itself: a product of the effective kernels.
    kernels = [layer_weights[0] for layer_weights in map(_effective, dense_layers(model))]
    product = kernels[0] @ kernels[1] @ kernels[2] @ kernels[3]
    np.testing.assert_allclose(folded_layers(model, flags)[0].kernel, product, rtol=1e-12)


def _effective(layer):
    from spectral_core.layers import effective_weights

    return effective_weights(layer)


@pytest.mark.parametrize("regime", REGIMES)
def test_nonlinear_preset_keeps_relu_and_softmax_layers(regime, digits):
    model = trained(NONLINEAR, regime, digits)
    compact = retract(model, [layer.telescopic for layer in NONLINEAR.layers])
    assert_plain_dense(compact, [(784, 120, "relu"), (120, 10, "softmax")])
    x = digits.x_test
    full_out, compact_out = predict(model, x), predict(compact, x)
    assert np.max(np.abs(compact_out - full_out)) < 1e-4
    assert np.array_equal(np.argmax(full_out, 1), np.argmax(compact_out, 1))


def test_logits_agree_too_when_the_last_layer_is_linear(digits):
    """Probabilities squash differences; raw linear outputs are the stricter comparison."""
    architecture = Architecture(
        "logits", 784, (LayerSpec(50, "linear", True), LayerSpec(10, "linear"))
    )
    model = build_model(architecture, "lambda-phi", seed=1)
    rng = np.random.default_rng(0)
    for layer in dense_layers(model):
        layer.eigvals_out.assign(rng.uniform(-1, 1, layer.units).astype("float32"))
    compact = retract(model)
    full_out = predict(model, digits.x_test)
    assert np.max(np.abs(full_out)) > 1.0
    scale = np.max(np.abs(full_out))
    assert np.max(np.abs(predict(compact, digits.x_test) - full_out)) < 1e-5 * scale


def test_retraction_refuses_inconsistent_flags():
    model = build_model(NONLINEAR, "direct-full", compile=False)
    with pytest.raises(ValueError, match="expected 3 flags"):
        retract(model, [True, False])
    with pytest.raises(ValueError, match="activation is relu"):
        retract(model, [False, True, False])
    linear_last = build_model(
        Architecture("l", 5, (LayerSpec(4), LayerSpec(3))), "lambda", compile=False
    )
    with pytest.raises(ValueError, match="no next layer"):
        retract(linear_last, [False, True])


# -- export ---------------------------------------------------------------------------

FRESH_PROCESS_REGIMES = ("lambda", "direct-subset")
LOAD_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras

    folder, regimes = sys.argv[1], sys.argv[2:]
    x = np.load(folder + "/x.npy")
    report = {}
    for regime in regimes:
        compact = keras.models.load_model(f"{folder}/compact-{regime}.keras", safe_mode=True)
        np.save(f"{folder}/compact-{regime}.npy", compact.predict(x, verbose=0))
    report["project_imported_for_compact"] = any(
        name == "spectral_core" or name.startswith("spectral_core.") for name in sys.modules
    )
    try:
        keras.models.load_model(f"{folder}/full-{regimes[0]}.keras", safe_mode=True)
        report["full_without_project"] = "loaded"
    except Exception as error:
        report["full_without_project"] = type(error).__name__
    import spectral_core.layers  # registers SpectralDense and MaskedDense with Keras

    for regime in regimes:
        full = keras.models.load_model(f"{folder}/full-{regime}.keras", safe_mode=True)
        np.save(f"{folder}/full-{regime}.npy", full.predict(x, verbose=0))
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_export_round_trip_in_a_fresh_process(digits, tmp_path: Path):
    """compact.keras needs plain Keras only; full.keras needs our layers registered."""
    x = digits.x_test[:50]
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for regime in FRESH_PROCESS_REGIMES:
        model = trained(NONLINEAR, regime)
        compact = retract(model)
        save_model(model, tmp_path / f"full-{regime}.keras")
        save_model(compact, tmp_path / f"compact-{regime}.keras")
        expected[f"full-{regime}"] = predict(model, x)
        expected[f"compact-{regime}"] = predict(compact, x)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_IN_FRESH_PROCESS, str(tmp_path), *FRESH_PROCESS_REGIMES],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["project_imported_for_compact"] is False
    # Keras cannot rebuild our layers until the project registers them (safe_mode stays on).
    assert report["full_without_project"] != "loaded"
    for name, outputs in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), outputs, **FLOAT32)


@pytest.mark.parametrize("regime", REGIMES)
def test_full_model_reloads_with_identical_predictions_and_flags(regime, digits, tmp_path: Path):
    model = trained(LINEAR_CASCADE, regime, digits)
    path = save_model(model, tmp_path / "full.keras")
    loaded = load_model(path)
    x = digits.x_test
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    assert [(w.name, w.trainable) for w in loaded.weights] == [
        (w.name, w.trainable) for w in model.weights
    ]
    for original, copy in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(original, copy)
    # Retraction still works on the reloaded model (flags travel in the layer config).
    if regime != "direct-full":
        np.testing.assert_array_equal(
            folded_layers(loaded)[0].kernel, folded_layers(model)[0].kernel
        )


@pytest.fixture(scope="module")
def small_model() -> keras.Model:
    architecture = Architecture("tiny", 6, (LayerSpec(3, "softmax"),))
    return build_model(architecture, "lambda", compile=False)


def test_export_to_missing_folder_names_it(small_model, tmp_path: Path):
    target = tmp_path / "absent" / "model.keras"
    with pytest.raises(WriteError, match="absent.*does not exist"):
        save_model(small_model, target)
    assert not (tmp_path / "absent").exists()


def test_export_below_a_regular_file_fails_cleanly(small_model, tmp_path: Path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(WriteError, match="file.txt"):
        save_model(small_model, blocker / "model.keras")
    assert blocker.read_text() == "not a folder"


def test_export_to_read_only_folder_leaves_nothing(small_model, tmp_path: Path, monkeypatch):
    """Tests run as root, so a read-only folder is simulated where the temp file is created."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError, match=r"model\.keras: Permission denied"):
        save_model(small_model, tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_keeps_the_old_file_and_no_partial(small_model, tmp_path: Path, monkeypatch):
    target = tmp_path / "model.keras"
    target.write_bytes(b"previous export")

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError, match="Permission denied"):
        save_model(small_model, target)
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_failure_while_writing_leaves_no_partial_file(small_model, tmp_path: Path, monkeypatch):
    def half_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", half_write)
    with pytest.raises(WriteError, match="No space left"):
        save_model(small_model, tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []


def test_model_file_name_must_end_in_keras(small_model, tmp_path: Path):
    with pytest.raises(WriteError, match="must end in .keras"):
        save_model(small_model, tmp_path / "model.h5")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such model file"),
        (b"plain text", "not a zip archive"),
        ("zip", "(damaged|cannot load)"),
    ],
)
def test_loading_bad_model_files_names_the_file(content, message, tmp_path: Path):
    path = tmp_path / "broken.keras"
    if content == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", "{not json")
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=rf"broken\.keras.*{message}"):
        load_model(path)


def test_export_module_registers_layers_on_import():
    assert "spectral_lab>SpectralDense" in keras.saving.get_custom_objects()
    assert export.MAX_MODEL_BYTES > 0


IMPORT_PACKAGE_THEN_LOAD = textwrap.dedent(
    """
    import json, sys
    import spectral_core

    heavy = [name for name in ("keras", "tensorflow") if name in sys.modules]
    import numpy as np
    import keras

    model = keras.models.load_model(sys.argv[1] + "/full.keras", safe_mode=True)
    np.save(sys.argv[1] + "/out.npy", model.predict(np.load(sys.argv[1] + "/x.npy"), verbose=0))
    print(json.dumps({"heavy_after_package_import": heavy}))
    """
)


@pytest.mark.slow
def test_importing_the_package_is_enough_to_load_full_models(digits, tmp_path: Path):
    """`import spectral_core` stays light (no TensorFlow) yet registers the layers for Keras."""
    model = trained(LINEAR_CASCADE, "lambda")
    save_model(model, tmp_path / "full.keras")
    x = digits.x_test[:20]
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PACKAGE_THEN_LOAD, str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"heavy_after_package_import": []}
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), predict(model, x), **FLOAT32)
