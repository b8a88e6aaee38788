"""Architecture JSON: the documented form round-trips; every bad field is named in the error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources import preset_paths
from spectral_core.architecture import MAX_FILE_BYTES, Architecture, ArchitectureError, LayerSpec
from spectral_core.cli import main

DOCUMENTED = {
    "name": "deep non-linear",
    "input_units": 784,
    "layers": [
        {"units": 800, "activation": "linear", "telescopic": True},
        {"units": 120, "activation": "relu"},
        {"units": 10, "activation": "softmax"},
    ],
    "train_input_eigenvalues": False,
}


def with_layer(index: int, **changes) -> dict:
    data = json.loads(json.dumps(DOCUMENTED))
    data["layers"][index].update(changes)
    return data


def test_documented_form_round_trips(tmp_path: Path):
    architecture = Architecture.from_dict(DOCUMENTED)
    assert architecture.layers[0] == LayerSpec(800, "linear", True)
    path = tmp_path / "net.json"
    architecture.save(path)
    assert json.loads(path.read_text()) == DOCUMENTED
    assert Architecture.load(path) == architecture


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
def test_presets_load_and_are_saved_in_canonical_form(path: Path):
    architecture = Architecture.load(path)
    assert json.loads(architecture.to_json()) == json.loads(path.read_text())


BAD_FIELDS = [
    (with_layer(1, units=0), "layers[1].units", "must be an integer from 1 to 100000, got 0"),
    (with_layer(0, units=2.5), "layers[0].units", "got 2.5"),
    (with_layer(0, units=True), "layers[0].units", "got True"),
    (
        with_layer(1, activation="gelu"),
        "layers[1].activation",
        "linear, relu, tanh, sigmoid, softmax",
    ),
    (with_layer(1, activation="softmax"), "layers[1].activation", "only on the last layer"),
    (
        with_layer(1, telescopic=True),
        "layers[1].telescopic",
        "only linear layers can be telescopic",
    ),
    (with_layer(2, activation="linear", telescopic=True), "layers[2].telescopic", "no next layer"),
    (with_layer(0, telescopic="yes"), "layers[0].telescopic", "true or false"),
    (with_layer(0, colour="red"), "layers[0].colour", "allowed fields are units, activation"),
    (
        with_layer(1, activation="rleu"),
        "layers[1].activation",
        "must be one of linear, relu, tanh, sigmoid, softmax, got 'rleu'",
    ),
    ({**DOCUMENTED, "input_units": -3}, "input_units", "from 1 to 100000, got -3"),
    ({**DOCUMENTED, "layers": []}, "layers", "must hold 1 to 64 layers, got 0"),
    ({**DOCUMENTED, "layers": {"units": 3}}, "layers", "must be a non-empty list of at most 64 layer"),
    ({**DOCUMENTED, "layers": [5]}, "layers[0]", "must be an object"),
    ({**DOCUMENTED, "train_input_eigenvalues": 1}, "train_input_eigenvalues", "true or false"),
    ({**DOCUMENTED, "name": 7}, "name", "must be a string"),
    ({k: v for k, v in DOCUMENTED.items() if k != "input_units"}, "input_units", "is required"),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD_FIELDS)
def test_bad_field_in_a_file_is_named(data, field, message, tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArchitectureError) as caught:
        Architecture.load(path)
    assert caught.value.path == field
    assert str(caught.value).startswith(f"{field}: ")
    assert message in str(caught.value)
    assert "bad.json" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "input_units": 784,', "not valid JSON (line 1"),
        ("[1, 2, 3]", "must be a JSON object, got list"),
        ('"just a string"', "must be a JSON object, got str"),
        (b"\xff\xfe\x00binary", "not a UTF-8 text file"),
        (None, "cannot read"),
    ],
)
def test_unreadable_files_are_refused_with_the_file_name(content, message, tmp_path: Path):
    path = tmp_path / "net.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ArchitectureError, match="net.json") as caught:
        Architecture.load(path)
    assert message in str(caught.value)


def test_huge_file_is_refused_before_reading(tmp_path: Path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: big on paper, nothing really written
        handle.truncate(MAX_FILE_BYTES * 50)

    def no_reading(*args, **kwargs):
        raise AssertionError("a huge file must be refused before it is read")

    monkeypatch.setattr(Path, "read_text", no_reading)
    with pytest.raises(ArchitectureError, match=r"huge\.json is 50000000 bytes; an architecture"):
        Architecture.load(path)


def test_problems_lists_every_bad_field_at_once():
    architecture = Architecture(
        "x",
        0,
        (LayerSpec(0, "softmax"), LayerSpec(5, "relu", telescopic=True), LayerSpec(3, "mish")),
    )
    paths = [problem.path for problem in architecture.problems()]
    assert paths == [
        "input_units",
        "layers[0].units",
        "layers[0].activation",
        "layers[1].telescopic",
        "layers[2].activation",
    ]


def test_cli_reports_a_bad_architecture_without_traceback(tmp_path: Path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(with_layer(1, units=0)))
    assert main(["params", str(path)]) == 2
    error = capsys.readouterr().err
    assert "layers[1].units: must be an integer from 1 to 100000, got 0" in error
    assert "Traceback" not in error
