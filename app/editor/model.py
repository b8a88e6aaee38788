"""The lab state's architecture as a Qt list model: one row per layer, every edit a command.

The model renders ``LabState.architecture`` (the library's immutable :class:`Architecture`
value). Views and delegates write through ``setData`` / ``moveRows`` / drops and code through
the ``add_layer``-style methods; all of them push an :class:`app.commands.SetArchitecture`
on the app's one :class:`app.commands.CommandStack`. Values that can never be
valid (units outside 1..MAX_UNITS, unknown activations) are refused; combinations that are
wrong only where they sit (softmax before the last layer, a telescopic non-linear layer) are
accepted and reported per row through :data:`ProblemRole`, tooltips and a red foreground.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from app.commands import CommandStack, SetArchitecture
from app.lab_state import LabState
from spectral_core.architecture import (
    ACTIVATIONS,
    MAX_LAYERS,
    MAX_UNITS,
    Architecture,
    ArchitectureError,
    LayerSpec,
)

UnitsRole = int(Qt.ItemDataRole.UserRole) + 1
ActivationRole = UnitsRole + 1
TelescopicRole = UnitsRole + 2
LayerRole = UnitsRole + 3  # the whole LayerSpec
ProblemRole = UnitsRole + 4  # "" when the row is valid, else every reason, one per line

LAYER_ROWS_MIME = "application/x-spectral-lab-layer-rows"
PROBLEM_COLOR = QColor("#c62828")
DEFAULT_NEW_LAYER = LayerSpec(units=100, activation="relu")

_LAYER_PATH = re.compile(r"^layers\[(\d+)\](?:\.(\w+))?$")

Index = QModelIndex | QPersistentModelIndex
# The invalid index: the root of a flat model (a shared default argument).
ROOT = QModelIndex()


def checked_layer(layer: Any, path: str = "layer") -> LayerSpec:
    """``layer`` if every field is a value an editor may hold; else ArchitectureError naming it."""
    if not isinstance(layer, LayerSpec):
        raise ArchitectureError(path, f"must be a LayerSpec, got {type(layer).__name__}")
    return LayerSpec.from_dict(
        {"units": layer.units, "activation": layer.activation, "telescopic": layer.telescopic},
        path,
    )


def _is_units(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_UNITS


def row_steps(old: list[Any], new: list[Any]) -> list[tuple[str, int, int]] | None:
    """Single-row steps that turn ``old`` into ``new``: ("insert", row, index in new),
    ("remove", row, row) or ("move", row, target); [] when only values change in place, None
    when no such steps lead there (a reset).

    Insertions when ``old`` is a subsequence of ``new``, removals when ``new`` is one of
    ``old``, and for a reordering the fewest moves (the rows outside a longest run already in
    order move, each once).
    """
    if len(new) > len(old):
        kept = _subsequence(old, new)
        if kept is None:
            return None
        return [("insert", index, index) for index in range(len(new)) if index not in kept]
    if len(new) < len(old):
        kept = _subsequence(new, old)
        if kept is None:
            return None
        return [("remove", row, row) for row in reversed(range(len(old))) if row not in kept]
    targets = _permutation(old, new)
    if targets is None:
        return []  # same rows, values changed in place
    in_order = _longest_increasing(targets)
    current = list(targets)  # each row by the index it must end at
    steps = []
    for target in sorted(set(targets) - {targets[row] for row in in_order}):
        source = current.index(target)
        current.pop(source)
        position = current.index(target - 1) + 1 if target > 0 else 0
        current.insert(position, target)
        steps.append(("move", source, position))
    return steps


def _subsequence(short: list[Any], long: list[Any]) -> set[int] | None:
    """Indices of ``long`` that ``short`` matches in order (greedy), or None."""
    kept, position = set(), 0
    for item in short:
        while position < len(long) and long[position] != item:
            position += 1
        if position == len(long):
            return None
        kept.add(position)
        position += 1
    return kept


def _permutation(old: list[Any], new: list[Any]) -> list[int] | None:
    """For each item of ``old``, its index in ``new`` (equal items in order), or None when
    ``new`` is not a reordering of ``old``."""
    free = list(range(len(new)))
    targets = []
    for item in old:
        match = next((index for index in free if new[index] == item), None)
        if match is None:
            return None
        free.remove(match)
        targets.append(match)
    return targets


def _longest_increasing(values: list[int]) -> list[int]:
    """Positions of one longest strictly increasing subsequence of ``values``."""
    best: list[list[int]] = []  # best[k]: positions of an increasing run of length k + 1
    for position, value in enumerate(values):
        length = next((k for k, run in enumerate(best) if values[run[-1]] >= value), len(best))
        run = (best[length - 1] if length else []) + [position]
        if length == len(best):
            best.append(run)
        else:
            best[length] = run
    return best[-1] if best else []


class ArchitectureModel(QAbstractListModel):
    """Rows are the layers of the lab state's :class:`Architecture` (input units are not a row).

    The model renders ``state.architecture`` and turns edits into
    :class:`app.commands.SetArchitecture` commands on ``commands``; when the state's
    architecture changes (an edit, undo, redo, a file) it works out the row insertions,
    removals and moves that lead there, so views keep their selection on the same layers.
    Given an :class:`Architecture` instead of a state, it edits a lab state of its own.
    """

    architectureChanged = Signal(object)
    lockedChanged = Signal(bool)

    def __init__(
        self,
        state: LabState | Architecture,
        commands: CommandStack | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if isinstance(state, Architecture):
            state = LabState(state)
        if not isinstance(state, LabState):
            raise TypeError(f"state: must be a LabState or an Architecture, got {type(state).__name__}")
        self.state = state
        self.commands = commands if commands is not None else CommandStack()
        self._architecture = state.architecture
        self._locked = False
        # Tells this model's own drags (moves) from layers dropped in from elsewhere (copies).
        self._drag_source_id = uuid.uuid4().hex
        self._row_problems: list[dict[str, str]] = []
        self._global_problems: list[str] = []
        self._index_problems()
        unsubscribe = state.subscribe(self._on_state)
        self.destroyed.connect(lambda *_: unsubscribe())

    # -- reading ----------------------------------------------------------------------
    def architecture(self) -> Architecture:
        return self._architecture

    def layer(self, row: int) -> LayerSpec:
        return self._architecture.layers[row]

    def row_problems(self, row: int) -> dict[str, str]:
        """Problems of one layer: field name ("units", "activation", "telescopic" or "") -> reason."""
        return dict(self._row_problems[row])

    def global_problems(self) -> list[str]:
        """Problems that belong to no single layer (input units, layer count), as 'field: reason'."""
        return list(self._global_problems)

    def is_valid(self) -> bool:
        return not self._global_problems and not any(self._row_problems)

    def is_locked(self) -> bool:
        return self._locked

    def set_locked(self, locked: bool) -> None:
        """While locked (training), every edit and every undo/redo is refused."""
        locked = bool(locked)
        if locked == self._locked:
            return
        self._locked = locked
        self.commands.set_locked(locked)
        # Flags depend on the lock; views re-read them on dataChanged.
        self._emit_rows_changed([])
        self.lockedChanged.emit(locked)

    # -- editing (each call is one undo step; False when refused or nothing changes) ----
    def add_layer(self, layer: LayerSpec = DEFAULT_NEW_LAYER) -> bool:
        return self.insert_layer(self.rowCount(), layer)

    def insert_layer(self, row: int, layer: LayerSpec = DEFAULT_NEW_LAYER) -> bool:
        layer = checked_layer(layer)
        if not 0 <= row <= self.rowCount():
            raise IndexError(f"row: must be from 0 to {self.rowCount()}, got {row}")
        if self._locked or self.rowCount() >= MAX_LAYERS:
            return False
        verb = "Add" if row == self.rowCount() else "Insert"
        layers = list(self._architecture.layers)
        layers.insert(row, layer)
        return self._push_layers(layers, f"{verb} layer {row + 1}")

    def remove_layers(self, rows: Iterable[int]) -> bool:
        rows = sorted(set(self._checked_rows(rows)))
        if self._locked or not rows:
            return False
        noun = "layers" if len(rows) > 1 else "layer"
        text = f"Remove {noun} " + ", ".join(str(row + 1) for row in rows)
        layers = [layer for row, layer in enumerate(self._architecture.layers) if row not in rows]
        return self._push_layers(layers, text)

    def move_layers(self, rows: Iterable[int], destination: int) -> bool:
        """Move ``rows`` (kept in order) in front of row ``destination`` (Qt's moveRows meaning)."""
        moving = sorted(set(self._checked_rows(rows)))
        count = self.rowCount()
        if not 0 <= destination <= count:
            raise IndexError(f"destination: must be from 0 to {count}, got {destination}")
        if self._locked or not moving:
            return False
        staying = [row for row in range(count) if row not in moving]
        order = (
            [row for row in staying if row < destination]
            + moving
            + [row for row in staying if row >= destination]
        )
        numbers = ", ".join(str(row + 1) for row in moving)
        text = f"Move layer {numbers}" if len(moving) == 1 else f"Move layers {numbers}"
        return self._push_layers([self.layer(row) for row in order], text)

    def move_layer(self, row: int, target: int) -> bool:
        """Move one layer so that it ends up at index ``target``."""
        self._checked_rows([row, target])
        return self.move_layers([row], target + 1 if target > row else target)

    def set_layer(self, row: int, layer: LayerSpec, text: str = "") -> bool:
        layer = checked_layer(layer, f"layers[{row}]")
        (row,) = self._checked_rows([row])
        if self._locked or layer == self.layer(row):
            return False
        layers = list(self._architecture.layers)
        layers[row] = layer
        return self._push_layers(layers, text or f"Edit layer {row + 1}")

    def set_units(self, row: int, units: int) -> bool:
        layer = replace(self.layer(row), units=units)
        return self.set_layer(row, layer, f"Set units of layer {row + 1} to {units}")

    def set_activation(self, row: int, activation: str) -> bool:
        layer = replace(self.layer(row), activation=activation)
        return self.set_layer(row, layer, f"Set activation of layer {row + 1} to {activation}")

    def set_telescopic(self, row: int, telescopic: bool) -> bool:
        layer = replace(self.layer(row), telescopic=telescopic)
        state = "telescopic" if telescopic else "not telescopic"
        return self.set_layer(row, layer, f"Make layer {row + 1} {state}")

    def set_input_units(self, units: int) -> bool:
        if not _is_units(units):
            raise ArchitectureError(
                "input_units", f"must be an integer from 1 to {MAX_UNITS}, got {units!r}"
            )
        if self._locked or units == self._architecture.input_units:
            return False
        architecture = replace(self._architecture, input_units=units)
        # Steps of the spin box merge into one undo step.
        self._push(architecture, f"Set input units to {units}", merge_key="input_units")
        return True

    def set_train_input_eigenvalues(self, value: bool) -> bool:
        if not isinstance(value, bool):
            raise ArchitectureError("train_input_eigenvalues", f"must be true or false, got {value!r}")
        if self._locked or value == self._architecture.train_input_eigenvalues:
            return False
        architecture = replace(self._architecture, train_input_eigenvalues=value)
        self._push(architecture, ("Train" if value else "Freeze") + " input eigenvalues")
        return True

    def set_architecture(self, architecture: Architecture, text: str = "Set architecture") -> bool:
        if not isinstance(architecture, Architecture):
            raise TypeError(f"architecture must be an Architecture, got {type(architecture).__name__}")
        if self._locked or architecture == self._architecture:
            return False
        self._push(architecture, text)
        return True

    def _push_layers(self, layers: list[LayerSpec], text: str) -> bool:
        if tuple(layers) == self._architecture.layers:
            return False
        self._push(replace(self._architecture, layers=tuple(layers)), text)
        return True

    def _push(self, architecture: Architecture, text: str, merge_key: str = "") -> None:
        if self.state.architecture != self._architecture:
            self._show(self.state.architecture)  # never edit from a stale copy
        self.commands.push(SetArchitecture(self.state, architecture, text, merge_key))

    def _checked_rows(self, rows: Iterable[int]) -> list[int]:
        rows = list(rows)
        for row in rows:
            if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < self.rowCount():
                raise IndexError(f"row: must be from 0 to {self.rowCount() - 1}, got {row!r}")
        return rows

    # -- rendering the state's architecture ----------------------------------------------
    def _on_state(self, event: str, value: Any) -> None:
        if event == "architecture":
            self._show(value)

    def _show(self, architecture: Architecture) -> None:
        """Become ``architecture`` through row insertions, removals or moves where they lead
        there (views keep their selection), else a reset; then tell the views once."""
        old, new = list(self._architecture.layers), list(architecture.layers)
        if architecture == self._architecture:
            return
        if old != new:
            steps = row_steps(old, new)
            if steps is None:
                self.beginResetModel()
                self._set_layers(tuple(new))
                self.endResetModel()
            for step in steps or ():
                self._apply_step(step, new)
        self._set_value(architecture)
        # A problem can move between rows (softmax is fine only last), so refresh every row.
        self._emit_rows_changed([])
        self.architectureChanged.emit(self._architecture)

    def _apply_step(self, step: tuple[str, int, int], new: list[LayerSpec]) -> None:
        kind, first, second = step
        layers = list(self._architecture.layers)
        if kind == "insert":  # new[second] goes in at row ``first``
            self.beginInsertRows(QModelIndex(), first, first)
            layers.insert(first, new[second])
            self._set_layers(tuple(layers))
            self.endInsertRows()
        elif kind == "remove":
            self.beginRemoveRows(QModelIndex(), first, first)
            del layers[first]
            self._set_layers(tuple(layers))
            self.endRemoveRows()
        else:  # move row ``first`` so that it ends up at index ``second``
            # Qt counts the destination before the move: one past the target when moving down.
            destination = second + 1 if second > first else second
            self.beginMoveRows(QModelIndex(), first, first, QModelIndex(), destination)
            layers.insert(second, layers.pop(first))
            self._set_layers(tuple(layers))
            self.endMoveRows()

    def _set_layers(self, layers: tuple[LayerSpec, ...]) -> None:
        self._set_value(replace(self._architecture, layers=layers))

    def _set_value(self, architecture: Architecture) -> None:
        # Problems are indexed at once: views read them as soon as rows are inserted.
        self._architecture = architecture
        self._index_problems()

    def _emit_rows_changed(self, roles: list[int]) -> None:
        if self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1), roles)

    def _index_problems(self) -> None:
        rows: list[dict[str, str]] = [{} for _ in self._architecture.layers]
        general: list[str] = []
        for problem in self._architecture.problems():
            match = _LAYER_PATH.match(problem.path)
            if match and int(match.group(1)) < len(rows):
                field = match.group(2) or ""
                row = rows[int(match.group(1))]
                row[field] = f"{row[field]}; {problem.reason}" if field in row else problem.reason
            else:
                general.append(str(problem))
        self._row_problems, self._global_problems = rows, general

    # -- Qt item model ----------------------------------------------------------------
    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._architecture.layers)

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names.update({
            UnitsRole: QByteArray(b"units"),
            ActivationRole: QByteArray(b"activation"),
            TelescopicRole: QByteArray(b"telescopic"),
            LayerRole: QByteArray(b"layer"),
            ProblemRole: QByteArray(b"problem"),
        })
        return names

    def problem_text(self, row: int) -> str:
        problems = self._row_problems[row]
        return "\n".join(
            f"{field}: {reason}" if field else reason for field, reason in problems.items()
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not self.checkIndex(index, QAbstractListModel.CheckIndexOption.IndexIsValid):
            return None
        row = index.row()
        layer = self._architecture.layers[row]
        if role == Qt.ItemDataRole.DisplayRole:
            text = f"{layer.units} · {layer.activation}"
            return text + " · telescopic" if layer.telescopic else text
        if role in (Qt.ItemDataRole.EditRole, UnitsRole):
            return layer.units
        if role == ActivationRole:
            return layer.activation
        if role == TelescopicRole:
            return layer.telescopic
        if role == LayerRole:
            return layer
        if role == ProblemRole:
            return self.problem_text(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            problems = self.problem_text(row)
            if problems:
                return f"Layer {row + 1}:\n{problems}"
            folds = ", telescopic (folds into the next layer)" if layer.telescopic else ""
            return f"Layer {row + 1}: {layer.units} units, {layer.activation}{folds}"
        if role == Qt.ItemDataRole.ForegroundRole and self._row_problems[row]:
            return QBrush(PROBLEM_COLOR)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if self._locked or not self.checkIndex(index, QAbstractListModel.CheckIndexOption.IndexIsValid):
            return False
        row = index.row()
        if role in (Qt.ItemDataRole.EditRole, UnitsRole):
            return _is_units(value) and self._set_or_same(row, units=value)
        if role == ActivationRole:
            return value in ACTIVATIONS and self._set_or_same(row, activation=value)
        if role == TelescopicRole:
            return isinstance(value, bool) and self._set_or_same(row, telescopic=value)
        if role == LayerRole:
            try:
                layer = checked_layer(value, f"layers[{row}]")
            except ArchitectureError:
                return False
            return self._set_or_same(row, **{
                "units": layer.units, "activation": layer.activation, "telescopic": layer.telescopic
            })
        return False

    def _set_or_same(self, row: int, **fields: Any) -> bool:
        """Apply a field change as one command; an unchanged value is accepted as is."""
        layer = replace(self.layer(row), **fields)
        if layer == self.layer(row):
            return True
        if set(fields) == {"units"}:
            return self.set_units(row, layer.units)
        if set(fields) == {"activation"}:
            return self.set_activation(row, layer.activation)
        if set(fields) == {"telescopic"}:
            return self.set_telescopic(row, layer.telescopic)
        return self.set_layer(row, layer)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags if self._locked else Qt.ItemFlag.ItemIsDropEnabled
        flags = (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )
        if not self._locked:
            flags |= Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled
        return flags

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return "Layer" if section == 0 else None
        return str(section + 1) if 0 <= section < self.rowCount() else None

    # -- reordering and drag and drop --------------------------------------------------
    def moveRows(
        self,
        source_parent: Index,
        source_row: int,
        count: int,
        destination_parent: Index,
        destination_child: int,
    ) -> bool:
        rows = self.rowCount()
        if (
            self._locked
            or source_parent.isValid()
            or destination_parent.isValid()
            or count < 1
            or source_row < 0
            or source_row + count > rows
            or not 0 <= destination_child <= rows
        ):
            return False
        return self.move_layers(range(source_row, source_row + count), destination_child)

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return [LAYER_ROWS_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        rows = sorted({index.row() for index in indexes if index.isValid()})
        payload = {
            "source": self._drag_source_id,
            "rows": rows,
            "layers": [self.layer(row).to_dict() for row in rows],
        }
        mime = QMimeData()
        mime.setData(LAYER_ROWS_MIME, QByteArray(json.dumps(payload).encode("utf-8")))
        return mime

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        return (
            not self._locked
            and data is not None
            and data.hasFormat(LAYER_ROWS_MIME)
            and action in (Qt.DropAction.MoveAction, Qt.DropAction.CopyAction)
        )

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        """Rows dragged inside this model move (one undo step); layers from elsewhere are copied.

        A view removes the dragged rows after a successful MoveAction drag through removeRows;
        this model has no removeRows, so the move done here is the whole edit.
        """
        if action == Qt.DropAction.IgnoreAction:
            return True
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        try:
            payload = json.loads(bytes(data.data(LAYER_ROWS_MIME).data()).decode("utf-8"))
            rows = [int(item) for item in payload["rows"]]
            layers = [
                LayerSpec.from_dict(item, f"layers[{number}]")
                for number, item in enumerate(payload["layers"])
            ]
        except (ValueError, KeyError, TypeError):
            return False
        if row < 0:
            # Dropped onto a layer: in front of it; onto empty space: at the end.
            row = parent.row() if parent.isValid() else self.rowCount()
        row = min(row, self.rowCount())
        if payload.get("source") == self._drag_source_id and action == Qt.DropAction.MoveAction:
            if any(not 0 <= item < self.rowCount() for item in rows):
                return False
            self.move_layers(rows, row)
            return True
        if not layers or self.rowCount() + len(layers) > MAX_LAYERS:
            return False
        text = f"Insert layer {row + 1}" if len(layers) == 1 else f"Drop {len(layers)} layers"
        stack = list(self._architecture.layers)
        stack[row:row] = layers
        return self._push_layers(stack, text)
