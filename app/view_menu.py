"""The View menu: one entry per analysis tab, in the tabs' order, with Ctrl+1, Ctrl+2, ...

Rebuilt from the tab widget whenever a tab is added, so the tabs, their shortcuts and the menu
can never disagree (a tab inserted in the middle renumbers the ones after it).
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QTabWidget, QWidget

MAX_NUMBERED_TABS = 9


def readable_name(text: str) -> str:
    """A tab's or action's text as shown: "Loss && accuracy" → "Loss & accuracy"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def rebuild_view_menu(tabs: QTabWidget, menu: QMenu, actions: list[QAction]) -> list[QAction]:
    """Replace ``actions`` in ``menu`` by one action per tab of ``tabs``, in order.

    Tab texts keep their "&&" (a literal ampersand): a single "&" in an action's text would
    turn the next letter into a mnemonic ("Loss & accuracy" showed as "Loss_accuracy").
    ``actions`` is updated in place and returned.
    """
    for action in actions:
        menu.removeAction(action)
        action.deleteLater()
    actions.clear()
    for index in range(tabs.count()):
        widget = tabs.widget(index)
        text = tabs.tabText(index)
        action = QAction(text, menu)
        number = index + 1
        if number <= MAX_NUMBERED_TABS:
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
        action.setStatusTip(f"Show the {readable_name(text)} tab")
        action.triggered.connect(lambda _checked=False, widget=widget: _show(tabs, widget))
        menu.addAction(action)
        actions.append(action)
    return actions


def _show(tabs: QTabWidget, widget: QWidget) -> None:
    tabs.setCurrentWidget(widget)
