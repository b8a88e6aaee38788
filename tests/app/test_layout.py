"""The window at 1280×800 and 1024×700 (nothing cut off, no scrolling form), its icon, and the
desktop entry that puts the app in the applications menu."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton, QLabel, QScrollArea, QWidget

from app.desktop_entry import desktop_entry_text, install, installed_paths, remove
from app.layout import initial_size
from app.main_window import MainWindow
from resources import ROOT

SIZES = [(1280, 800), (1024, 700)]


def visible_rect(widget: QWidget) -> QRect:
    """The part of ``widget`` not clipped by its ancestors, in window coordinates."""
    window = widget.window()
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        rect = rect.intersected(QRect(parent.mapTo(window, QPoint(0, 0)), parent.size()))
        parent = parent.parentWidget()
    return rect.intersected(window.rect())


def fully_visible(widget: QWidget) -> bool:
    return widget.isVisible() and visible_rect(widget).size() == widget.size()


@pytest.fixture(params=SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def window(request, qtbot, tmp_path: Path) -> MainWindow:
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(*request.param)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(20)
    assert window.size() == QSize(*request.param)
    return window


def test_nothing_is_cut_off(window: MainWindow, qtbot) -> None:
    # What a finished run puts on screen must not widen the window either.
    size = window.size()
    window.run_panel.show_progress(12, 20, 150, 200, 0.5, 3725.0)
    window.run_panel.learning_rate.setSpecialValueText("auto (0.03)")
    window.status_label.setText("run 12 finished; test accuracy 0.9812 · the compact model is active")
    window.device_label.setText("Training on CPU (no GPU found) · TensorFlow 2.21.0")
    window.device_picker.addItem("CPU (/device:CPU:0)")
    window.pruning_panel.accuracy_label.setText(
        "Test accuracy of the pruned network: <b>0.9731</b> (unpruned 0.9812, −0.0081)"
    )
    window.weights_panel.set_comparisons(
        {"run 12 (direct-full): compact_1 (retracted model) of a very long name": (np.ones(3), np.arange(4.0))}
    )
    window.spectrum_panel.set_history(
        [("initial", {"a_spectral_layer_with_a_long_name_1": {"eigvals_in": np.ones(3), "eigvals_out": np.ones(2)}})]
    )
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(10)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(20)
    assert window.size() == size
    hint = window.minimumSizeHint()
    assert hint.width() <= window.width() and hint.height() <= window.height()
    # The editor and the whole training form fit beside the plots without scrolling.
    left = window.main_splitter.widget(0)
    assert isinstance(left, QScrollArea)
    assert left.verticalScrollBar().maximum() == 0 and left.horizontalScrollBar().maximum() == 0
    panel = window.run_panel
    for widget in (
        panel.regime, panel.dataset, panel.dataset_file, panel.dataset_folder, panel.epochs,
        panel.batch_size, panel.validation, panel.seed, panel.learning_rate, panel.optimizer,
        panel.initialization, panel.penalty, panel.penalty_weight, panel.progress_label,
        window.device_label, window.device_picker, window.editor.add_button,
        window.editor.down_button, window.editor.parameter_label, window.editor.diagram,
    ):
        assert fully_visible(widget), widget
    for button in panel.controls.findChildren(QAbstractButton):
        assert fully_visible(button), button.text()
    assert fully_visible(panel.progress)
    # Every label of the form shows its whole text.
    for label in [*panel.findChildren(QLabel), window.device_label, panel.progress_label]:
        if label.isVisible() and label.text():
            assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), label.text()
    spin = panel.learning_rate
    assert spin.width() >= spin.fontMetrics().horizontalAdvance(spin.specialValueText()) + 20
    label = window.editor.parameter_label
    for line in label.text().splitlines():
        assert label.fontMetrics().horizontalAdvance(line) <= label.width(), line
    # Runs and Model: a few rows of runs, and the Model text scrolls rather than being clipped.
    tree = window.runs_list.tree
    assert fully_visible(tree) and tree.height() >= tree.minimumHeight() > 0
    area = window.result_label.parentWidget().parentWidget()
    assert isinstance(area, QScrollArea) and fully_visible(area)
    assert area.width() >= 200
    # The plots keep a usable height, and every tab is reachable.
    for plot in (window.metrics_panel.loss_plot, window.metrics_panel.accuracy_plot):
        assert plot.height() >= 120
    bar = window.tabs.tabBar()
    for index in range(window.tabs.count()):
        assert bar.tabRect(index).right() <= bar.width(), window.tabs.tabText(index)


def test_the_window_fits_a_small_screen_and_has_an_icon(window: MainWindow) -> None:
    assert initial_size(QSize(1024, 700)) == QSize(1024, 700)
    assert initial_size(QSize(2560, 1440)) == QSize(1400, 900)
    assert not window.windowIcon().isNull()
    assert window.windowIcon().availableSizes()


def test_icon_files() -> None:
    svg = ROOT / "icons" / "spectral-lab.svg"
    assert QSvgRenderer(str(svg)).isValid()
    for size in (16, 32, 48, 64, 128, 256):
        image = QImage(str(ROOT / "icons" / f"spectral-lab-{size}.png"))
        assert (image.width(), image.height()) == (size, size)


def test_desktop_entry_installs_and_removes(tmp_path: Path) -> None:
    command = str(tmp_path / "venv bin" / "spectral-lab")
    written = install(tmp_path / "share", command=command)
    assert written == installed_paths(tmp_path / "share") and all(path.is_file() for path in written)
    entry = tmp_path / "share" / "applications" / "spectral-lab.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(entry, encoding="utf-8")
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "Spectral Lab"
    assert section["Icon"] == "spectral-lab"
    assert section["Exec"] == f'"{command}" gui %F'  # quoted: the path has a space
    assert (tmp_path / "share/icons/hicolor/48x48/apps/spectral-lab.png").is_file()
    assert (tmp_path / "share/icons/hicolor/scalable/apps/spectral-lab.svg").is_file()
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(remove(tmp_path / "share")) == sorted(written)
    assert not entry.exists()


def test_desktop_entry_text_points_at_the_command() -> None:
    text = desktop_entry_text("/opt/spectral/bin/spectral-lab")
    assert "Exec=/opt/spectral/bin/spectral-lab gui %F" in text
    assert "TryExec=/opt/spectral/bin/spectral-lab" in text
