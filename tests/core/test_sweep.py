"""Sweep files: validation with field paths, the grid they make, and a tiny sweep end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectral_core.experiments import RunLog
from spectral_core.sweep import SweepError, load_sweep, parse_sweep, run_sweep

TINY_LAYERS = [{"units": 10, "activation": "softmax"}]


def valid(**changes):
    data = {
        "dataset": "mnist",
        "architectures": ["perceptron", {"input_units": 784, "layers": TINY_LAYERS}],
        "regimes": ["lambda", "direct-full"],
        "seeds": 2,
        "settings": {"epochs": 1},
        "grid": {"learning_rate": [0.01, 0.03], "batch_size": [100, 300]},
    }
    data.update(changes)
    return data


def test_grid_is_architectures_times_regimes_times_seeds_times_combinations():
    sweep = parse_sweep(valid())
    assert len(sweep.specs) == 2 * 2 * 2 * 4
    assert len({spec.run_id for spec in sweep.specs}) == len(sweep.specs)
    configs = {(s.config().learning_rate, s.config().batch_size, s.config().epochs) for s in sweep.specs}
    assert configs == {(lr, b, 1) for lr in (0.01, 0.03) for b in (100, 300)}
    assert {spec.seed for spec in sweep.specs} == {0, 1}
    assert sweep.specs[0].architecture.name == "perceptron 784-10"
    assert parse_sweep(valid(seeds=[4, 9])).specs[0].seed == 4


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"regime": ["lambda"]}, "regime", "unknown field"),
        ({"regimes": ["lambda", "phi"]}, "regimes[1]", "must be one of"),
        ({"seeds": 0}, "seeds", "at least 1"),
        ({"seeds": [1, -2]}, "seeds[1]", "must be an integer from 0 to 2147483647, got -2"),
        ({"seeds": "3"}, "seeds", "must be an integer of at least 1, got '3'"),
        ({"settings": {"epoch": 3}}, "settings.epoch", "unknown setting; allowed settings are epochs,"),
        ({"settings": {"seed": 3}}, "settings.seed", "unknown setting"),
        ({"settings": {"epochs": 0}}, "settings.epochs", "integer from 1"),
        (
            {"grid": {"learning_rate": [0.01, -1]}},
            "grid.learning_rate[1]",
            "must be above 0 and at most 10 (or null), got -1",
        ),
        ({"grid": {"jit_compile": [True, "yes"]}}, "grid.jit_compile[1]", 'true, false or "auto"'),
        ({"grid": {"learnig_rate": [0.1]}}, "grid.learnig_rate", "unknown setting"),
        ({"grid": {"optimizer": ["adamax", "lbfgs"]}}, "grid.optimizer[1]", "must be one of"),
        ({"grid": {"optimizer": []}}, "grid.optimizer", "non-empty list"),
        ({"grid": {"epochs": [1]}}, "grid.epochs", "also in settings"),
        ({"architectures": []}, "architectures", "non-empty list"),
        ({"architectures": ["no_such_preset"]}, "architectures[0]", "neither a file"),
        ({"architectures": [5]}, "architectures[0]", "a preset or file name or an architecture object"),
        (
            {"architectures": [{"input_units": 784, "layers": [{"units": 10, "activaton": "relu"}]}]},
            "architectures[0].layers[0].activaton",
            "unknown field; allowed fields are units, activation, telescopic",
        ),
        (
            {"architectures": [{"input_units": 784, "layers": [{"units": 0}]}]},
            "architectures[0].layers[0].units",
            "integer from 1",
        ),
        ({"limit": 0}, "limit", "at least 1"),
        ({"keep_weights": "yes"}, "keep_weights", "true or false"),
        ({"dataset": "/no/such/data.npz"}, "dataset", "does not exist"),
    ],
)
def test_bad_sweeps_name_the_field(changes, path, words):
    with pytest.raises(SweepError) as caught:
        parse_sweep(valid(**changes))
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)


def test_sweep_files_resolve_paths_next_to_the_file_and_report_the_file(tmp_path: Path):
    (tmp_path / "arch.json").write_text(
        json.dumps({"name": "mine", "input_units": 784, "layers": TINY_LAYERS}), encoding="utf-8"
    )
    (tmp_path / "good.json").write_text(json.dumps(valid(architectures=["arch.json"])), encoding="utf-8")
    assert load_sweep(tmp_path / "good.json").specs[0].architecture.name == "mine"
    (tmp_path / "bad.json").write_text(json.dumps(valid(seeds="3")), encoding="utf-8")
    with pytest.raises(SweepError, match=r"seeds: .*\(in .*bad\.json\)"):
        load_sweep(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(SweepError, match="line 1"):
        load_sweep(tmp_path / "broken.json")


def test_sweep_command_runs_resumes_and_summarises(tiny_npz, tmp_path, capsys):
    from spectral_core.cli import main

    sweep_file = tmp_path / "sweep.json"
    data = {
        "dataset": str(tiny_npz),
        "architectures": [{"input_units": 784, "layers": TINY_LAYERS}],
        "regimes": ["direct-full"],
        "settings": {"epochs": 1, "validation_fraction": 0.0},
        "grid": {"learning_rate": [0.01, 0.03]},
    }
    sweep_file.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "0", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "learning_rate=0.01" in printed and "learning_rate=0.03" in printed
    assert len(RunLog(out).records()) == 2
    assert len((out / "runs.csv").read_text(encoding="utf-8").splitlines()) == 3
    assert "2 of 2 runs finished" in (out / "summary.md").read_text(encoding="utf-8")
    outcome = run_sweep(load_sweep(sweep_file), out, workers=0, quiet=True)
    assert (outcome.ran, outcome.skipped) == (0, 2)


def test_sweep_command_reports_a_bad_file_without_traceback(tmp_path, capsys):
    from spectral_core.cli import main

    sweep_file = tmp_path / "sweep.json"
    sweep_file.write_text(json.dumps(valid(regimes=["lambda", "train-all"])), encoding="utf-8")
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out")]) == 2
    assert "regimes[1]: must be one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
