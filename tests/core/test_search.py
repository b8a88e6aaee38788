"""``spectral-lab search``: study files, pruning, resumable SQLite storage, Dask, results."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from spectral_core.search import (
    BEST_ARCHITECTURE,
    BEST_CONFIG,
    BEST_FILE,
    TRIALS_CSV,
    StudyError,
    load_study,
    load_study_best,
    parse_study,
    run_search,
    study_best_regime,
)
from tests.conftest import write_digits_npz

# A tiny 784→12→10 network, 2 epochs over 200 images: about a second per trial.
TINY = {"input_units": 784, "layers": [
    {"units": 12, "activation": "relu"}, {"units": 10, "activation": "softmax"}]}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits_npz(tmp_path_factory.mktemp("search") / "digits.npz", train=200, test=60)


def study_dict(data_file: Path, **changes) -> dict:
    study = {
        "dataset": str(data_file),
        "architectures": [TINY],
        "regimes": ["direct-full"],
        "settings": {"epochs": 2, "batch_size": 50, "validation_fraction": 0.25},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-6, "high": 0.1, "log": True},
            "layers[0].units": {"type": "int", "low": 8, "high": 16, "step": 4},
        },
        # One sure survivor first, then a learning rate too small to learn anything in two
        # epochs: the median pruner (one finished trial is enough here) stops it after epoch 1.
        "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        "sampler": {"type": "tpe", "seed": 3},
        "first_trials": [
            {"learning_rate": 0.05, "layers[0].units": 16},
            {"learning_rate": 1e-6, "layers[0].units": 8},
        ],
    }
    study.update(changes)
    return study


def read_trials(folder: Path) -> list[dict[str, str]]:
    with open(folder / TRIALS_CSV, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_search_prunes_writes_results_and_resumes_without_repeating(data_file, tmp_path):
    study = parse_study(study_dict(data_file))
    folder = tmp_path / "study"
    first = run_search(study, folder, trials=3, workers=0, quiet=True)
    assert first.finished == 3 and first.ran == 3
    assert first.pruned >= 1, "the 1e-6 learning rate trial should have been pruned"
    rows = read_trials(folder)
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert rows[1]["state"] == "pruned" and rows[1]["pruned_at_epoch"] == "1"
    assert rows[0]["state"] == "complete" and float(rows[0]["val_accuracy"]) > 0.3
    # The sweep's columns where they apply; test columns stay empty for trials.
    assert rows[0]["regime"] == "direct-full" and rows[0]["widths"] == "784-16-10"
    assert rows[0]["learning_rate"] == "0.05" and rows[0]["test_accuracy"] == ""
    assert rows[0]["initialization"] == "paper"  # the default, as sweeps show it

    best = json.loads((folder / BEST_FILE).read_text())
    assert best["trial"] == first.best["trial"]
    assert 0.0 <= best["test_accuracy"] <= 1.0  # evaluated once, after the search
    assert (folder / "best_run" / "compact.keras").exists()
    config = json.loads((folder / BEST_CONFIG).read_text())
    assert config["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert json.loads((folder / BEST_ARCHITECTURE).read_text())["layers"][0]["units"] == \
        best["params"]["layers[0].units"]
    for name in ("history.png", "parallel_coordinate.png", "importances.png"):
        assert (folder / name).stat().st_size > 1000, first.notes

    architecture, training = load_study_best(folder)
    assert architecture.layers[0].units == best["params"]["layers[0].units"]
    assert training.learning_rate == pytest.approx(best["params"]["learning_rate"])
    assert training.epochs == 2 and study_best_regime(folder) == "direct-full"

    # A trial left running by an interrupted search is marked failed and does not count.
    import optuna

    optuna.load_study(study_name="spectral-lab", storage=f"sqlite:///{folder / 'study.db'}").ask()
    # Resuming: the three finished trials stay as they are, two more are added.
    second = run_search(study, folder, trials=5, workers=0, quiet=True)
    assert second.ran == 2 and second.finished == 5 and second.failed == 1
    resumed = read_trials(folder)
    assert [row["trial"] for row in resumed] == ["0", "1", "2", "3", "4", "5"]
    assert resumed[3]["state"] == "fail"
    for before, after in zip(rows, resumed[:3], strict=True):
        assert (before["params"], before["val_accuracy"], before["finished_at"]) == \
            (after["params"], after["val_accuracy"], after["finished_at"])
    # Asking for trials the study already holds runs none.
    assert run_search(study, folder, trials=4, workers=0, quiet=True).ran == 0

    changed = parse_study(study_dict(data_file, regimes=["lambda"]))
    with pytest.raises(ValueError, match="another regimes"):
        run_search(changed, folder, trials=6, workers=0, quiet=True)


@pytest.mark.filterwarnings("ignore:DaskStorage is experimental")
def test_search_on_a_dask_cluster(data_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("optuna_integration")
    study = parse_study(study_dict(
        data_file,
        space={"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
        first_trials=[], pruner={"type": "successive-halving"},
    ))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        outcome = run_search(study, tmp_path / "dask", trials=2, scheduler=client, quiet=True)
    assert outcome.finished == 2 and outcome.failed == 0
    assert (tmp_path / "dask" / "study.db").exists()
    assert len(read_trials(tmp_path / "dask")) == 2
    assert load_study_best(tmp_path / "dask")[1].learning_rate is not None


@pytest.mark.slow
def test_search_with_two_worker_processes_sharing_the_storage(data_file, tmp_path):
    study = parse_study(study_dict(
        data_file, first_trials=[],
        space={"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
    ))
    outcome = run_search(study, tmp_path / "pool", trials=2, workers=2, quiet=True)
    assert outcome.finished == 2 and outcome.failed == 0
    rows = read_trials(tmp_path / "pool")
    assert len({row["params"] for row in rows}) == 2  # each worker drew its own point


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"space": {"learning_rate": {"type": "float", "low": 0, "high": 0.1}}},
         "space.learning_rate.low", "above 0"),
        ({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 0.01}}},
         "space.learning_rate.high", "above low"),
        ({"space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "scale": "log"}}},
         "space.learning_rate.scale", "unknown field"),
        ({"space": {"histogram_bins": {"type": "float", "low": 10, "high": 30}}},
         "space.histogram_bins.type", "integer setting"),
        ({"space": {"optimizer": {"type": "categorical", "choices": ["adam", "sgdd"]}}},
         "space.optimizer.choices[1]", "adamax"),
        ({"space": {"learnig_rate": {"type": "float", "low": 0.01, "high": 0.1}}},
         "space.learnig_rate", "unknown setting"),
        ({"space": {"layers[1].units": {"type": "int", "low": 4, "high": 8}}},
         "space.layers[1].units", "output layer"),
        ({"space": {"histogram_bins": {"type": "int", "low": 10, "high": 100, "step": 0}}},
         "space.histogram_bins.step", "above 0"),
        ({"space": {"histogram_bins": {"type": "int", "low": 1, "high": 100}}},
         "space.histogram_bins.low", "from 2 to 1000"),
        ({"pruner": {"type": "hyperband"}}, "pruner.type", "median"),
        ({"pruner": {"type": "median", "n_warmup": 2}}, "pruner.n_warmup", "n_warmup_steps"),
        ({"sampler": {"type": "tpe", "seed": -1}}, "sampler.seed", "at least 0"),
        ({"regimes": ["lambda", "lamda"]}, "regimes[1]", "direct-full"),
        ({"settings": {"epochs": 0}}, "settings.epochs", "integer"),
        ({"settings": {"learning_rate": 0.01}}, "space.learning_rate", "one place"),
        ({"settings": {"validation_fraction": 0.0}}, "settings.validation_fraction", "above 0"),
        ({"first_trials": [{"learning_rate": 5.0}]}, "first_trials[0].learning_rate", "outside"),
        ({"first_trials": [{"momentum": 0.9}]}, "first_trials[0].momentum", "not searched"),
        ({"trials": 5}, "trials", "unknown field"),
        ({"architectures": [{"input_units": 784, "layers": [{"units": 0}]}]},
         "architectures[0].layers[0].units", "from 1"),
    ],
)
def test_bad_study_files_are_refused_naming_the_field(data_file, changes, field, words):
    data = study_dict(data_file, first_trials=[])
    data.update(changes)
    with pytest.raises(StudyError) as caught:
        parse_study(data)
    assert caught.value.path == field, str(caught.value)
    assert words in str(caught.value)


def test_study_file_errors_name_the_file_and_presets_resolve(tmp_path, data_file):
    path = tmp_path / "study.json"
    path.write_text("{not json")
    with pytest.raises(StudyError, match="not valid JSON"):
        load_study(path)
    path.write_text(json.dumps({**study_dict(data_file), "space": {}}))
    with pytest.raises(StudyError, match=r"space: .*at least one.*study\.json"):
        load_study(path)
    path.write_text(json.dumps({
        **study_dict(data_file, first_trials=[]),
        "architectures": ["nonlinear", "wide_linear"], "regimes": ["lambda", "lambda-phi"],
        "space": {"layers[0].units": {"type": "categorical", "choices": [100, 200]}},
    }))
    study = load_study(path)
    assert sorted(study.architectures) == ["deep non-linear 784-800-120-10", "wide linear 784-N2-10"] \
        or len(study.architectures) == 2
    assert study.regimes == ["lambda", "lambda-phi"]


def test_load_study_best_explains_a_folder_without_a_best_trial(tmp_path):
    with pytest.raises(ValueError, match="no readable best.json"):
        load_study_best(tmp_path)
    (tmp_path / BEST_FILE).write_text(json.dumps({"architecture": TINY}))
    with pytest.raises(ValueError, match="config: is missing"):
        load_study_best(tmp_path)
    (tmp_path / BEST_FILE).write_text(json.dumps({"architecture": TINY, "config": {"epochs": 0}}))
    with pytest.raises(ValueError, match=r"best\.json: config: epochs"):
        load_study_best(tmp_path)
    (tmp_path / BEST_FILE).write_text('{"architecture": ')
    with pytest.raises(ValueError, match=r"best\.json: not a readable JSON object"):
        load_study_best(tmp_path)


def test_the_shipped_mnist_study_file_is_valid(repo_root, tmp_path):
    data = json.loads((repo_root / "docs" / "studies" / "lambda_nonlinear.json").read_text())
    data["dataset"] = str(write_digits_npz(tmp_path / "d.npz", train=20, test=10))
    study = parse_study(data)
    assert study.regimes == ["lambda"] and "learning_rate" in study.space


def test_cli_search_runs_and_reports(data_file, tmp_path, capsys):
    from spectral_core.cli import main

    path = tmp_path / "study.json"
    path.write_text(json.dumps(study_dict(
        data_file, first_trials=[],
        space={"learning_rate": {"type": "categorical", "choices": [0.03, 0.05]}},
    )))
    status = main(["search", str(path), "--trials", "1", "--out", str(tmp_path / "out"),
                   "--workers", "0", "-q"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "test accuracy" in out and "train it again: spectral-lab train" in out
    assert main(["search", str(path), "--trials", "0", "--out", str(tmp_path / "out"), "-q"]) == 2
