"""ArchitectureModel and its table proxy: Qt model contract, undoable edits, marks, drag and drop."""

from __future__ import annotations

import json
import os
from dataclasses import replace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QMimeData, QModelIndex, Qt

from app.editor.model import (
    DEFAULT_NEW_LAYER,
    LAYER_ROWS_MIME,
    PROBLEM_COLOR,
    ActivationRole,
    ArchitectureModel,
    LayerRole,
    ProblemRole,
    TelescopicRole,
    UnitsRole,
)
from app.editor.table import (
    ACTIVATION_COLUMN,
    PROBLEMS_COLUMN,
    TELESCOPIC_COLUMN,
    UNITS_COLUMN,
    LayerTableProxy,
)
from app.window_actions import command_action
from resources import preset_paths
from spectral_core.architecture import MAX_UNITS, Architecture, ArchitectureError, LayerSpec

DEEP = Architecture(
    "deep",
    784,
    (
        LayerSpec(800, "linear", True),
        LayerSpec(600, "linear", True),
        LayerSpec(120, "relu"),
        LayerSpec(10, "softmax"),
    ),
)


def units_of(model: ArchitectureModel) -> list[int]:
    return [layer.units for layer in model.architecture().layers]


@pytest.fixture
def model(qapp) -> ArchitectureModel:
    return ArchitectureModel(DEEP)


@pytest.mark.parametrize("path", preset_paths(), ids=lambda path: path.stem)
def test_list_model_and_table_proxy_pass_the_model_tester(qtmodeltester, path) -> None:
    model = ArchitectureModel(Architecture.load(path))
    proxy = LayerTableProxy(model)
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    # The testers stay attached and check every signal of the edits below.
    model.add_layer()
    model.insert_layer(0, LayerSpec(7, "tanh"))
    model.move_layer(0, model.rowCount() - 1)
    model.move_layers([0, model.rowCount() - 1], 1)
    model.set_units(0, 33)
    model.remove_layers([0, 1])
    model.set_architecture(DEEP)
    while model.commands.can_undo():
        model.commands.undo()
    assert model.architecture() == Architecture.load(path)


def test_roles_expose_each_field(model) -> None:
    index = model.index(0)
    assert model.data(index, UnitsRole) == 800
    assert model.data(index, Qt.ItemDataRole.EditRole) == 800
    assert model.data(index, ActivationRole) == "linear"
    assert model.data(index, TelescopicRole) is True
    assert model.data(index, LayerRole) == DEEP.layers[0]
    assert model.data(index, ProblemRole) == ""
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "800 · linear · telescopic"
    names = {bytes(name.data()) for name in model.roleNames().values()}
    assert names >= {b"units", b"activation", b"telescopic", b"layer", b"problem"}


