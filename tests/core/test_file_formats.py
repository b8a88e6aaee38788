"""Strict file formats: unknown keys refused with the field path; JSON Schemas in docs/schemas;
`spectral-lab train --config FILE`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from spectral_core import formats
from spectral_core.architecture import Architecture, ArchitectureError, LayerSpec
from spectral_core.cli import build_parser, config_from_args, main
from spectral_core.config import LIMITS, ConfigError, TrainingConfig
from spectral_core.sweep import EXAMPLE, FIELDS, SETTING_FIELDS, SweepError, parse_sweep

jsonschema = pytest.importorskip("jsonschema")


def test_an_unknown_setting_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^epohcs: unknown setting; allowed settings are epochs, "):
        TrainingConfig.from_dict({"epohcs": 3})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"epochs": 0}, "epochs: must be an integer from 1 to 10000, got 0"),
        ({"epochs": "3"}, "epochs: must be an integer from 1 to 10000, got '3'"),
        ({"epochs": True}, "epochs: must be an integer from 1 to 10000, got True"),
        ({"batch_size": 2.5}, "batch_size: must be an integer from 1 to 1000000, got 2.5"),
        ({"learning_rate": 0}, "learning_rate: must be above 0 and at most 10 (or null), got 0"),
        ({"optimizer": "lbfgs"}, "optimizer: must be one of adamax, adam, sgd, rmsprop, got 'lbfgs'"),
        ({"validation_fraction": 1}, "validation_fraction: must be from 0 to below 1, got 1"),
        ({"snapshot_interval": -0.5}, "snapshot_interval: must be 0 or more, got -0.5"),
        ({"jit_compile": "yes"}, 'jit_compile: must be true, false or "auto", got \'yes\''),
        ({"jit_compile": 1}, 'jit_compile: must be true, false or "auto", got 1'),
        ({"initialization": "he"}, "initialization: must be one of paper, paper-text, glorot"),
        ([1, 2], "the training settings must be a JSON object, got list"),
    ],
)
def test_bad_settings_name_the_field_and_what_it_allows(data, message):
    with pytest.raises(ConfigError) as raised:
        TrainingConfig.from_dict(data)
    assert str(raised.value).startswith(message)


def test_good_settings_round_trip():
    config = TrainingConfig(epochs=3, learning_rate=0.01, optimizer="adam", jit_compile=True)
    assert TrainingConfig.from_dict(config.to_dict()) == config
    assert TrainingConfig.from_dict({"validation_fraction": 0}).validation_fraction == 0


def test_limits_name_only_real_settings():
    fields = {field.name for field in dataclasses.fields(TrainingConfig)}
    assert set(LIMITS) <= fields


def test_an_unknown_field_anywhere_in_an_architecture_is_refused_with_its_path():
    layer = {"units": 10, "activation": "softmax"}
    with pytest.raises(ArchitectureError) as raised:
        Architecture.from_dict({"input_units": 4, "layers": [{**layer, "unit": 3}]})
    assert raised.value.path == "layers[0].unit"
    with pytest.raises(ArchitectureError) as raised:
        Architecture.from_dict({"input_units": 4, "layers": [layer], "train_input": True})
    assert raised.value.path == "train_input"


def test_an_unknown_field_anywhere_in_a_sweep_is_refused_with_its_path():
    example = json.loads(EXAMPLE)
    for broken, path in [
        ({**example, "seed": 3}, "seed"),
        ({**example, "settings": {"epohcs": 3}}, "settings.epohcs"),
        ({**example, "grid": {"learnig_rate": [0.1]}}, "grid.learnig_rate"),
        ({**example, "architectures": [{"input_units": 784, "layers": [], "widths": 3}]},
         "architectures[0].widths"),
        ({**example, "architectures": [{"input_units": 784, "layers": [{"units": 3, "unit": 3}]}]},
         "architectures[0].layers[0].unit"),
    ]:
        with pytest.raises(SweepError) as raised:
            parse_sweep(broken)
        assert raised.value.path == path


def test_the_declared_formats_match_the_values_they_describe():
    assert set(formats.ArchitectureFormat.model_fields) == set(
        Architecture("a", 4, (LayerSpec(2, "softmax"),)).to_dict()
    )
    assert set(formats.LayerFormat.model_fields) == {f.name for f in dataclasses.fields(LayerSpec)}
    # The sweep --help lists every field of a sweep file.
    assert [line.split()[0] for line in FIELDS.splitlines()] == list(formats.SweepFormat.model_fields)
    settings = formats.SweepFormat.model_fields["settings"].annotation
    assert set(settings.model_fields) == set(SETTING_FIELDS)
    assert set(formats.training_settings_model().model_fields) == {
        f.name for f in dataclasses.fields(TrainingConfig)
    }


def test_the_committed_json_schemas_are_current(repo_root: Path, tmp_path: Path):
    written = formats.write_schemas(tmp_path)
    committed = repo_root / "docs" / "schemas"
    assert sorted(p.name for p in committed.glob("*.json")) == sorted(p.name for p in written)
    for path in written:
        assert (committed / path.name).read_text() == path.read_text(), (
            f"docs/schemas/{path.name} is stale: run python -m spectral_core.formats docs/schemas"
        )


def test_the_schemas_accept_the_shipped_files_and_refuse_unknown_keys(repo_root: Path):
    schemas = formats.json_schemas()
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    validators = {n: jsonschema.Draft202012Validator(s) for n, s in schemas.items()}
    for preset in (repo_root / "resources" / "presets").glob("*.json"):
        validators["architecture.schema.json"].validate(json.loads(preset.read_text()))
    sweep = validators["sweep.schema.json"]
    sweep.validate(json.loads(EXAMPLE))
    sweep.validate(json.loads((repo_root / "docs" / "sweep_initialization.json").read_text()))
    validators["training-config.schema.json"].validate(TrainingConfig().to_dict())
    assert not validators["training-config.schema.json"].is_valid({"epohcs": 3})
    assert not validators["architecture.schema.json"].is_valid(
        {"input_units": 4, "layers": [{"units": 2, "unit": 3}]}
    )
    assert not sweep.is_valid({**json.loads(EXAMPLE), "settings": {"epohcs": 3}})


def test_the_session_schema_accepts_a_saved_session_and_refuses_unknown_keys():
    from spectral_core.record import RunRecord
    from spectral_core.session import Session, session_to_json

    architecture = Architecture("a", 4, (LayerSpec(2, "softmax"),))
    run = RunRecord("r", architecture, "lambda", TrainingConfig(), "mnist", [{"loss": 1.0}])
    document = session_to_json(Session(architecture, "lambda", TrainingConfig(), "mnist", [run]))
    validator = jsonschema.Draft202012Validator(formats.json_schemas()["session.schema.json"])
    validator.validate(json.loads(json.dumps(document)))
    document["runs"][0]["analysis"]["histograms"] = {"layer_1": {"counts": "a.npy", "edge": "b.npy"}}
    assert not validator.is_valid(document)
    with pytest.raises(formats.FormatErrors) as raised:
        formats.parse(formats.SessionFormat, document, "session")
    assert [str(problem) for problem in raised.value.problems] == [
        "runs[0].analysis.histograms.layer_1.edge: unknown field; allowed fields are counts, edges",
        "runs[0].analysis.histograms.layer_1.edges: is required",
    ]


def test_every_problem_is_listed_misspelt_keys_first():
    with pytest.raises(formats.FormatErrors) as raised:
        formats.parse(
            formats.ArchitectureFormat,
            {"input_unit": 4, "layers": [{"units": 2, "activation": "softmax"}, {"units": 0}]},
            "architecture",
        )
    assert [str(problem) for problem in raised.value.problems] == [
        "input_unit: unknown field; allowed fields are name, input_units, layers, "
        "train_input_eigenvalues",
        "input_units: is required",
        "layers[0].activation: softmax is allowed only on the last layer",
        "layers[1].units: must be an integer from 1 to 100000, got 0",
    ]


def parse_train(*argv: str):
    return build_parser().parse_args(["train", "perceptron", "--out", "x", *argv])


def test_train_config_file_with_options_overriding_it(tmp_path: Path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"epochs": 7, "learning_rate": 0.05, "histogram_bins": 30}))
    config = config_from_args(parse_train("--config", str(settings)))
    assert (config.epochs, config.learning_rate, config.histogram_bins) == (7, 0.05, 30)
    assert config.batch_size == TrainingConfig().batch_size
    # Options given on the command line win, even when they equal the default.
    config = config_from_args(parse_train("--config", str(settings), "--epochs", "20"))
    assert (config.epochs, config.learning_rate) == (20, 0.05)
    assert config_from_args(parse_train("--epochs", "4")).epochs == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"epohcs": 3}', "epohcs: unknown setting"),
        ('{"epochs": 0}', "epochs: must be an integer from 1 to 10000, got 0"),
        ('{"epochs": 3,}', "not valid JSON (line 1, column"),
        ("[3]", "must hold a JSON object, got list"),
    ],
)
def test_a_bad_config_file_exits_2_naming_the_file_and_the_field(
    tmp_path: Path, capsys, content: str, message: str
):
    settings = tmp_path / "settings.json"
    settings.write_text(content)
    assert main(["train", "perceptron", "--config", str(settings), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert message in error and "settings.json" in error and "Traceback" not in error
    assert not (tmp_path / "o").exists()
