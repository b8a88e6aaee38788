"""``python -m benchmarks`` runs end to end at tiny sizes (no timing is asserted anywhere).

The quick run goes through every figure's code, subprocesses and GUI driver included, so the
benchmark cannot rot; the square-operator reference and the FLOP counts are checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks import bench, user_path
from benchmarks.bench import main


def expected_rows(plan: bench.Plan) -> list[str]:
    first = "→".join(map(str, plan.shapes[0]))
    last = "→".join(map(str, plan.shapes[-1]))
    rows = ["float32 matmul peak (estimate)"]
    for widths in plan.shapes:
        shape = "→".join(map(str, widths))
        rows.append(f"Dense {shape}")
        rows += [f"{name} ÷ Dense, {shape}" for name in bench.STEP_TARGETS]
    rows += [
        f"{name} speed-up over the paper's square-operator form, {first}"
        for name in ("lambda", "lambda-phi")
    ]
    rows += [f"{name} engine ÷ Dense fit, {first}" for name in bench.STEP_TARGETS]
    rows.append(f"lambda engine, observers on ÷ off, {first}")
    rows.append(f"Peak memory of a training run, {last} lambda-phi")
    for widths, regimes in user_path.QUICK_TARGETS.items():
        shape = "→".join(map(str, widths))
        rows += [f"{regime} epoch ÷ direct-full epoch, {shape}" for regime in regimes]
    rows.append("reproduce table1, 1 seed, 3 epochs, sizes 50/800/2000, wide + non-linear")
    rows += [
        f"oneDNN {state}, XLA {xla}: Dense / lambda / lambda-phi"
        for state in ("on", "off")
        for xla in ("off", "on")
    ]
    rows += [
        "Launch to main window shown",
        "Training from the GUI ÷ headless",
        "Largest GUI event-loop gap during training",
    ]
    return rows


def table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| section"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[1]] = cells
    return rows


def test_quick_bench_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "BENCHMARKS.md"

    assert main(["--quick", "--out", str(out)]) == 0

    text = out.read_text()
    rows = table_rows(text)
    expected = expected_rows(bench.Plan.quick_plan())
    assert list(rows) == expected
    for name, (section, _name, value, target, verdict, notes) in rows.items():
        if value == "not measured":
            # Only the second oneDNN setting and the MNIST reproduce are skipped, saying why.
            assert section in ("Settings", "User's path") and "--quick" in notes, (name, rows[name])
            continue
        assert value, name
        if target != "—":
            assert verdict == "met" or verdict.startswith("**missed**"), name
    skipped = [name for name, cells in rows.items() if cells[2] == "not measured"]
    assert len(skipped) == 3  # the other oneDNN setting (XLA off and on), reproduce on MNIST
    for key in ("CPU", "cores", "TensorFlow", "oneDNN", "XLA (jit_compile)"):
        assert f"- {key}: " in text
    printed = capsys.readouterr().out
    assert all(name in printed for name in expected)


def test_matmul_flops_count_the_products_each_regime_runs():
    batch, widths = 3, (5, 4, 2)
    first, second = 2 * batch * 5 * 4, 2 * batch * 4 * 2
    # Dense: forward, weight gradients, and the second layer's input gradient.
    assert bench.matmul_flops("dense", widths, batch) == 2 * first + 3 * second
    assert bench.matmul_flops("lambda-phi", widths, batch) == 2 * first + 3 * second
    # Eigenvalues only: no weight-gradient product anywhere.
    assert bench.matmul_flops("lambda", widths, batch) == first + 2 * second
    assert bench.matmul_flops("direct-subset", widths, batch) == first + 2 * second
    # Trained input eigenvalues: the first layer's kernel gradient product comes back.
    assert bench.matmul_flops("lambda+input", widths, batch) == 2 * first + 2 * second


@pytest.mark.parametrize("phi_trainable", [False, True])
def test_square_operator_reference_computes_the_spectral_layer(phi_trainable):
    """The benchmark's paper-style layer is the same network as the library's."""
    from spectral_core.layers import SpectralDense

    rng = np.random.default_rng(0)
    square = bench.SquareOperatorDense.make(3, "linear", phi_trainable)
    square.build((None, 5))
    phi = rng.uniform(-1, 1, (5, 3))
    eigvals_out = rng.uniform(-1, 1, 3)
    square.phi.assign(phi.T.astype("float32"))
    square.eigvals_out.assign(eigvals_out.astype("float32"))
    layer = SpectralDense(3)
    layer.build((None, 5))
    layer.phi.assign(phi.astype("float32"))
    layer.eigvals_out.assign(eigvals_out.astype("float32"))
    x = rng.uniform(-1, 1, (4, 5)).astype("float32")
    expected = x.astype(np.float64) @ (phi * (1.0 - eigvals_out[None, :]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(square(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    assert len(square.trainable_weights) == (2 if phi_trainable else 1)


def test_architectures_are_the_papers_stacks():
    wide = bench.architecture_for((784, 800, 10))
    assert [(spec.units, spec.activation, spec.telescopic) for spec in wide.layers] == [
        (800, "linear", True), (10, "softmax", False)
    ]
    deep = bench.architecture_for((784, 800, 120, 10), train_input=True)
    assert [(spec.units, spec.activation, spec.telescopic) for spec in deep.layers] == [
        (800, "linear", True), (120, "relu", False), (10, "softmax", False)
    ]
    assert deep.train_input_eigenvalues


def test_bench_worker_rejects_unknown_workers(capsys):
    assert bench.worker_main(["--worker", "nope", "{}"]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--dataset", "/no/such/mnist.npz"], "--dataset"),
        (["--rounds", "0"], "--rounds"),
    ],
)
def test_bad_bench_options_are_named(argv, field, capsys, tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    assert main([*argv, "--out", str(out)]) == 2
    assert field in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("variant", ["dense", "lambda", "lambda+input", "lambda-phi"])
def test_products_floor_runs_exactly_the_products_matmul_flops_counts(variant):
    batch, widths = 3, (7, 5, 4, 2)
    function = bench.products_function(variant, widths, batch)
    graph = function.get_concrete_function().graph
    flops = 0
    for op in graph.get_operations():
        if op.type == "MatMul":
            a, b = (tuple(t.shape) for t in op.inputs)
            rows, inner = a[::-1] if op.get_attr("transpose_a") else a
            columns = b[0] if op.get_attr("transpose_b") else b[1]
            flops += 2 * rows * inner * columns
    assert flops == bench.matmul_flops(variant, widths, batch)
    assert np.isfinite(float(function()))


def test_peak_memory_of_a_child_is_its_own_not_its_parents():
    import subprocess
    import sys

    parent_ballast = np.ones(400 * 1024**2 // 8)  # 400 MB resident in this (the parent) process
    code = "from benchmarks.bench import peak_resident_bytes; print(peak_resident_bytes())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak = int(child.stdout.split()[-1])
    assert 10 * 1024**2 < peak < 200 * 1024**2, peak
    assert parent_ballast.sum() > 0


def test_help_names_no_path_of_any_machine(capsys, repo_root):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "--dataset" in text and "~/.keras" in text
    # The folder this checkout sits in (where shared data lives beside it) is this machine's.
    assert str(repo_root.parent) + "/" not in text and str(Path.home()) not in text


def test_no_source_file_holds_an_absolute_path_of_this_machine(repo_root):
    sources = [
        path
        for folder in ("spectral_core", "app", "benchmarks", "resources")
        for path in (repo_root / folder).rglob("*.py")
    ]
    machine_folder = str(repo_root.parent) + "/"  # where this checkout and shared/ sit
    offenders = [str(path) for path in sources if machine_folder in path.read_text()]
    assert sources and not offenders


def test_the_small_reproduce_is_split_by_regime_with_the_bound_it_sets(tmp_path):
    """The note says where the time went and what speed-up the untouched regimes allow."""
    runs = tmp_path / "runs.csv"
    runs.write_text(
        "run_id,regime,seconds\na,lambda,10\nb,lambda,5\nc,direct-full,40\nd,lambda-phi,20\n",
        encoding="utf-8",
    )
    split = user_path.regime_seconds(runs)
    assert split == {"lambda": 15.0, "direct-full": 40.0, "lambda-phi": 20.0}
    note = user_path.regime_split_note({"lambda": 5.0}, split, before_total=90.0)
    assert "lambda 5 s vs 15 s" in note and "direct-full 0 s vs 40 s" in note
    assert "their 60 s of the baseline's 90 s cap the speed-up at 1.5×" in note
    assert user_path.regime_seconds(tmp_path / "missing.csv") == {}
    assert user_path.regime_split_note({}, split, 90.0) == "no per-run times to split"


def test_gui_ratio_is_fastest_against_fastest(monkeypatch):
    """A stall only adds time, so the figure compares each side's fastest run; the note keeps
    the median of the pairs' ratios."""
    result = {
        "launch_seconds": 0.9, "tensorflow_seconds": 5.0, "ratio": 1.02, "gui_fastest": 2.04,
        "headless_fastest": 2.0, "median_pair_ratio": 1.12, "gui_seconds": 2.5,
        "headless_seconds": 2.3, "pairs": 10, "cpu_ratio": 1.1, "images": 60000,
        "max_gap_ms": 50.0,
    }
    monkeypatch.setattr(bench, "run_python", lambda *args, **kwargs: result)
    figures = {figure.name: figure for figure in bench.gui_figures(bench.Plan.quick_plan())}
    figure = figures["Training from the GUI ÷ headless"]
    assert figure.value == "1.02 (2.04 s vs 2.00 s)"
    assert figure.met is True
    assert "fastest of 10 interleaved pairs" in figure.note
    assert "median of the pairs' ratios 1.12" in figure.note