EDITS = {
    "add": (lambda m: m.add_layer(LayerSpec(5, "tanh")), lambda a: a.layers[-1] == LayerSpec(5, "tanh")),
    "insert": (lambda m: m.insert_layer(1, LayerSpec(64, "relu")), lambda a: a.layers[1].units == 64),
    "remove": (lambda m: m.remove_layers([1]), lambda a: [x.units for x in a.layers] == [800, 120, 10]),
    "remove two": (lambda m: m.remove_layers([0, 2]), lambda a: [x.units for x in a.layers] == [600, 10]),
    "move down": (lambda m: m.move_layer(0, 2), lambda a: [x.units for x in a.layers] == [600, 120, 800, 10]),
    "move up": (lambda m: m.move_layer(3, 0), lambda a: [x.units for x in a.layers] == [10, 800, 600, 120]),
    "move apart rows": (
        lambda m: m.move_layers([0, 2], 4),
        lambda a: [x.units for x in a.layers] == [600, 10, 800, 120],
    ),
    "set units": (lambda m: m.set_units(2, 99), lambda a: a.layers[2].units == 99),
    "set activation": (lambda m: m.set_activation(2, "tanh"), lambda a: a.layers[2].activation == "tanh"),
    "toggle telescopic": (lambda m: m.set_telescopic(0, False), lambda a: not a.layers[0].telescopic),
    "train input eigenvalues": (
        lambda m: m.set_train_input_eigenvalues(True),
        lambda a: a.train_input_eigenvalues,
    ),
    "input units": (lambda m: m.set_input_units(100), lambda a: a.input_units == 100),
    "set architecture": (
        lambda m: m.set_architecture(Architecture("p", 784, (LayerSpec(10, "softmax"),), True)),
        lambda a: a.name == "p" and len(a.layers) == 1,
    ),
    "set data units": (
        lambda m: m.setData(m.index(1), 321, UnitsRole),
        lambda a: a.layers[1].units == 321,
    ),
    "set data layer": (
        lambda m: m.setData(m.index(3), LayerSpec(12, "sigmoid"), LayerRole),
        lambda a: a.layers[3] == LayerSpec(12, "sigmoid"),
    ),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_every_edit_is_one_undo_step_that_restores_exactly(model, name) -> None:
    edit, expected = EDITS[name]
    before = model.architecture()
    emitted: list[Architecture] = []
    model.architectureChanged.connect(emitted.append)
    assert edit(model)
    after = model.architecture()
    assert emitted[-1] == after
    assert expected(after), after
    assert model.commands.count == 1
    model.commands.undo()
    assert model.architecture() == before
    assert [model.layer(row) for row in range(model.rowCount())] == list(before.layers)
    model.commands.redo()
    assert model.architecture() == after


def test_unchanged_values_push_nothing(model) -> None:
    assert not model.set_units(0, 800)
    assert not model.set_architecture(DEEP)
    assert not model.move_layers([1], 1)
    assert model.setData(model.index(0), 800, UnitsRole)
    assert model.commands.count == 0


@pytest.mark.parametrize(
    ("role", "value"),
    [
        (UnitsRole, 0),
        (UnitsRole, MAX_UNITS + 1),
        (UnitsRole, "12"),
        (UnitsRole, True),
        (UnitsRole, 3.5),
        (Qt.ItemDataRole.EditRole, -4),
        (ActivationRole, "gelu"),
        (TelescopicRole, "yes"),
        (LayerRole, LayerSpec(0, "relu")),
        (Qt.ItemDataRole.DisplayRole, 5),
    ],
)
def test_values_that_are_never_valid_are_refused(model, role, value) -> None:
    assert not model.setData(model.index(2), value, role)
    assert model.architecture() == DEEP
    assert model.commands.count == 0


def test_python_edits_with_bad_values_name_the_field(model) -> None:
    with pytest.raises(ArchitectureError, match=r"layers\[1\]\.units: must be an integer from 1 to 100000"):
        model.set_units(1, 0)
    with pytest.raises(ArchitectureError, match="input_units"):
        model.set_input_units(MAX_UNITS + 1)
    with pytest.raises(ArchitectureError, match="activation: must be one of linear"):
        model.add_layer(LayerSpec(3, "swish"))
    with pytest.raises(IndexError, match="row: must be from 0 to 3"):
        model.remove_layers([4])
    assert model.commands.count == 0


def test_misplaced_layers_are_marked_with_the_reason(model) -> None:
    proxy = LayerTableProxy(model)
    model.move_layer(3, 0)  # softmax first
    model.set_telescopic(1, False)
    model.set_activation(1, "relu")
    model.set_telescopic(1, True)  # telescopic but non-linear
    assert not model.is_valid()
    assert "softmax is allowed only on the last layer" in model.data(model.index(0), ProblemRole)
    assert model.data(model.index(0), Qt.ItemDataRole.ForegroundRole).color() == PROBLEM_COLOR
    assert "softmax" in model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert model.row_problems(1) == {"telescopic": "only linear layers can be telescopic, this one is relu"}
    assert model.data(model.index(2), ProblemRole) == ""
    assert model.data(model.index(2), Qt.ItemDataRole.ForegroundRole) is None

    telescopic_cell = proxy.index(1, TELESCOPIC_COLUMN)
    assert "only linear layers" in proxy.data(telescopic_cell, Qt.ItemDataRole.ToolTipRole)
    assert proxy.data(telescopic_cell, Qt.ItemDataRole.BackgroundRole) is not None
    assert proxy.data(proxy.index(1, UNITS_COLUMN), Qt.ItemDataRole.BackgroundRole) is None
    assert "only linear layers" in proxy.data(proxy.index(1, PROBLEMS_COLUMN))
    assert proxy.data(proxy.index(2, PROBLEMS_COLUMN)) == ""

    model.move_layer(0, 3)
    model.set_activation(0, "linear")
    assert model.is_valid()
    assert proxy.data(proxy.index(3, PROBLEMS_COLUMN)) == ""


def test_problems_that_belong_to_no_layer_are_global(model) -> None:
    model.remove_layers(range(4))
    assert model.rowCount() == 0
    assert model.global_problems() == ["layers: must hold 1 to 64 layers, got 0"]
    assert not model.is_valid()


def test_proxy_columns_edit_through_the_list_model(model) -> None:
    proxy = LayerTableProxy(model)
    assert proxy.columnCount() == 4
    assert proxy.headerData(UNITS_COLUMN, Qt.Orientation.Horizontal) == "Units"
    assert proxy.data(proxy.index(2, UNITS_COLUMN)) == "120"
    assert proxy.data(proxy.index(2, UNITS_COLUMN), Qt.ItemDataRole.EditRole) == 120
    assert proxy.data(proxy.index(2, ACTIVATION_COLUMN)) == "relu"
    assert proxy.data(proxy.index(0, TELESCOPIC_COLUMN), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert proxy.flags(proxy.index(0, TELESCOPIC_COLUMN)) & Qt.ItemFlag.ItemIsUserCheckable
    assert not proxy.flags(proxy.index(0, PROBLEMS_COLUMN)) & Qt.ItemFlag.ItemIsEditable

    assert proxy.setData(proxy.index(2, UNITS_COLUMN), 64, Qt.ItemDataRole.EditRole)
    assert proxy.setData(proxy.index(2, ACTIVATION_COLUMN), "tanh", Qt.ItemDataRole.EditRole)
    # Views send the check state as a plain int.
    assert proxy.setData(proxy.index(0, TELESCOPIC_COLUMN), 0, Qt.ItemDataRole.CheckStateRole)
    assert not proxy.setData(proxy.index(2, UNITS_COLUMN), 0, Qt.ItemDataRole.EditRole)
    assert not proxy.setData(proxy.index(2, PROBLEMS_COLUMN), "x", Qt.ItemDataRole.EditRole)
    assert model.architecture().layers[2] == LayerSpec(64, "tanh")
    assert not model.architecture().layers[0].telescopic
    assert model.commands.count == 3


@st.composite
def moves(draw):
    count = draw(st.integers(1, 9))
    rows = draw(st.sets(st.integers(0, count - 1), min_size=1))
    return count, sorted(rows), draw(st.integers(0, count))


@settings(max_examples=150, deadline=None, database=None)
@given(moves())
def test_moving_any_rows_anywhere_matches_qt_move_semantics(qapp, move) -> None:
    count, rows, destination = move
    layers = tuple(LayerSpec(units, "relu") for units in range(1, count + 1))
    model = ArchitectureModel(Architecture("m", 4, layers))
    # Independent expectation: the moved rows, in order, land in front of ``destination``.
    staying = [row for row in range(count) if row not in rows]
    before = [row for row in staying if row < destination]
    after = [row for row in staying if row >= destination]
    expected = [layers[row] for row in before + rows + after]
    moved: list[int] = []
    model.rowsMoved.connect(lambda *_: moved.append(1))
    changed = model.move_layers(rows, destination)
    assert list(model.architecture().layers) == expected
    assert changed == (expected != list(layers))
    assert model.commands.count == int(changed)
    # Views see single-row moves (their selection follows), never more than rows moved.
    assert len(moved) <= len(rows)
    model.commands.undo()
    assert model.architecture().layers == layers
    assert len(moved) <= 2 * len(rows)


def test_move_rows_follows_qt_semantics_and_is_undoable(model) -> None:
    assert model.moveRows(QModelIndex(), 0, 2, QModelIndex(), 4)
    assert units_of(model) == [120, 10, 800, 600]
    assert model.commands.count == 1
    model.commands.undo()
    assert model.architecture() == DEEP
    assert not model.moveRows(QModelIndex(), 3, 2, QModelIndex(), 0)  # past the end
    assert not model.moveRows(QModelIndex(), 1, 1, QModelIndex(), 1)  # onto itself
    assert not model.moveRows(model.index(0), 0, 1, QModelIndex(), 2)  # rows have no children


def test_dragging_rows_inside_the_model_moves_them_in_one_step(model) -> None:
    proxy = LayerTableProxy(model)
    # A row drag carries one index per column; the rows count once.
    mime = proxy.mimeData([proxy.index(3, column) for column in range(4)] + [proxy.index(1, 0)])
    assert mime.hasFormat(LAYER_ROWS_MIME)
    assert proxy.canDropMimeData(mime, Qt.DropAction.MoveAction, 0, 0, QModelIndex())
    assert proxy.dropMimeData(mime, Qt.DropAction.MoveAction, 0, 0, QModelIndex())
    assert units_of(model) == [600, 10, 800, 120]
    assert model.commands.count == 1
    model.commands.undo()
    assert model.architecture() == DEEP

    # Dropped onto a row (row -1, parent = that row): in front of it.
    mime = model.mimeData([model.index(0)])
    assert proxy.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, proxy.index(3, 1))
    assert units_of(model) == [600, 120, 800, 10]
    # Dropped on empty space below the rows: at the end.
    mime = model.mimeData([model.index(0)])
    assert proxy.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    assert units_of(model) == [120, 800, 10, 600]
    # The view removes dragged rows after a move through removeRows; that must do nothing.
    assert not proxy.removeRows(0, 1) and not model.removeRows(0, 1)
    assert model.rowCount() == 4


def test_layers_dragged_from_another_editor_are_copied(model) -> None:
    other = ArchitectureModel(Architecture("other", 3, (LayerSpec(42, "tanh"), LayerSpec(2, "softmax"))))
    mime = other.mimeData([other.index(0)])
    assert model.dropMimeData(mime, Qt.DropAction.MoveAction, 1, 0, QModelIndex())
    assert units_of(model) == [800, 42, 600, 120, 10]
    assert model.layer(1) == LayerSpec(42, "tanh")
    assert other.rowCount() == 2
    model.commands.undo()
    assert model.architecture() == DEEP


def test_malformed_drops_are_refused(model) -> None:
    for payload in (b"not json", b'{"rows": [0]}', json.dumps({"rows": [0], "layers": [{"units": 0}]}).encode()):
        mime = QMimeData()
        mime.setData(LAYER_ROWS_MIME, payload)
        assert not model.dropMimeData(mime, Qt.DropAction.CopyAction, 0, 0, QModelIndex())
    text = QMimeData()
    text.setText("800")
    assert not model.canDropMimeData(text, Qt.DropAction.CopyAction, 0, 0, QModelIndex())
    assert model.architecture() == DEEP and model.commands.count == 0


def test_locked_model_refuses_edits_undo_and_drops(model, qapp) -> None:
    model.set_units(0, 500)
    undo_action = command_action(model.commands, "undo", None)
    assert undo_action.isEnabled()
    model.set_locked(True)
    assert not undo_action.isEnabled()
    edited = model.architecture()
    assert not model.setData(model.index(0), 100, UnitsRole)
    assert not model.add_layer()
    assert not model.remove_layers([0])
    assert not model.move_layer(0, 1)
    assert not model.set_architecture(DEEP)
    assert not model.set_train_input_eigenvalues(True)
    assert not model.dropMimeData(model.mimeData([model.index(0)]), Qt.DropAction.MoveAction, 3, 0, QModelIndex())
    assert not model.flags(model.index(0)) & Qt.ItemFlag.ItemIsEditable
    undo_action.trigger()
    model.commands.undo()
    assert model.architecture() == edited
    model.set_locked(False)
    assert undo_action.isEnabled() and undo_action.text() == "&Undo Set units of layer 1 to 500"
    undo_action.trigger()
    assert model.architecture() == DEEP


def test_input_unit_steps_merge_into_one_undo_step(model) -> None:
    for units in (785, 786, 787):
        model.set_input_units(units)
    assert model.commands.count == 1
    model.commands.undo()
    assert model.architecture().input_units == 784
    model.commands.redo()
    model.set_input_units(784)  # back where it started: nothing left to undo
    assert model.commands.count == 0 or not model.commands.can_undo()
    assert model.architecture() == DEEP


def test_removing_several_layers_undoes_in_one_step(model) -> None:
    model.remove_layers([3, 0, 1])
    assert units_of(model) == [120]
    assert model.commands.count == 1
    assert model.commands.undo_text() == "Remove layers 1, 2, 4"
    model.commands.undo()
    assert model.architecture() == DEEP


def test_default_new_layer_is_a_valid_hidden_layer(model) -> None:
    model.insert_layer(3)
    assert model.layer(3) == DEFAULT_NEW_LAYER
    assert model.is_valid()
    assert replace(DEFAULT_NEW_LAYER).activation != "softmax"
