"""TensorBoard logs: spectrum scalars per layer, effective-weight histograms, HParams — from the
library's observer, `train --tensorboard`, and a sweep with "tensorboard": true."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import spectral_core as sc  # noqa: E402
from spectral_core.cli import main  # noqa: E402
from spectral_core.tensorboard import TensorBoardObserver, run_hparams  # noqa: E402
from spectral_core.training import evaluate  # noqa: E402

SMALL = sc.Architecture(
    "small", 64, (sc.LayerSpec(16, "linear", True), sc.LayerSpec(10, "softmax"))
)


def read_events(folder: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    """tag → [(step, value)] of every event file under ``folder`` (not Keras's train/ etc.)."""
    found: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found[value.tag].append((event.step, tf.make_ndarray(value.tensor)))
    return found


def test_the_observer_writes_spectrum_histograms_and_hparams(small_digits, tmp_path):
    config = sc.TrainingConfig(epochs=2, batch_size=100, seed=0)
    model = sc.build_model(SMALL, "lambda", seed=0)
    hparams = run_hparams(SMALL, "lambda", config)
    sc.train(model, small_digits, config, observers=[TensorBoardObserver(tmp_path, hparams)])
    events = read_events(tmp_path)

    median = events["spectrum/layer_1/lambda_out_q050"]
    assert [step for step, _ in median] == [0, 1, 2]  # before training, then each epoch
    eigenvalues = model.get_layer("layer_1").eigvals_out.numpy()
    assert float(median[-1][1]) == pytest.approx(float(np.median(eigenvalues)), rel=1e-5)
    assert [step for step, _ in events["epoch/loss"]] == [1, 2]
    _, histogram = events["weights/layer_1"][-1]
    assert histogram.shape[1] == 3 and histogram[:, 2].sum() == 64 * 16  # every kernel entry
    assert "compact_weights/compact_1" in events  # the retracted model's single layer
    _, accuracy = evaluate(model, small_digits.x_test, small_digits.y_test)
    assert float(events["test/accuracy"][0][1]) == pytest.approx(accuracy, rel=1e-6)
    assert "_hparams_/session_start_info" in events
    assert hparams["regime"] == "lambda" and hparams["learning_rate"] == 0.03  # linear default


def test_the_observer_travels_to_a_worker_before_use(tmp_path):
    import pickle

    observer = pickle.loads(pickle.dumps(TensorBoardObserver(tmp_path, {"seed": 1})))
    assert observer.log_dir == str(tmp_path) and observer.hparams == {"seed": 1}


def test_train_tensorboard_writes_the_spectrum_and_hparams(tmp_path, tiny_npz):
    logs = tmp_path / "logs"
    argv = ["train", "perceptron", "--dataset", str(tiny_npz), "--epochs", "1", "--limit", "100",
            "--quiet", "--out", str(tmp_path / "run"), "--tensorboard", str(logs)]
    assert main(argv) == 0
    events = read_events(logs)
    assert "spectrum/layer_1/lambda_out_q000" in events and "weights/layer_1" in events
    assert "_hparams_/session_start_info" in events
    assert (logs / "train").is_dir()  # Keras's own scalars beside ours


def test_a_sweep_with_tensorboard_logs_every_run(tmp_path, tiny_npz):
    from spectral_core.sweep import load_sweep, run_sweep

    sweep_file = tmp_path / "sweep.json"
    sweep_file.write_text(json.dumps({
        "dataset": str(tiny_npz), "limit": 100, "test_limit": 20,
        "architectures": ["perceptron"], "regimes": ["lambda", "direct-full"],
        "settings": {"epochs": 1}, "tensorboard": True,
    }))
    sweep = load_sweep(sweep_file)
    run_sweep(sweep, tmp_path / "out", workers=0, quiet=True)
    runs = sorted((tmp_path / "out" / "tensorboard").iterdir())
    assert [run.name for run in runs] == sorted(spec.run_id for spec in sweep.specs)
    for run in runs:
        events = read_events(run)
        assert "_hparams_/session_start_info" in events and "test/accuracy" in events
    spectral = [run for run in runs if "spectrum/layer_1/lambda_out_q050" in read_events(run)]
    assert len(spectral) == 1  # the lambda run has eigenvalues, direct-full has none


def test_run_log_dir_gives_each_run_its_own_folder(tmp_path):
    from spectral_core.files import WriteError
    from spectral_core.tensorboard import run_log_dir

    first = run_log_dir(tmp_path / "logs", "run 1")
    assert first == tmp_path / "logs" / "run-1" and first.is_dir()
    assert run_log_dir(tmp_path / "logs", "run 1") == tmp_path / "logs" / "run-1-2"
    assert run_log_dir(tmp_path / "logs", "../..").name == "run"  # never outside the folder
    taken = tmp_path / "a-file"
    taken.write_text("x")
    with pytest.raises(WriteError, match="TensorBoard log folder: .* is a file, not a folder"):
        run_log_dir(taken, "run 1")
