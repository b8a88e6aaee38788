"""A table face for :class:`ArchitectureModel`: one column per layer field, plus the problems.

The list model stays the single source of truth; this proxy only spreads each row's roles over
columns (units, activation, telescopic check box, problems) so a QTableView can give every field
its own delegate, and forwards edits and drops back to the list model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractProxyModel,
    QMimeData,
    QModelIndex,
    QObject,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from app.editor.model import (
    PROBLEM_COLOR,
    ROOT,
    ActivationRole,
    ArchitectureModel,
    Index,
    TelescopicRole,
    UnitsRole,
)
from spectral_core.architecture import MAX_UNITS

UNITS_COLUMN, ACTIVATION_COLUMN, TELESCOPIC_COLUMN, PROBLEMS_COLUMN = range(4)
COLUMN_FIELDS = ("units", "activation", "telescopic", None)
COLUMN_TITLES = ("Units", "Activation", "Telescopic", "Problems")
COLUMN_HINTS = (
    f"Number of nodes in the layer, 1 to {MAX_UNITS}",
    "Activation function; softmax only on the last layer",
    "A telescopic (linear) layer is folded into the next one by Retract",
    "Why the layer is invalid, if it is",
)
PROBLEM_BACKGROUND = QColor(255, 235, 238)


class LayerTableProxy(QAbstractProxyModel):
    def __init__(self, source: ArchitectureModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        source.rowsAboutToBeInserted.connect(
            lambda _parent, first, last: self.beginInsertRows(QModelIndex(), first, last)
        )
        source.rowsInserted.connect(self.endInsertRows)
        source.rowsAboutToBeRemoved.connect(
            lambda _parent, first, last: self.beginRemoveRows(QModelIndex(), first, last)
        )
        source.rowsRemoved.connect(self.endRemoveRows)
        source.rowsAboutToBeMoved.connect(
            lambda _parent, first, last, _destination, row: self.beginMoveRows(
                QModelIndex(), first, last, QModelIndex(), row
            )
        )
        source.rowsMoved.connect(self.endMoveRows)
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self.endResetModel)
        source.dataChanged.connect(self._forward_data_changed)

    def source(self) -> ArchitectureModel:
        model = self.sourceModel()
        assert isinstance(model, ArchitectureModel)
        return model

    def _forward_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles) -> None:
        if self.rowCount():
            self.dataChanged.emit(
                self.index(top_left.row(), 0),
                self.index(bottom_right.row(), len(COLUMN_FIELDS) - 1),
                [],
            )

    # -- structure --------------------------------------------------------------------
    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else self.source().rowCount()

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMN_FIELDS)

    def index(self, row: int, column: int, parent: Index = ROOT) -> QModelIndex:
        if parent.isValid() or not (
            0 <= row < self.rowCount() and 0 <= column < self.columnCount()
        ):
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, child: Index | None = None) -> Any:
        if child is None:  # QObject.parent()
            return QObject.parent(self)
        return QModelIndex()

    def sibling(self, row: int, column: int, index: Index) -> QModelIndex:
        return self.index(row, column)

    def buddy(self, index: Index) -> QModelIndex:
        # QAbstractProxyModel maps the buddy through the source, which would send every edit
        # and check-box click to column 0.
        return QModelIndex(index)

    def itemData(self, index: Index) -> dict[int, Any]:
        # Per column, like data(); the default would return the source row's roles.
        return QAbstractItemModel.itemData(self, index)

    def hasChildren(self, parent: Index = ROOT) -> bool:
        return not parent.isValid() and self.rowCount() > 0

    def mapToSource(self, proxy_index: Index) -> QModelIndex:
        if not proxy_index.isValid():
            return QModelIndex()
        return self.source().index(proxy_index.row(), 0)

    def mapFromSource(self, source_index: Index) -> QModelIndex:
        if not source_index.isValid():
            return QModelIndex()
        return self.index(source_index.row(), 0)

    # -- data -------------------------------------------------------------------------
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not self.checkIndex(index, QAbstractProxyModel.CheckIndexOption.IndexIsValid):
            return None
        model, row, column = self.source(), index.row(), index.column()
        layer = model.layer(row)
        problems = model.row_problems(row)
        field = COLUMN_FIELDS[column]
        # A problem with no field ("must be a LayerSpec") marks every column.
        problem = problems.get(field) if field else None
        if problem is None and "" in problems:
            problem = problems[""]
        if column == PROBLEMS_COLUMN:
            # The marked cell already names the field; the column gives the reasons in full.
            problem = "\n".join(problems.values()) or None

        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if column == UNITS_COLUMN:
                # The spin box edits the number; the cell shows it as text.
                return layer.units if role == Qt.ItemDataRole.EditRole else str(layer.units)
            if column == ACTIVATION_COLUMN:
                return layer.activation
            if column == PROBLEMS_COLUMN and role == Qt.ItemDataRole.DisplayRole:
                return problem or ""
            return None
        if role == Qt.ItemDataRole.CheckStateRole and column == TELESCOPIC_COLUMN:
            return Qt.CheckState.Checked if layer.telescopic else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            return problem or COLUMN_HINTS[column]
        if role == Qt.ItemDataRole.ForegroundRole and problem:
            return QBrush(PROBLEM_COLOR)
        if role == Qt.ItemDataRole.BackgroundRole and problem and column != PROBLEMS_COLUMN:
            return QBrush(PROBLEM_BACKGROUND)
        if role > Qt.ItemDataRole.UserRole:
            return model.data(self.mapToSource(index), role)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not self.checkIndex(index, QAbstractProxyModel.CheckIndexOption.IndexIsValid):
            return False
        source_index, column = self.mapToSource(index), index.column()
        if role == Qt.ItemDataRole.EditRole and column == UNITS_COLUMN:
            return self.source().setData(source_index, value, UnitsRole)
        if role == Qt.ItemDataRole.EditRole and column == ACTIVATION_COLUMN:
            return self.source().setData(source_index, value, ActivationRole)
        if role == Qt.ItemDataRole.CheckStateRole and column == TELESCOPIC_COLUMN:
            state = value.value if isinstance(value, Qt.CheckState) else value
            if state not in (Qt.CheckState.Checked.value, Qt.CheckState.Unchecked.value):
                return False
            return self.source().setData(
                source_index, state == Qt.CheckState.Checked.value, TelescopicRole
            )
        return False

    def flags(self, index: Index) -> Qt.ItemFlag:
        source_flags = self.source().flags(self.mapToSource(index))
        if not index.isValid():
            return source_flags
        editable = bool(source_flags & Qt.ItemFlag.ItemIsEditable)
        flags = source_flags & ~Qt.ItemFlag.ItemIsEditable
        if editable and index.column() in (UNITS_COLUMN, ACTIVATION_COLUMN):
            flags |= Qt.ItemFlag.ItemIsEditable
        if editable and index.column() == TELESCOPIC_COLUMN:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMN_TITLES):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMN_TITLES[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return COLUMN_HINTS[section]
        if orientation == Qt.Orientation.Vertical and 0 <= section < self.rowCount():
            if role == Qt.ItemDataRole.DisplayRole:
                return str(section + 1)
            if role == Qt.ItemDataRole.ToolTipRole:
                return "Drag to reorder"
        return None

    # -- drag and drop: the list model does the work ----------------------------------
    def supportedDragActions(self) -> Qt.DropAction:
        return self.source().supportedDragActions()

    def supportedDropActions(self) -> Qt.DropAction:
        return self.source().supportedDropActions()

    def mimeTypes(self) -> list[str]:
        return self.source().mimeTypes()

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        return self.source().mimeData([self.mapToSource(index) for index in indexes])

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        return self.source().canDropMimeData(data, action, row, -1, self.mapToSource(parent))

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        return self.source().dropMimeData(data, action, row, -1, self.mapToSource(parent))
