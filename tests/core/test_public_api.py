"""`import spectral_core as sc` is the library's API: light to import, documented, complete."""

from __future__ import annotations

import ast
import inspect
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spectral_core as sc

REQUIRED = (
    "load_preset", "Architecture", "LayerSpec", "TrainingConfig", "build_model", "train", "retract",
    "compare_retraction", "save_model", "load_model", "load_dataset", "parameter_counts",
    "SpectralDense", "MaskedDense", "SnapshotCallback", "SpectralLabError",
)
# Keras calls these on a layer; their contract is Keras's documentation.
KERAS_OVERRIDES = {"build", "call", "compute_output_shape", "get_config"}


def test_the_api_is_in_all_and_dir():
    assert set(REQUIRED) <= set(sc.__all__)
    assert set(sc.__all__) <= set(dir(sc))
    for name in sc.__all__:
        assert getattr(sc, name) is not None, name


def test_every_public_name_is_documented():
    for name in sc.__all__:
        value = getattr(sc, name)
        if callable(value):
            assert inspect.getdoc(value), name
    assert sc.__doc__ and all(name in sc.__doc__ for name in REQUIRED)


def test_importing_the_package_imports_no_tensorflow_until_a_model_is_needed():
    code = (
        "import json, sys\n"
        "import spectral_core as sc\n"
        "heavy = lambda: [m for m in ('keras', 'tensorflow') if m in sys.modules]\n"
        "first = heavy()\n"
        "count = sc.parameter_counts(sc.load_preset('perceptron'), 'lambda').trainable\n"
        "config = sc.TrainingConfig(epochs=1)\n"
        "light = heavy()\n"
        "sc.build_model\n"
        "print(json.dumps([first, count, light, heavy()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=Path(sc.__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, count, light, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert (first, count, light) == ([], 794, [])
    assert "keras" in after


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no_such_thing"):
        sc.no_such_thing  # noqa: B018


def public_functions_without_docstrings(root: Path) -> list[str]:
    missing = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())

        def visit(body: list[ast.stmt], owner: str = "") -> None:
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    public = not node.name.startswith("_") and node.name not in KERAS_OVERRIDES
                    if public and ast.get_docstring(node) is None:
                        missing.append(f"{path.relative_to(root)}:{node.lineno} {owner}{node.name}")  # noqa: B023
                elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    if ast.get_docstring(node) is None:
                        missing.append(f"{path.relative_to(root)}:{node.lineno} class {node.name}")  # noqa: B023
                    visit(node.body, f"{node.name}.")

        visit(tree.body)
    return missing


def test_every_public_function_and_class_has_a_docstring():
    assert public_functions_without_docstrings(Path(sc.__file__).parent) == []


def test_one_default_initialization_everywhere():
    default = sc.TrainingConfig().initialization
    assert inspect.signature(sc.build_model).parameters["initialization"].default == default


def test_every_error_about_input_shares_one_base():
    from spectral_core import (
        architecture,
        cli,
        config,
        data,
        devices,
        experiments,
        export,
        files,
        pruning,
        regimes,
        safe_arrays,
        search,
        session,
        sweep,
    )

    classes = [
        architecture.ArchitectureError, config.ConfigError, data.DataError, devices.DeviceError,
        export.ModelFileError, files.WriteError, pruning.PruningError, regimes.RegimeError,
        safe_arrays.ArrayFileError, session.SessionError, sweep.SweepError,
        experiments.ExperimentError, cli.CommandError, search.StudyError,
    ]
    for error_class in classes:
        assert issubclass(error_class, sc.SpectralLabError), error_class
        assert issubclass(error_class, ValueError), error_class  # as before the common base
    assert issubclass(files.WriteError, OSError)
    assert files.WriteError(13, "Permission denied").errno == 13
    with pytest.raises(sc.SpectralLabError, match="epochs"):
        sc.TrainingConfig(epochs=0).validate()


def test_dead_code_is_gone():
    from spectral_core import build, cli

    assert not hasattr(build, "ModelInfo")
    assert not hasattr(cli, "dump_json")


def test_load_preset_and_its_errors():
    assert "perceptron" in sc.preset_names()
    perceptron = sc.load_preset("perceptron")
    assert sc.parameter_counts(perceptron, "lambda-phi").trainable == 8634
    with pytest.raises(sc.SpectralLabError, match=r"preset: must be one of .*perceptron.*'percepton'"):
        sc.load_preset("percepton")


def test_snapshot_callback_works_in_a_plain_fit(small_digits):
    architecture = sc.Architecture(
        "small", 64, (sc.LayerSpec(16, "linear", True), sc.LayerSpec(10, "softmax"))
    )
    model = sc.build_model(architecture, "lambda", seed=0)
    snapshots: list[sc.Snapshot] = []
    callback = sc.SnapshotCallback([snapshots.append], snapshot_interval=0)
    model.fit(
        small_digits.x_train, small_digits.y_train, batch_size=100, epochs=2, verbose=0,
        callbacks=[callback],
    )
    batches = len(small_digits.y_train) // 100
    kinds = [s.kind for s in snapshots]
    assert kinds == ["epoch"] + (["batch"] * batches + ["epoch"]) * 2
    last = snapshots[-1]
    assert (last.epochs, last.batches_per_epoch, last.progress) == (2, batches, 1.0)
    assert set(last.eigenvalues) == {"layer_1", "layer_2"}
    assert last.histograms and last.compact_histograms  # the telescopic layer folds
    assert [row["epoch"] for row in callback.rows] == [1.0, 2.0]
    assert np.isfinite(callback.rows[-1]["loss"]) and not callback.diverged_message


def test_quickstart_runs_end_to_end(tiny_npz, tmp_path, monkeypatch, capsys, repo_root):
    import keras

    script = repo_root / "docs" / "examples" / "quickstart.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(tiny_npz), str(tmp_path / "out")])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "retracted: 3 → 2 layers" in printed
    compact = keras.models.load_model(tmp_path / "out" / "compact.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in compact.layers[1:]] == ["Dense", "Dense"]
    full = sc.load_model(tmp_path / "out" / "full.keras")
    x = np.load(tiny_npz)["x_test"][:5].reshape(5, -1).astype("float32") / 255
    np.testing.assert_allclose(
        compact.predict(x, verbose=0), full.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
