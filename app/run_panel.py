"""Regime and run settings, the run buttons and the progress bar."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from spectral_core.config import (
    INITIALIZATION_NAMES,
    INITIALIZATION_SOURCES,
    OPTIMIZER_NAMES,
    ConfigError,
    TrainingConfig,
)
from spectral_core.regimes import PAPER_NAMES, REGIMES

BUILTIN_DATASETS = (("MNIST", "mnist"), ("Fashion-MNIST", "fashion-mnist"))
BUILTIN_SOURCES = {source for _, source in BUILTIN_DATASETS}
# QSettings keys of the remembered training settings (see RunPanel.remember_in).
CONFIG_KEY, REGIME_KEY = "training/config", "training/regime"
DATASET_KEY, DATASET_FILES_KEY = "training/dataset", "training/dataset_files"
TENSORBOARD_KEY = "training/tensorboard"
MAX_VALIDATION_PERCENT = 90.0


class DatasetCombo(QComboBox):
    """The data set list; files that vanished from disk drop out before it opens."""

    aboutToShowPopup = Signal()

    def showPopup(self) -> None:  # noqa: N802  (Qt's name)
        self.aboutToShowPopup.emit()
        super().showPopup()


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class RunPanel(QWidget):
    """Builds a :class:`TrainingConfig`; the main window owns the actions behind the buttons."""

    regimeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = TrainingConfig()
        self.regime = QComboBox()
        for regime in REGIMES:
            self.regime.addItem(PAPER_NAMES[regime], regime)
            self.regime.setItemData(
                self.regime.count() - 1, f"'{regime}' on the command line", Qt.ItemDataRole.ToolTipRole
            )
        self.dataset = DatasetCombo()
        for label, source in BUILTIN_DATASETS:
            self.dataset.addItem(label, source)
        self.dataset.setToolTip("MNIST or Fashion-MNIST, an .npz file or a folder of IDX files")
        self.dataset_file = QToolButton()
        self.dataset_file.setText("File…")
        self.dataset_file.setToolTip("An .npz file with x_train, y_train, x_test, y_test")
        self.dataset_folder = QToolButton()
        self.dataset_folder.setText("Folder…")
        self.dataset_folder.setToolTip("A folder with the four MNIST-style IDX files")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(defaults.epochs)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1_000_000)
        self.batch_size.setValue(defaults.batch_size)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.0, 10.0)
        self.learning_rate.setSingleStep(0.001)
        self.learning_rate.setSpecialValueText("auto")
        self.learning_rate.setMinimumWidth(
            self.learning_rate.fontMetrics().horizontalAdvance("auto (0.003)") + 36
        )
        self.learning_rate.setToolTip(
            "0 means the paper's default: 0.03 for linear networks, 0.01 for non-linear ones"
        )
        self.validation = QDoubleSpinBox()
        self.validation.setDecimals(1)
        self.validation.setRange(0.0, MAX_VALIDATION_PERCENT)
        self.validation.setSingleStep(5.0)
        self.validation.setSuffix(" %")
        self.validation.setValue(100 * defaults.validation_fraction)
        self.validation.setToolTip(
            "Share of the training images held out (seeded) to draw the validation curves; "
            "0 % trains on all of them"
        )
        self.optimizer = QComboBox()
        self.optimizer.addItems(list(OPTIMIZER_NAMES))
        self.optimizer.setCurrentText(defaults.optimizer)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(defaults.seed)
        self.seed.setToolTip("The same seed gives the same initial weights and batch order")
        self.initialization = QComboBox()
        self.initialization.addItems(list(INITIALIZATION_NAMES))
        self.initialization.setCurrentText(defaults.initialization)
        self.initialization.setToolTip(
            "\n".join(f"{name}: {source}" for name, source in INITIALIZATION_SOURCES.items())
        )
        self.penalty = QComboBox()
        self.penalty.addItems(["none", "l1", "l2"])
        self.penalty.setToolTip("Regularize the trained eigenvalues λ_out (sharpens node ranking)")
        self.penalty_weight = QDoubleSpinBox()
        self.penalty_weight.setDecimals(6)
        self.penalty_weight.setRange(0.0, 100.0)
        self.penalty_weight.setSingleStep(0.0001)
        self.penalty_weight.setToolTip("Weight of the eigenvalue penalty in the loss")
        # The TensorBoard log folder ('' = off): set from Run ▸ Log to TensorBoard (the form has
        # no room left at 1024×700), remembered with the other settings.
        self._tensorboard_folder = ""
        # Settings without a widget (snapshot rate, histogram bins...) survive set_config.
        self._base_config = defaults
        self._settings: QSettings | None = None

        dataset_row = QHBoxLayout()
        dataset_row.addWidget(self.dataset, 1)
        dataset_row.addWidget(self.dataset_file)
        dataset_row.addWidget(self.dataset_folder)
        penalty_row = QHBoxLayout()
        penalty_row.addWidget(self.penalty)
        penalty_row.addWidget(self.penalty_weight, 1)
        # Two label–field pairs per row for the short settings: the whole form fits beside the
        # editor at 1024×700 without scrolling.
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        form.setHorizontalSpacing(6)
        self.form = form

        def label(text: str, buddy: QWidget) -> QLabel:
            item = QLabel(text)
            item.setBuddy(buddy)
            return item

        form.addWidget(label("Regime", self.regime), 0, 0)
        form.addWidget(self.regime, 0, 1, 1, 3)
        form.addWidget(label("Data set", self.dataset), 1, 0)
        form.addLayout(dataset_row, 1, 1, 1, 3)
        pairs = (
            (("Epochs", self.epochs), ("Batch", self.batch_size)),
            (("Validation", self.validation), ("Seed", self.seed)),
            (("Learning rate", self.learning_rate), ("Optimizer", self.optimizer)),
        )
        for row, pair in enumerate(pairs, start=2):
            for column, (text, widget) in zip((0, 2), pair, strict=True):
                form.addWidget(label(text, widget), row, column)
                form.addWidget(widget, row, column + 1)
        form.addWidget(label("Initialization", self.initialization), 5, 0)
        form.addWidget(self.initialization, 5, 1, 1, 3)
        form.addWidget(label("λ penalty", self.penalty), 6, 0)
        form.addLayout(penalty_row, 6, 1, 1, 3)
        self.batch_size.setToolTip("Batch size: images per training step")
        for widget in (self.epochs, self.batch_size, self.validation, self.seed, self.learning_rate, self.optimizer):
            widget.setMinimumWidth(60)
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        settings = QGroupBox("Training")
        settings.setLayout(form)

        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.retract_button = QPushButton("Retract")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setMinimumWidth(160)
        self.progress_label = QLabel("")
        # Its text changes every second: it must not widen the window (the bar says the rest).
        self.progress_label.setMinimumWidth(self.progress_label.fontMetrics().horizontalAdvance("elapsed 00:00:00"))
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        # The buttons and the progress bar sit above the plots (see MainWindow), where they stay
        # in view however tall the editor gets; ``controls`` holds them.
        self.controls = QWidget()
        bar = QHBoxLayout(self.controls)
        bar.setContentsMargins(0, 0, 0, 0)
        for button in (self.train_button, self.pause_button, self.stop_button, self.retract_button):
            # As wide as "Resume" needs, not the style's 80 px: the bar fits 1024 px windows.
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance("Resume") + 24)
            button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            bar.addWidget(button)
        bar.addSpacing(8)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.progress_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(settings)

        self.regime.currentIndexChanged.connect(lambda _: self.regimeChanged.emit(self.current_regime()))
        self.dataset_file.clicked.connect(self._choose_file)
        self.dataset_folder.clicked.connect(self._choose_folder)
        self.dataset.aboutToShowPopup.connect(self.prune_missing_datasets)

    # -- values -----------------------------------------------------------------------
    def current_regime(self) -> str:
        return str(self.regime.currentData())

    def set_regime(self, regime: str) -> None:
        self.regime.setCurrentIndex(REGIMES.index(regime))

    def dataset_source(self) -> str:
        return str(self.dataset.currentData())

    def set_dataset_source(self, source: str) -> None:
        """Select ``source`` (mnist, fashion-mnist or a path), adding a path to the list."""
        index = self.dataset.findData(source)
        if index < 0:
            self.dataset.addItem(Path(source).name or source, source)
            index = self.dataset.count() - 1
            self.dataset.setItemData(index, source, Qt.ItemDataRole.ToolTipRole)
        self.dataset.setCurrentIndex(index)

    def config(self) -> TrainingConfig:
        """The settings as a validated config (raises ConfigError naming the field)."""
        rate = self.learning_rate.value()
        return replace(
            self._base_config,
            epochs=self.epochs.value(),
            batch_size=self.batch_size.value(),
            validation_fraction=round(self.validation.value() / 100, 6),
            learning_rate=rate if rate > 0 else None,
            optimizer=self.optimizer.currentText(),
            seed=self.seed.value(),
            initialization=self.initialization.currentText(),
            eigenvalue_penalty=self.penalty.currentText(),
            eigenvalue_penalty_weight=self.penalty_weight.value(),
        ).validate()

    def set_config(self, config: TrainingConfig) -> None:
        # First: every widget's change signal (autosave, the lab state) reads config() at once.
        self._base_config = config
        self.epochs.setValue(config.epochs)
        self.batch_size.setValue(config.batch_size)
        self.validation.setValue(100 * config.validation_fraction)
        self.learning_rate.setValue(config.learning_rate or 0.0)
        self.optimizer.setCurrentText(config.optimizer)
        self.seed.setValue(config.seed)
        self.initialization.setCurrentText(config.initialization)
        self.penalty.setCurrentText(config.eigenvalue_penalty)
        self.penalty_weight.setValue(config.eigenvalue_penalty_weight)

    def tensorboard_folder(self) -> str:
        """The TensorBoard log folder ('' = no logs): each run logs to FOLDER/<run name>."""
        return self._tensorboard_folder

    def set_tensorboard_folder(self, folder: str) -> None:
        """Log every run to ``folder`` ('' turns the logs off); remembered across launches."""
        self._tensorboard_folder = folder.strip()
        self.save_settings()

    def choose_tensorboard_folder(self) -> bool:
        """Ask for the TensorBoard log folder; False when the dialog was cancelled."""
        path = QFileDialog.getExistingDirectory(
            self, "Log every run to TensorBoard in this folder", self._tensorboard_folder
        )
        if path:
            self.set_tensorboard_folder(path)
        return bool(path)

    def set_auto_learning_rate(self, rate: float) -> None:
        self.learning_rate.setSpecialValueText(f"auto ({rate:g})")

    def set_settings_enabled(self, enabled: bool) -> None:
        for widget in (
            self.regime, self.dataset, self.dataset_file, self.dataset_folder, self.epochs,
            self.batch_size, self.validation, self.learning_rate, self.optimizer, self.seed, self.initialization,
            self.penalty, self.penalty_weight,
        ):
            widget.setEnabled(enabled)

    def dataset_sources(self) -> list[str]:
        """Every entry of the data set list (built-in names and paths)."""
        return [str(self.dataset.itemData(index)) for index in range(self.dataset.count())]

    def prune_missing_datasets(self) -> list[str]:
        """Drop files and folders that no longer exist from the list; return what was dropped."""
        missing = [
            source for source in self.dataset_sources()
            if source not in BUILTIN_SOURCES and not Path(source).exists()
        ]
        for source in missing:
            self.dataset.removeItem(self.dataset.findData(source))
        if missing:
            self.save_settings()
        return missing

    # -- remembered across launches -----------------------------------------------------
    def remember_in(self, settings: QSettings) -> None:
        """Restore the last training settings from ``settings`` and save every change there."""
        self._settings = None  # no saving while restoring
        self._restore(settings)
        self._settings = settings
        for spin in (self.epochs, self.batch_size, self.seed):
            spin.valueChanged.connect(self.save_settings)
        for spin in (self.validation, self.learning_rate, self.penalty_weight):
            spin.valueChanged.connect(self.save_settings)
        for combo in (self.regime, self.dataset, self.optimizer, self.initialization, self.penalty):
            combo.currentIndexChanged.connect(self.save_settings)

    def save_settings(self) -> None:
        if self._settings is None:
            return
        self._settings.setValue(TENSORBOARD_KEY, self.tensorboard_folder())
        try:
            config = self.config()
        except ConfigError:
            return  # keep the last valid settings
        self._settings.setValue(CONFIG_KEY, json.dumps(config.to_dict()))
        self._settings.setValue(REGIME_KEY, self.current_regime())
        self._settings.setValue(DATASET_KEY, self.dataset_source())
        files = [source for source in self.dataset_sources() if source not in BUILTIN_SOURCES]
        self._settings.setValue(DATASET_FILES_KEY, json.dumps(files))

    def _restore(self, settings: QSettings) -> None:
        try:
            config = TrainingConfig.from_dict(json.loads(str(settings.value(CONFIG_KEY, "{}"))))
        except (ConfigError, ValueError, TypeError):
            config = None  # unreadable or out of range: the defaults stay
        if config is not None:
            self.set_config(config)
        regime = settings.value(REGIME_KEY)
        if regime in REGIMES:
            self.set_regime(str(regime))
        try:
            files = json.loads(str(settings.value(DATASET_FILES_KEY, "[]")))
        except ValueError:
            files = []
        for source in files if isinstance(files, list) else []:
            if isinstance(source, str) and Path(source).exists():
                self.set_dataset_source(source)
        self.set_tensorboard_folder(str(settings.value(TENSORBOARD_KEY, "") or ""))
        chosen = str(settings.value(DATASET_KEY, "mnist"))
        if chosen in BUILTIN_SOURCES or Path(chosen).exists():
            self.set_dataset_source(chosen)
        else:
            self.set_dataset_source("mnist")

    # -- progress -------------------------------------------------------------------
    def show_progress(
        self, epoch: int, epochs: int, batch: int, batches: int, fraction: float, elapsed: float
    ) -> None:
        self.progress.setValue(int(round(1000 * min(1.0, fraction))))
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
        estimate = format_duration(left) if left == left else "estimating"
        self.progress.setFormat(f"epoch {epoch}/{epochs} · batch {batch}/{batches} · {estimate} left")
        self.progress_label.setText(f"elapsed {format_duration(elapsed)}")

    def show_state(self, text: str, value: int | None = None) -> None:
        if value is not None:
            self.progress.setValue(value)
        self.progress.setFormat(text)

    # -- choosers ---------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a data set", "", "NumPy archives (*.npz);;All files (*)"
        )
        if path:
            self.set_dataset_source(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder of IDX files")
        if path:
            self.set_dataset_source(path)
