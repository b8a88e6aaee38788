"""ArchitectureEditor driven through its widgets: buttons, keys, delegates, presets, lock, labels."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QComboBox, QSpinBox

from app.editor import ArchitectureEditor
from app.editor.model import DEFAULT_NEW_LAYER
from app.editor.table import ACTIVATION_COLUMN, PROBLEMS_COLUMN, TELESCOPIC_COLUMN, UNITS_COLUMN
from app.editor.widget import LOCKED_TOOLTIP
from app.window_actions import command_action
from resources import preset_paths
from spectral_core.architecture import MAX_UNITS, Architecture, LayerSpec
from spectral_core.regimes import PAPER_NAMES, REGIMES, parameter_counts

NONLINEAR = Architecture.load(next(path for path in preset_paths() if path.stem == "nonlinear"))
PERCEPTRON = Architecture.load(next(path for path in preset_paths() if path.stem == "perceptron"))


@pytest.fixture
def editor(qtbot) -> ArchitectureEditor:
    widget = ArchitectureEditor()
    qtbot.addWidget(widget)
    widget.resize(600, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def units_of(editor: ArchitectureEditor) -> list[int]:
    return [layer.units for layer in editor.architecture().layers]


def select_row(editor: ArchitectureEditor, row: int) -> None:
    editor.view.selectRow(row)
    assert editor.selected_rows() == [row]


def open_editor(editor: ArchitectureEditor, qtbot, row: int, column: int):
    index = editor.table_model.index(row, column)
    editor.view.setCurrentIndex(index)
    editor.view.edit(index)
    widget = editor.view.indexWidget(index)
    assert widget is not None
    qtbot.waitUntil(widget.isVisible)
    return widget


def test_starts_with_the_nonlinear_preset_and_lists_every_preset(editor) -> None:
    assert editor.architecture() == NONLINEAR
    assert editor.is_valid()
    names = [editor.preset_combo.itemText(i) for i in range(editor.preset_combo.count())]
    assert names == [Architecture.load(path).name for path in preset_paths()]
    assert editor.preset_combo.currentText() == NONLINEAR.name
    assert editor.input_units_spin.value() == 784
    assert not editor.train_input_check.isChecked()
    assert editor.commands.count == 0


def test_add_button_inserts_before_the_output_layer_and_selects_it(editor, qtbot) -> None:
    with qtbot.waitSignal(editor.architectureChanged) as changed:
        qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    assert editor.architecture().layers == (*NONLINEAR.layers[:-1], DEFAULT_NEW_LAYER, NONLINEAR.layers[-1])
    assert changed.args == [editor.architecture()]
    assert editor.selected_rows() == [2]
    assert editor.diagram.selected_rows() == [2]
    # The softmax output stays last: the stack is still valid.
    assert editor.is_valid()
    assert not editor.table_model.index(3, PROBLEMS_COLUMN).data()
    # The preset no longer matches: the picker says so.
    assert editor.preset_combo.currentIndex() == -1


def test_insert_button_puts_a_layer_above_the_selection(editor, qtbot) -> None:
    select_row(editor, 1)
    qtbot.mouseClick(editor.insert_button, Qt.MouseButton.LeftButton)
    assert units_of(editor) == [800, DEFAULT_NEW_LAYER.units, 120, 10]
    assert editor.selected_rows() == [1]
    assert editor.is_valid()


def test_up_down_buttons_reorder_and_selection_follows(editor, qtbot) -> None:
    select_row(editor, 0)
    assert not editor.up_button.isEnabled()
    qtbot.mouseClick(editor.down_button, Qt.MouseButton.LeftButton)
    assert units_of(editor) == [120, 800, 10]
    assert editor.selected_rows() == [1]
    assert editor.diagram.selected_rows() == [1], "the diagram's highlight follows the move"
    qtbot.mouseClick(editor.down_button, Qt.MouseButton.LeftButton)
    assert units_of(editor) == [120, 10, 800]
    assert editor.diagram.selected_rows() == editor.selected_rows() == [2]
    assert not editor.down_button.isEnabled()
    qtbot.mouseClick(editor.up_button, Qt.MouseButton.LeftButton)
    assert units_of(editor) == [120, 800, 10]
    assert editor.diagram.selected_rows() == editor.selected_rows() == [1]
    assert editor.commands.count == 3
    # The last layer is telescopic in between: marked with the reason, in the diagram too.
    editor.commands.undo()
    assert "no next layer" in editor.table_model.index(2, TELESCOPIC_COLUMN).data(Qt.ItemDataRole.ToolTipRole)
    assert editor.diagram.boxes()[3].problem
    for _ in range(2):
        editor.commands.undo()
    assert editor.architecture() == NONLINEAR


def test_keyboard_delete_and_alt_arrows(editor, qtbot) -> None:
    editor.activateWindow()
    editor.view.setFocus()
    qtbot.waitUntil(editor.view.hasFocus)
    select_row(editor, 1)
    qtbot.keyClick(editor.view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert units_of(editor) == [120, 800, 10]
    qtbot.keyClick(editor.view, Qt.Key.Key_Delete)
    assert units_of(editor) == [800, 10]
    assert editor.commands.undo_text() == "Remove layer 1"


def test_units_are_set_through_the_spin_box_delegate(editor, qtbot) -> None:
    spin = open_editor(editor, qtbot, 1, UNITS_COLUMN)
    assert isinstance(spin, QSpinBox)
    assert spin.toolTip() == f"Nodes in this layer, 1 to {MAX_UNITS:,}"
    assert spin.value() == 120
    spin.selectAll()
    qtbot.keyClicks(spin, "256")
    qtbot.keyClick(spin, Qt.Key.Key_Return)  # the delegate commits on the next event loop pass
    qtbot.waitUntil(lambda: units_of(editor) == [800, 256, 10])
    assert editor.diagram.boxes()[2].units == 256
    undo = command_action(editor.commands, "undo", editor)
    redo = command_action(editor.commands, "redo", editor)
    assert undo.text() == "&Undo Set units of layer 2 to 256"
    undo.trigger()
    assert editor.architecture() == NONLINEAR
    redo.trigger()
    assert units_of(editor) == [800, 256, 10]


@pytest.mark.parametrize("typed", ["0", "9999999", "-3"])
def test_an_invalid_typed_size_says_why_in_place(editor, qtbot, typed: str) -> None:
    spin = open_editor(editor, qtbot, 0, UNITS_COLUMN)
    spin.selectAll()
    qtbot.keyClicks(spin, typed)
    # The reason appears under the cell while typing, naming the field and the allowed range.
    assert spin.message.isVisible()
    assert spin.message.text().startswith(f"units: must be from 1 to {MAX_UNITS:,}, got")
    assert spin.message.geometry().top() >= spin.geometry().bottom()
    # Enter does not take it and does not silently revert: the editor stays open.
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert editor.view.indexWidget(editor.table_model.index(0, UNITS_COLUMN)) is spin
    assert units_of(editor) == [800, 120, 10]
    # A valid value clears the message and commits.
    spin.selectAll()
    qtbot.keyClicks(spin, "64")
    assert not spin.message.isVisible()
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: units_of(editor) == [64, 120, 10])
    assert editor.is_valid()


def test_leaving_a_cell_with_an_invalid_size_says_what_was_kept(editor, qtbot) -> None:
    spin = open_editor(editor, qtbot, 1, UNITS_COLUMN)
    spin.selectAll()
    qtbot.keyClicks(spin, "0")
    editor.units_delegate.setModelData(spin, editor.table_model, editor.table_model.index(1, UNITS_COLUMN))
    assert units_of(editor) == [800, 120, 10]
    assert editor.refused_label.isVisibleTo(editor)
    assert editor.refused_label.text() == f"Layer 2 units: must be from 1 to {MAX_UNITS:,}, got 0; kept 120."


def test_a_dragged_layer_keeps_the_diagram_highlight_on_it(editor, qtbot) -> None:
    select_row(editor, 0)
    model = editor.table_model
    data = model.mimeData([model.index(0, column) for column in range(model.columnCount())])
    assert model.dropMimeData(data, Qt.DropAction.MoveAction, 2, 0, QModelIndex())
    assert units_of(editor) == [120, 800, 10]
    assert editor.diagram.selected_rows() == editor.selected_rows()
    editor.commands.undo()
    assert units_of(editor) == [800, 120, 10]
    assert editor.diagram.selected_rows() == editor.selected_rows()


def test_parameter_label_keeps_its_height_for_every_regime(editor, qtbot) -> None:
    heights = set()
    for regime in REGIMES:
        editor.set_regime(regime)
        qtbot.wait(1)
        heights.add(editor.parameter_label.height())
        assert not editor.parameter_label.wordWrap()
        assert PAPER_NAMES[regime] in editor.parameter_label.toolTip()
    editor.resize(300, 700)
    qtbot.wait(1)
    heights.add(editor.parameter_label.height())
    assert len(heights) == 1, "the form below would jump"


def test_activation_is_chosen_from_the_combo_delegate(editor, qtbot) -> None:
    combo = open_editor(editor, qtbot, 1, ACTIVATION_COLUMN)
    assert isinstance(combo, QComboBox)
    assert combo.currentText() == "relu"
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # relu -> tanh, committed at once
    assert editor.architecture().layers[1].activation == "tanh"
    assert editor.commands.count == 1


def test_space_toggles_telescopic_and_marks_a_nonlinear_one(editor, qtbot) -> None:
    editor.activateWindow()
    editor.view.setFocus()
    editor.view.setCurrentIndex(editor.table_model.index(1, TELESCOPIC_COLUMN))
    qtbot.keyClick(editor.view, Qt.Key.Key_Space)
    assert editor.architecture().layers[1] == LayerSpec(120, "relu", True)
    assert not editor.is_valid()
    reason = "only linear layers can be telescopic, this one is relu"
    assert editor.table_model.index(1, PROBLEMS_COLUMN).data() == reason
    assert editor.model.problem_text(1) == f"telescopic: {reason}"
    assert editor.problems_label.isVisibleTo(editor)
    assert "fix the marked problems" in editor.parameter_label.text()
    editor.commands.undo()
    assert editor.is_valid() and not editor.problems_label.isVisibleTo(editor)


def test_train_input_eigenvalues_and_input_units_are_undoable(editor, qtbot) -> None:
    box = editor.train_input_check
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert editor.architecture().train_input_eigenvalues
    editor.input_units_spin.setFocus()
    editor.input_units_spin.selectAll()
    qtbot.keyClicks(editor.input_units_spin, "100")
    qtbot.keyClick(editor.input_units_spin, Qt.Key.Key_Return)
    assert editor.architecture().input_units == 100
    assert editor.diagram.boxes()[0].units == 100
    editor.commands.undo()
    assert editor.architecture().input_units == 784
    assert editor.input_units_spin.value() == 784
    editor.commands.undo()
    assert editor.architecture() == NONLINEAR
    assert not editor.train_input_check.isChecked()


def test_picking_a_preset_loads_it_as_one_undo_step(editor, qtbot) -> None:
    editor.preset_combo.setFocus()
    qtbot.keyClick(editor.preset_combo, Qt.Key.Key_Down)  # nonlinear -> perceptron
    assert editor.architecture() == PERCEPTRON
    assert editor.input_units_spin.value() == 784
    assert editor.train_input_check.isChecked()
    assert [box.units for box in editor.diagram.boxes()] == [784, 10]
    assert editor.commands.undo_text() == f"Load preset {PERCEPTRON.name}"
    editor.commands.undo()
    assert editor.architecture() == NONLINEAR
    assert editor.preset_combo.currentText() == NONLINEAR.name


@pytest.mark.parametrize("regime", REGIMES)
def test_parameter_label_matches_the_library_count(editor, regime) -> None:
    editor.load_preset("perceptron")
    editor.set_regime(regime)
    counts = parameter_counts(PERCEPTRON, regime)
    text = editor.parameter_label.text()
    assert f"{counts.trainable:,} of {counts.total:,} trainable" in text
    expected_share = {"lambda": "10.1%", "lambda-phi": "110.0%", "direct-subset": "10.1%", "direct-full": "100.0%"}
    assert f"({expected_share[regime]} of direct-full)" in text


def test_perceptron_under_lambda_trains_794_parameters(editor) -> None:
    editor.load_preset("perceptron")
    editor.set_regime("lambda")
    assert "794 of 8,634 trainable (10.1% of direct-full)" in editor.parameter_label.text()
    # Turning input eigenvalues off leaves the 10 output eigenvalues.
    editor.model.set_train_input_eigenvalues(False)
    assert "10 of 8,634 trainable" in editor.parameter_label.text()


def test_unknown_regime_and_preset_are_refused_by_name(editor) -> None:
    with pytest.raises(ValueError, match="regime: must be one of lambda, lambda-phi"):
        editor.set_regime("adam")
    with pytest.raises(ValueError, match="preset: must be one of .*nonlinear.*got 'vgg'"):
        editor.load_preset("vgg")


def test_set_architecture_is_one_undo_step(editor) -> None:
    custom = Architecture("custom", 20, (LayerSpec(5, "tanh"), LayerSpec(3, "softmax")), True)
    assert editor.set_architecture(custom)
    assert editor.architecture() == custom
    assert editor.input_units_spin.value() == 20
    assert editor.table_model.rowCount() == 2
    editor.commands.undo()
    assert editor.architecture() == NONLINEAR


def test_locked_editor_refuses_edits_until_unlocked(editor, qtbot) -> None:
    undo = command_action(editor.commands, "undo", editor)
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    added = editor.architecture()
    editor.set_locked(True)
    assert editor.is_locked()
    for widget in (editor.add_button, editor.remove_button, editor.preset_combo, editor.input_units_spin,
                   editor.train_input_check):
        assert not widget.isEnabled()
        assert widget.toolTip() == LOCKED_TOOLTIP
    assert editor.lock_label.isVisibleTo(editor)
    assert not undo.isEnabled()
    undo.trigger()
    editor.activateWindow()
    editor.view.setFocus()
    select_row(editor, 0)
    qtbot.keyClick(editor.view, Qt.Key.Key_Delete)
    editor.view.edit(editor.table_model.index(0, UNITS_COLUMN))
    assert editor.view.indexWidget(editor.table_model.index(0, UNITS_COLUMN)) is None
    assert not editor.table_model.setData(editor.table_model.index(0, UNITS_COLUMN), 5, Qt.ItemDataRole.EditRole)
    assert not editor.set_architecture(PERCEPTRON)
    assert not editor.load_preset("perceptron")
    assert editor.architecture() == added
    editor.set_regime("direct-full")  # the count may still follow the regime picker
    assert "100.0% of direct-full" in editor.parameter_label.text()

    editor.set_locked(False)
    assert editor.add_button.isEnabled() and editor.add_button.toolTip() != LOCKED_TOOLTIP
    assert not editor.lock_label.isVisibleTo(editor)
    undo.trigger()
    assert editor.architecture() == NONLINEAR


def test_diagram_shows_the_stack_and_selects_a_clicked_layer(editor, qtbot) -> None:
    boxes = editor.diagram.boxes()
    assert [(box.title, box.units, box.telescopic) for box in boxes] == [
        ("input", 784, False),
        ("layer 1", 800, True),
        ("layer 2", 120, False),
        ("output", 10, False),
    ]
    rects = editor.diagram.box_rects()
    assert all(left.right() < right.left() for left, right in zip(rects[:-1], rects[1:], strict=True))
    # Wider layers get taller boxes.
    assert rects[1].height() > rects[2].height() > rects[3].height()
    qtbot.mouseClick(editor.diagram, Qt.MouseButton.LeftButton, pos=rects[2].center().toPoint())
    assert editor.selected_rows() == [1]
    assert editor.diagram.selected_rows() == [1]
    qtbot.mouseClick(editor.diagram, Qt.MouseButton.LeftButton, pos=QPoint(1, 1))
    assert editor.selected_rows() == [1]


def test_importing_the_editor_does_not_load_tensorflow() -> None:
    code = "import sys, app.editor; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
