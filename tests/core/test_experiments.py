"""Experiments: run ids, the resumable run log, grids on this process / worker processes / Dask,
the paper's plans, statistics and reports. Tiny synthetic data only."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from spectral_core.architecture import Architecture, LayerSpec
from spectral_core.experiments import (
    DEFAULT_DEEP,
    PAPER_PERCEPTRON,
    DataSource,
    ExperimentError,
    Group,
    RunLog,
    RunSpec,
    best_groups,
    folder_lock,
    group_rows,
    load_kernels,
    perceptron_plan,
    perceptron_table,
    plot_accuracy,
    run_grid,
    runs_csv,
    settings_tuple,
    table1_plan,
    table1_table,
)
from spectral_core.regimes import parameter_counts

PNG = b"\x89PNG\r\n\x1a\n"
FAST = {"epochs": 1, "batch_size": 100, "validation_fraction": 0.0}


def tiny_specs(seeds=(0,), regimes=("lambda", "direct-full"), hidden=None) -> list[RunSpec]:
    layers = (LayerSpec(10, "softmax"),)
    if hidden:
        layers = (LayerSpec(hidden, "linear", telescopic=True), *layers)
    architecture = Architecture("tiny", 784, layers, train_input_eigenvalues=not hidden)
    return [
        RunSpec(architecture, regime, seed, settings_tuple(FAST), "tiny", str(hidden or ""))
        for regime in regimes
        for seed in seeds
    ]


# -- run ids ---------------------------------------------------------------------------------


def test_run_id_depends_on_what_changes_the_result_only():
    base = tiny_specs()[0]
    renamed = RunSpec(
        Architecture("another name", 784, base.architecture.layers, True),
        base.regime, base.seed, base.settings, "other family", "label",
    )
    assert renamed.run_id == base.run_id
    assert RunSpec(base.architecture, base.regime, 1, base.settings).run_id != base.run_id
    assert RunSpec(base.architecture, "lambda-phi", 0, base.settings).run_id != base.run_id
    longer = settings_tuple({**FAST, "epochs": 2})
    assert RunSpec(base.architecture, base.regime, 0, longer).run_id != base.run_id
    assert base.config().epochs == 1 and base.config().seed == 0


# -- the run log -----------------------------------------------------------------------------


def test_run_log_appends_reads_and_repairs_a_cut_last_line(tmp_path: Path):
    log = RunLog(tmp_path)
    log.append({"run_id": "a", "test_accuracy": 0.5})
    log.append({"run_id": "b", "test_accuracy": 0.25})
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write('{"run_id": "c", "test_acc')  # a crash in the middle of a write
    assert set(log.records()) == {"a", "b"}
    log.repair()
    assert log.path.read_text(encoding="utf-8").endswith("\n")
    log.append({"run_id": "c", "test_accuracy": 1.0})
    assert {key: value["test_accuracy"] for key, value in log.records().items()} == {
        "a": 0.5, "b": 0.25, "c": 1.0,
    }


def test_run_log_refuses_a_broken_line_in_the_middle(tmp_path: Path):
    log = RunLog(tmp_path)
    log.path.write_text('{"run_id": "a"}\nnot json\n{"run_id": "b"}\n', encoding="utf-8")
    with pytest.raises(ExperimentError, match="line 2"):
        log.records()


def test_a_second_sweep_cannot_write_into_a_locked_folder(tmp_path: Path):
    with folder_lock(tmp_path):
        with pytest.raises(ExperimentError, match="another sweep"):
            with folder_lock(tmp_path):
                pass
    with folder_lock(tmp_path):  # released again
        pass


# -- grids -----------------------------------------------------------------------------------


def test_inline_grid_matches_a_direct_run_and_resumes_without_repeating(tiny_npz, tmp_path):
    from spectral_core.data import load_dataset
    from spectral_core.runs import run_training

    data = DataSource(str(tiny_npz))
    specs = tiny_specs()
    first = run_grid(specs, tmp_path, data, workers=0, quiet=True, keep_weights=True)
    assert (first.ran, first.skipped, first.failures) == (2, 0, [])
    lines = (tmp_path / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = first.records[specs[0].run_id]
    assert record["regime"] == "lambda" and record["trainable_parameters"] == 794
    assert record["total_parameters"] == parameter_counts(specs[0].architecture, "lambda").total

    direct = run_training(specs[0].architecture, "lambda", load_dataset(tiny_npz), specs[0].config())
    assert record["test_accuracy"] == pytest.approx(direct.record.test_accuracy, abs=1e-6)
    kernels = load_kernels(tmp_path, specs[0].run_id)
    assert kernels[0].shape == (784, 10)
    np.testing.assert_allclose(
        kernels[0], direct.compact.layers[-1].get_weights()[0], rtol=1e-5, atol=1e-6
    )

    # A second seed joins the grid: only its run trains; the finished ones are kept as they were.
    more = [*specs, *tiny_specs(seeds=(1,), regimes=("direct-full",))]
    second = run_grid(more, tmp_path, data, workers=0, quiet=True)
    assert (second.ran, second.skipped) == (1, 2)
    assert second.records[specs[0].run_id] == record
    assert len((tmp_path / "runs.jsonl").read_text(encoding="utf-8").splitlines()) == 3


def test_a_failing_run_is_reported_and_the_others_finish(tiny_npz, tmp_path):
    wrong = Architecture("wrong input", 100, (LayerSpec(10, "softmax"),))
    bad = RunSpec(wrong, "direct-full", 0, settings_tuple(FAST))
    good = tiny_specs(regimes=("direct-full",))[0]
    outcome = run_grid([bad, good], tmp_path, DataSource(str(tiny_npz)), workers=0, quiet=True)
    assert outcome.ran == 1 and set(outcome.records) == {good.run_id}
    assert len(outcome.failures) == 1 and "100 units" in outcome.failures[0][1]
    # Not logged, so a rerun retries it.
    assert bad.run_id not in RunLog(tmp_path).records()


def test_resuming_with_other_data_is_refused(tiny_npz, tmp_path):
    specs = tiny_specs(regimes=("direct-full",))
    run_grid(specs, tmp_path, DataSource(str(tiny_npz), limit=200), workers=0, quiet=True)
    with pytest.raises(ExperimentError, match="limit"):
        run_grid(specs, tmp_path, DataSource(str(tiny_npz), limit=100), workers=0, quiet=True)


def test_local_worker_processes_run_a_tiny_grid(tiny_npz, tmp_path):
    specs = tiny_specs(regimes=("lambda", "direct-subset"))
    outcome = run_grid(specs, tmp_path, DataSource(str(tiny_npz)), workers=1, quiet=True)
    assert outcome.failures == [] and outcome.ran == 2
    for spec in specs:
        record = outcome.records[spec.run_id]
        assert 0.0 <= record["test_accuracy"] <= 1.0
        assert record["trainable_parameters"] == 794


def test_dask_local_cluster_runs_a_tiny_grid(tiny_npz, tmp_path):
    distributed = pytest.importorskip("distributed")
    specs = tiny_specs(regimes=("lambda", "direct-full"))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        outcome = run_grid(specs, tmp_path, DataSource(str(tiny_npz)), scheduler=client, quiet=True)
        # By address (as --scheduler gives it): a dataset the workers cannot read fails up front.
        missing = DataSource(str(tmp_path / "missing.npz"))
        with pytest.raises(ExperimentError, match="Dask workers could not start.*missing.npz"):
            run_grid(specs, tmp_path / "other", missing, scheduler=cluster.scheduler_address,
                     quiet=True)
    assert outcome.failures == [] and outcome.ran == 2
    assert {record["regime"] for record in outcome.records.values()} == {"lambda", "direct-full"}
    assert len(RunLog(tmp_path).records()) == 2


# -- the paper's plans -----------------------------------------------------------------------


def test_perceptron_plan_has_four_regimes_times_seeds_with_paper_counts():
    specs = perceptron_plan(range(5), FAST)
    assert len(specs) == 20 and len({spec.run_id for spec in specs}) == 20
    counts = {spec.regime: parameter_counts(spec.architecture, spec.regime).trainable for spec in specs}
    assert counts == {"lambda": 794, "lambda-phi": 8634, "direct-subset": 794, "direct-full": 7850}


def test_table1_plan_covers_the_papers_families():
    specs = table1_plan([0], FAST, sizes=[20, 1000])
    by_family: dict[str, set[str]] = {}
    for spec in specs:
        by_family.setdefault(spec.family, set()).add(spec.size)
    assert by_family["wide"] == {"20", "1000"} and by_family["nonlinear"] == {"20", "1000"}
    assert by_family["deep"] == {"-".join(map(str, h)) for h in DEFAULT_DEEP}
    assert {"800-600-500", "800-100", "20"} <= by_family["deep"]
    nonlinear = next(s for s in specs if s.family == "nonlinear" and s.size == "1000")
    assert nonlinear.architecture.widths == [784, 1000, 120, 10]
    assert parameter_counts(nonlinear.architecture, "lambda").trainable == 1000 + 120 + 10
    wide = next(s for s in specs if s.family == "wide" and s.size == "20")
    assert parameter_counts(wide.architecture, "lambda").trainable == 30
    # The deep l=3 N2=20 network is the wide one: the same run, shared by both families.
    deep = next(s for s in specs if s.family == "deep" and s.size == "20")
    assert deep.run_id == next(
        s for s in specs if s.family == "wide" and s.size == "20" and s.regime == deep.regime
    ).run_id
    costs = [spec.cost for spec in specs]
    assert costs == sorted(costs)
    with pytest.raises(ExperimentError, match="families"):
        table1_plan([0], FAST, families=["wider"])


# -- statistics and reports ------------------------------------------------------------------


def rows_for(values: dict[tuple[str, str, str], list[float]]) -> list[dict]:
    return [
        {"family": f, "size": s, "regime": r, "test_accuracy": a, "trainable_parameters": 1}
        for (f, s, r), accuracies in values.items()
        for a in accuracies
    ]


def test_groups_take_mean_and_sample_std_and_best_size_by_mean():
    rows = rows_for({
        ("wide", "20", "lambda"): [0.80, 0.82, 0.84],
        ("wide", "800", "lambda"): [0.90, 0.92],
        ("wide", "800", "direct-full"): [0.91],
    })
    groups = {(g.size, g.regime): g for g in group_rows(rows)}
    small = groups[("20", "lambda")]
    assert small.mean == pytest.approx(82.0)
    assert small.std == pytest.approx(math.sqrt(((-2) ** 2 + 0 + 2**2) / 2))
    assert groups[("800", "direct-full")].std == 0.0
    best = best_groups(groups.values())
    assert best[("wide", "lambda")].size == "800"
    assert best[("wide", "lambda")].mean == pytest.approx(91.0)


def test_tables_put_ours_beside_the_paper_with_the_difference():
    groups = [
        Group("perceptron", "", "lambda", (80.0, 84.0), 794),
        Group("wide", "800", "lambda-phi", (92.0, 93.0), 1),
    ]
    perceptron = perceptron_table(groups)
    line = next(row for row in perceptron.splitlines() if row.startswith("| `lambda` "))
    assert "82.0 ± 2.8" in line and f"{PAPER_PERCEPTRON['lambda'][0]:.1f} ± 2.0" in line
    assert "+0.0" in line and "| 794 |" in line
    table = table1_table(groups, ["wide"])
    assert "**92.5 ± 0.7** / 92.2 (+0.3; best at 800, n=2)" in table
    assert "– / 87.8" in table  # direct-subset has no runs yet


def test_runs_csv_has_one_row_per_run_with_settings_columns():
    rows = [{"run_id": "x", "family": "wide", "size": "20", "regime": "lambda", "seed": 3,
             "settings": {"epochs": 7}, "test_accuracy": 0.5, "seconds": 1.5}]
    text = runs_csv(rows)
    header, line = text.splitlines()
    columns = dict(zip(header.split(","), line.split(","), strict=False))
    assert columns["epochs"] == "7" and columns["batch_size"] == "300"
    assert columns["seed"] == "3" and columns["test_accuracy"] == "0.5"


def test_accuracy_plot_is_a_png(tmp_path: Path):
    groups = [
        Group("wide", "20", "lambda", (80.0, 82.0), 30),
        Group("wide", "800", "lambda", (90.0, 91.0), 810),
        Group("wide", "800", "direct-full", (91.0,), 636010),
    ]
    plot_accuracy(groups, "wide", tmp_path / "wide.png")
    assert (tmp_path / "wide.png").read_bytes().startswith(PNG)


def test_reproduce_command_writes_csv_report_and_plots_and_resumes(tiny_npz, tmp_path, capsys):
    from spectral_core.cli import main

    out = tmp_path / "perceptron"
    argv = ["reproduce", "perceptron", "--dataset", str(tiny_npz), "--out", str(out),
            "--seeds", "1", "--epochs", "1", "--batch-size", "100",
            "--regimes", "lambda,direct-full", "-q"]
    assert main(argv) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "--seeds 1 --epochs 1" in report and "300 training images" in report
    assert "| `lambda` |" in report and "82.0 ± 2.0" in report
    for name in ("weights_perceptron.png", "accuracy_perceptron.png"):
        assert (out / name).read_bytes().startswith(PNG)
    csv_lines = (out / "runs.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 1 + 2
    capsys.readouterr()
    assert main(argv) == 0
    assert "ran 0 runs, kept 2 finished before" in capsys.readouterr().out
    manifest = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    assert manifest["experiment"] == "perceptron"
    # reproduce is the paper's experiment: the paper's initialization, not the app's default
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {run["settings"]["initialization"] for run in runs} == {"paper"}


def test_reproduce_rejects_bad_budget_options(tiny_npz, tmp_path, capsys):
    from spectral_core.cli import main

    base = ["reproduce", "table1", "--dataset", str(tiny_npz), "--out", str(tmp_path / "t")]
    assert main([*base, "--sizes", "20,x"]) == 2
    assert "--sizes: 'x' is not an integer" in capsys.readouterr().err
    assert main([*base, "--regimes", "lambda,phi"]) == 2
    assert "--regimes" in capsys.readouterr().err
    assert main([*base, "--epochs", "0"]) == 2
    assert "epochs" in capsys.readouterr().err


def test_budget_counts_a_run_shared_by_two_families_once():
    from spectral_core.experiments import budget_text

    specs = table1_plan([0], FAST, families=["wide", "deep"], sizes=[20], deep=[(20,)],
                        regimes=["lambda"])
    assert len(specs) == 2 and specs[0].run_id == specs[1].run_id
    row = {"run_id": specs[0].run_id, "train_images": 300, "test_images": 100, "seconds": 36.0}
    text = budget_text(specs, DataSource("digits.npz"), [row, dict(row)])
    assert "runs: 1 finished of 1 planned; 0.01 hours" in text
    assert "1 epochs, batch 100" in text and "seeds: 0 (1 per configuration)" in text
