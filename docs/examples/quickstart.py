"""Spectral Lab as a library: preset → build → train → retract → export.

    python docs/examples/quickstart.py                       # MNIST (Keras downloads it once)
    python docs/examples/quickstart.py DATA.npz OUT_FOLDER   # any MNIST-shaped .npz

Trains the paper's non-linear network (784 → 800 linear → 120 relu → 10) in the spectral
domain, eigenvalues only (the paper's "Train Λ"), for one epoch on the first 2,000 images;
folds the telescopic linear layer into a compact network of plain Dense layers; checks that the
compact model computes the same function; and saves both models.
"""

from __future__ import annotations

import sys
from pathlib import Path

import spectral_core as sc


def main(dataset: str = "mnist", out: str = "quickstart-out") -> None:
    sc.quiet_tensorflow_start()  # optional: no CUDA-probe and absl lines on a CPU machine
    architecture = sc.load_preset("nonlinear")
    print(architecture.name, "- trainable parameters per regime:")
    for regime in sc.REGIMES:
        print(f"  {regime:<14} {sc.parameter_counts(architecture, regime).trainable}")

    data = sc.load_dataset(dataset).subset(2000, 500)  # a small subset: seconds, not minutes
    config = sc.TrainingConfig(epochs=1, seed=0)
    model = sc.build_model(
        architecture, "lambda", seed=config.seed, initialization=config.initialization
    )

    def report(snapshot: sc.Snapshot) -> None:  # an observer: called with copies, live
        if snapshot.kind == "epoch" and snapshot.metrics:
            print(f"  epoch {snapshot.epoch + 1}: loss {snapshot.metrics['loss']:.3f}")

    result = sc.train(model, data, config, observers=[report])
    print(f"test accuracy {result.test_accuracy:.3f} ({result.message})")

    compact = sc.retract(model)
    check = sc.compare_retraction(model, compact, data.x_test, data.y_test)
    print(
        f"retracted: {check.layers_before} → {check.layers_after} layers, "
        f"{check.total_before} → {check.total_after} parameters, "
        f"largest output difference {check.max_abs_difference:.1e}"
    )

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    sc.save_model(model, folder / "full.keras")  # needs spectral_core to load
    sc.save_model(compact, folder / "compact.keras")  # plain Keras loads it
    print(f"wrote {folder / 'full.keras'} and {folder / 'compact.keras'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
