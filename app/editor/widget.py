"""The architecture editor: presets, a layer table, a live diagram and the parameter count."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.commands import CommandStack
from app.editor.delegates import ActivationDelegate, UnitsDelegate
from app.editor.diagram import StackDiagram
from app.editor.model import ArchitectureModel
from app.editor.table import (
    ACTIVATION_COLUMN,
    PROBLEMS_COLUMN,
    TELESCOPIC_COLUMN,
    UNITS_COLUMN,
    LayerTableProxy,
)
from app.lab_state import LabState
from resources import preset_paths
from spectral_core.architecture import MAX_LAYERS, MAX_UNITS, Architecture, ArchitectureError
from spectral_core.regimes import PAPER_NAMES, check_regime, parameter_counts

START_PRESET = "nonlinear"
LOCKED_TOOLTIP = "Training is running: the architecture cannot change until it ends"
EDIT_TRIGGERS = (
    QAbstractItemView.EditTrigger.DoubleClicked
    | QAbstractItemView.EditTrigger.EditKeyPressed
    | QAbstractItemView.EditTrigger.SelectedClicked
)


def load_presets() -> dict[str, Architecture | ArchitectureError]:
    """Every preset file by its stem; a file that fails to load maps to its error."""
    presets: dict[str, Architecture | ArchitectureError] = {}
    for path in preset_paths():
        try:
            presets[path.stem] = Architecture.load(path)
        except ArchitectureError as error:
            presets[path.stem] = error
    return presets


def start_architecture(presets: dict[str, Architecture | ArchitectureError] | None = None) -> Architecture:
    """The architecture a new window starts with: the START_PRESET, else the first readable preset."""
    presets = load_presets() if presets is None else presets
    start = presets.get(START_PRESET)
    if isinstance(start, Architecture):
        return start
    return next(value for value in presets.values() if isinstance(value, Architecture))


def share_text(part: int, whole: int) -> str:
    """A percentage with about three significant digits, for labels."""
    percent = 100 * part / whole
    return f"{percent:.1f}%" if percent >= 1 else f"{percent:.2g}%"


class ArchitectureEditor(QWidget):
    """Shows ``state``'s :class:`Architecture` and turns every edit into a command on
    ``commands`` (both made here when not given: an editor on its own)."""

    architectureChanged = Signal(object)

    def __init__(
        self,
        state: LabState | None = None,
        commands: CommandStack | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._presets = load_presets()
        self.state = state if state is not None else LabState(start_architecture(self._presets))
        self.commands = commands if commands is not None else CommandStack()
        self._regime = "lambda"
        self.model = ArchitectureModel(self.state, self.commands, self)
        start = self.model.architecture()
        self.table_model = LayerTableProxy(self.model, self)
        self._build()
        self._tooltips = {widget: widget.toolTip() for widget in self._edit_widgets()}
        self.model.architectureChanged.connect(self._on_architecture_changed)
        self.model.rowsInserted.connect(self._select_inserted)
        self.model.rowsRemoved.connect(self._select_after_removal)
        self.model.modelReset.connect(self._update_buttons)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # Moves (Up, Down, a drag, undo) carry the selection along without selectionChanged:
        # the diagram's highlight follows them here.
        for signal in (
            self.table_model.rowsMoved, self.table_model.layoutChanged, self.table_model.modelReset,
            self.model.architectureChanged,
        ):
            signal.connect(self._on_selection_changed)
        self._refresh(start)

    # -- the interface the main window uses ---------------------------------------------
    def architecture(self) -> Architecture:
        return self.model.architecture()

    def is_valid(self) -> bool:
        return self.model.is_valid()

    def set_architecture(self, architecture: Architecture) -> bool:
        """Replace the whole architecture as one undo step; False if locked or unchanged."""
        return self.model.set_architecture(architecture, f"Set architecture {architecture.name}")

    def preset_names(self) -> list[str]:
        return list(self._presets)

    def load_preset(self, name: str) -> bool:
        """Load ``resources/presets/<name>.json`` as one undo step; False if locked or unchanged."""
        if name not in self._presets:
            raise ValueError(f"preset: must be one of {', '.join(self._presets)}, got {name!r}")
        preset = self._presets[name]
        if isinstance(preset, ArchitectureError):
            raise preset
        return self.model.set_architecture(preset, f"Load preset {preset.name}")

    def regime(self) -> str:
        return self._regime

    def set_regime(self, regime: str) -> None:
        self._regime = check_regime(regime)
        self._refresh_parameters(self.architecture())

    def is_locked(self) -> bool:
        return self.model.is_locked()

    def set_locked(self, locked: bool) -> None:
        """While locked (training), edits and undo/redo are refused and the controls disabled."""
        self.model.set_locked(locked)
        for widget in self._edit_widgets():
            widget.setEnabled(not locked)
            widget.setToolTip(LOCKED_TOOLTIP if locked else self._tooltips[widget])
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers if locked else EDIT_TRIGGERS)
        self.view.setDragDropMode(
            QAbstractItemView.DragDropMode.NoDragDrop
            if locked
            else QAbstractItemView.DragDropMode.InternalMove
        )
        self.view.setToolTip(LOCKED_TOOLTIP if locked else "")
        self.lock_label.setVisible(locked)
        self._update_buttons()

    def selected_rows(self) -> list[int]:
        return sorted({index.row() for index in self.view.selectionModel().selectedRows()})

    # -- building -----------------------------------------------------------------------
    def _build(self) -> None:
        self.preset_combo = QComboBox()
        self.preset_combo.setPlaceholderText("custom architecture")
        self.preset_combo.setToolTip("Load one of the paper's architectures (undoable)")
        # Long preset names must not widen the side panel the editor lives in.
        self.preset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset_combo.setMinimumContentsLength(14)
        for stem, preset in self._presets.items():
            if isinstance(preset, Architecture):
                self.preset_combo.addItem(preset.name, stem)
                widths = " → ".join(str(width) for width in preset.widths)
                self.preset_combo.setItemData(
                    self.preset_combo.count() - 1, widths, Qt.ItemDataRole.ToolTipRole
                )
            else:
                self.preset_combo.addItem(f"{stem} (cannot be read)", stem)
                row = self.preset_combo.count() - 1
                self.preset_combo.setItemData(row, str(preset), Qt.ItemDataRole.ToolTipRole)
                self.preset_combo.model().item(row).setEnabled(False)
        self.preset_combo.activated.connect(self._on_preset_activated)

        self.input_units_spin = QSpinBox()
        self.input_units_spin.setRange(1, MAX_UNITS)
        self.input_units_spin.setKeyboardTracking(False)
        self.input_units_spin.setToolTip(f"Nodes of the input layer (784 for MNIST), 1 to {MAX_UNITS}")
        self.input_units_spin.valueChanged.connect(self.model.set_input_units)

        self.train_input_check = QCheckBox("Train input eigenvalues")
        self.train_input_check.setToolTip(
            "Spectral regimes also train the first layer's input eigenvalues λ_in"
        )
        self.train_input_check.clicked.connect(self.model.set_train_input_eigenvalues)

        self.view = QTableView()
        self.view.setModel(self.table_model)
        self.units_delegate = UnitsDelegate(self.view)
        self.units_delegate.refused.connect(self._show_refused)
        self.view.setItemDelegateForColumn(UNITS_COLUMN, self.units_delegate)
        self.view.setItemDelegateForColumn(ACTIVATION_COLUMN, ActivationDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(EDIT_TRIGGERS)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setDragDropOverwriteMode(False)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(True)
        self.view.setMinimumHeight(96)  # header and three rows; fits beside the plots at 1024×700
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(UNITS_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(ACTIVATION_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(TELESCOPIC_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PROBLEMS_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(UNITS_COLUMN, 70)
        header.resizeSection(ACTIVATION_COLUMN, 90)
        # Rows grow to show a problem's reason in full.
        self.view.verticalHeader().setMinimumSectionSize(26)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        self.add_button = self._button(
            "Add", "Add a hidden layer just before the output layer", self._add
        )
        self.insert_button = self._button("Insert", "Insert a layer above the selected one (Ins)", self._insert)
        self.remove_button = self._button("Remove", "Remove the selected layers (Delete)", self._remove)
        self.up_button = self._button("Up", "Move the selected layers up (Alt+Up)", self._move_up)
        self.down_button = self._button("Down", "Move the selected layers down (Alt+Down)", self._move_down)
        self._shortcut(QKeySequence(QKeySequence.StandardKey.Delete), self._remove)
        self._shortcut(QKeySequence(Qt.Key.Key_Backspace), self._remove)
        self._shortcut(QKeySequence(Qt.Key.Key_Insert), self._insert)
        self._shortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Up), self._move_up)
        self._shortcut(QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Down), self._move_down)

        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #c62828;")
        self.lock_label = QLabel("Training is running: the architecture is locked until it ends.")
        self.lock_label.setStyleSheet("color: #8d6e00; font-weight: bold;")
        self.lock_label.setWordWrap(True)
        self.lock_label.hide()

        self.diagram = StackDiagram()
        self.diagram.layerClicked.connect(self._select_row)
        diagram_area = QScrollArea()
        diagram_area.setWidget(self.diagram)
        diagram_area.setWidgetResizable(True)
        diagram_area.setFrameShape(QFrame.Shape.StyledPanel)
        diagram_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        diagram_area.setMinimumHeight(self.diagram.minimumHeight() + 20)
        diagram_area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        self.parameter_label = QLabel()
        # Two fixed lines that never wrap: a regime with a longer name must not make the form
        # below jump (the full text is in the tooltip when the panel is narrow).
        self.parameter_label.setWordWrap(False)
        self.parameter_label.setTextFormat(Qt.TextFormat.PlainText)
        self.parameter_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.parameter_label.font()
        font.setBold(True)
        self.parameter_label.setFont(font)
        self.parameter_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.parameter_label.setFixedHeight(2 * QFontMetrics(font).lineSpacing() + 4)
        self.refused_label = QLabel()
        self.refused_label.setWordWrap(True)
        self.refused_label.setStyleSheet("color: #c62828;")
        self.refused_label.hide()

        form = QFormLayout()
        form.addRow("Preset:", self.preset_combo)
        form.addRow("Input units:", self.input_units_spin)
        form.addRow("", self.train_input_check)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.insert_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)  # the side panel around it has margins already
        layout.addWidget(self.lock_label)
        layout.addLayout(form)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.refused_label)
        layout.addWidget(diagram_area)
        layout.addWidget(self.parameter_label)

    def _button(self, text: str, tooltip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tooltip)
        # Share the row's width instead of insisting on the style's 80 px per button.
        button.setMinimumWidth(button.fontMetrics().horizontalAdvance(text) + 16)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        button.clicked.connect(slot)
        return button

    def _shortcut(self, keys: QKeySequence, slot) -> None:
        # On the view only, so Delete inside a cell editor still edits text.
        action = QAction(self.view)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.view.addAction(action)

    def _edit_widgets(self) -> list[QWidget]:
        return [
            self.preset_combo,
            self.input_units_spin,
            self.train_input_check,
            self.add_button,
            self.insert_button,
            self.remove_button,
            self.up_button,
            self.down_button,
        ]

    # -- actions ------------------------------------------------------------------------
    def _add(self) -> None:
        # Before the output layer: a layer after the softmax output would be invalid at once.
        self.model.insert_layer(max(0, self.model.rowCount() - 1))

    def _show_refused(self, text: str) -> None:
        """Say why a typed value was not taken (it disappears with the next edit)."""
        self.refused_label.setText(text)
        self.refused_label.show()

    def _insert(self) -> None:
        rows = self.selected_rows()
        # With nothing selected, a new hidden layer goes in front of the output layer.
        row = rows[0] if rows else max(0, self.model.rowCount() - 1)
        self.model.insert_layer(row)

    def _remove(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.model.remove_layers(rows)

    def _move_up(self) -> None:
        rows = self.selected_rows()
        if rows and rows[0] > 0:
            self.model.move_layers(rows, rows[0] - 1)

    def _move_down(self) -> None:
        rows = self.selected_rows()
        if rows and rows[-1] < self.model.rowCount() - 1:
            self.model.move_layers(rows, rows[-1] + 2)

    def _on_preset_activated(self, index: int) -> None:
        stem = self.preset_combo.itemData(index)
        if isinstance(self._presets.get(stem), Architecture):
            self.load_preset(stem)
        self._sync_preset_combo(self.architecture())

    def _select_row(self, row: int) -> None:
        self._select_rows(row, row)

    def _select_rows(self, first: int, last: int) -> None:
        if not 0 <= first <= last < self.table_model.rowCount():
            return
        selection = QItemSelection(
            self.table_model.index(first, 0),
            self.table_model.index(last, self.table_model.columnCount() - 1),
        )
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(selection, flags)
        self.view.selectionModel().setCurrentIndex(
            self.table_model.index(first, 0), QItemSelectionModel.SelectionFlag.NoUpdate
        )
        self.view.scrollTo(self.table_model.index(first, 0))

    def _select_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        self._select_rows(first, last)

    def _select_after_removal(self, _parent: QModelIndex, first: int, _last: int) -> None:
        self._select_row(min(first, self.model.rowCount() - 1))

    # -- refreshing ---------------------------------------------------------------------
    def _on_architecture_changed(self, architecture: Architecture) -> None:
        self._refresh(architecture)
        self.architectureChanged.emit(architecture)

    def _refresh(self, architecture: Architecture) -> None:
        self.refused_label.hide()
        self.input_units_spin.blockSignals(True)
        self.input_units_spin.setValue(architecture.input_units)
        self.input_units_spin.blockSignals(False)
        self.train_input_check.setChecked(architecture.train_input_eigenvalues)
        self._sync_preset_combo(architecture)
        rows = range(self.model.rowCount())
        self.diagram.set_architecture(architecture, [self.model.problem_text(row) for row in rows])
        self._refresh_problems()
        self._refresh_parameters(architecture)
        self._update_buttons()

    def _sync_preset_combo(self, architecture: Architecture) -> None:
        matching = -1
        for index in range(self.preset_combo.count()):
            if self._presets.get(self.preset_combo.itemData(index)) == architecture:
                matching = index
                break
        self.preset_combo.setCurrentIndex(matching)

    def _refresh_problems(self) -> None:
        lines = list(self.model.global_problems())
        invalid_rows = [row for row in range(self.model.rowCount()) if self.model.row_problems(row)]
        if invalid_rows:
            numbers = ", ".join(str(row + 1) for row in invalid_rows)
            noun = "Layer" if len(invalid_rows) == 1 else "Layers"
            lines.append(f"{noun} {numbers}: see the Problems column for what to fix.")
        self.problems_label.setText("\n".join(lines))
        self.problems_label.setVisible(bool(lines))

    def _refresh_parameters(self, architecture: Architecture) -> None:
        name = PAPER_NAMES[self._regime]
        if not self.model.is_valid():
            self.parameter_label.setText(f"{name}\nfix the marked problems to count parameters")
            self.parameter_label.setToolTip(self.parameter_label.text())
            return
        counts = parameter_counts(architecture, self._regime)
        full = parameter_counts(architecture, "direct-full")
        self.parameter_label.setText(
            f"{name}\n{counts.trainable:,} of {counts.total:,} trainable "
            f"({share_text(counts.trainable, full.trainable)} of direct-full)"
        )
        self.parameter_label.setToolTip(
            f"{name}: {counts.trainable:,} trainable and {counts.frozen:,} frozen parameters "
            f"under {self._regime}; direct-full trains {full.trainable:,}"
        )

    def _on_selection_changed(self) -> None:
        self.diagram.set_selected_rows(self.selected_rows())
        self._update_buttons()

    def _update_buttons(self) -> None:
        editable = not self.model.is_locked()
        rows = self.selected_rows()
        count = self.model.rowCount()
        room = count < MAX_LAYERS
        self.add_button.setEnabled(editable and room)
        self.insert_button.setEnabled(editable and room)
        self.remove_button.setEnabled(editable and bool(rows))
        self.up_button.setEnabled(editable and bool(rows) and rows[0] > 0)
        self.down_button.setEnabled(editable and bool(rows) and rows[-1] < count - 1)
