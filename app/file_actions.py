"""Files: sessions, architecture JSON, search study folders, exports (models, metrics, plots)
and recent files.

Every action reads from or writes to the lab state (sessions go through
:meth:`LabState.to_session` / :meth:`LabState.from_session`); errors show inline in the banner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from app.dialogs import ask_open_folder, ask_open_path, ask_save_path
from app.lab_state import LabState
from app.plots import export_plot
from app.retract import ensure_compact, rebuild_models
from app.run_panel import BUILTIN_SOURCES
from spectral_core.architecture import Architecture, ArchitectureError
from spectral_core.config import TrainingConfig
from spectral_core.errors import SpectralLabError
from spectral_core.files import WriteError, atomic_write_text
from spectral_core.session import SESSION_SUFFIX, Session, SessionError

MAX_RECENT_FILES = 8
SESSION_FILTER = f"Spectral Lab sessions (*{SESSION_SUFFIX})"
RECENT_KEY = "files/recent"


class FileActions:
    """The File menu's work for ``window`` (a MainWindow: its state, banner and status bar)."""

    def __init__(self, window: Any, state: LabState, settings: QSettings) -> None:
        self.window = window
        self.state = state
        self.settings = settings
        self.session_path: Path | None = None
        self.recent_menu = QMenu("Open &recent", window)

    # -- helpers --------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _ask_save(self, title: str, suggested: str, filters: str) -> str:
        return ask_save_path(self.window, title, suggested, filters)

    # -- sessions -------------------------------------------------------------------------------
    def current_session(self, with_weights: bool = True) -> Session:
        """The lab state as a session value (see :meth:`LabState.to_session`)."""
        self.window.binding.sync()
        return self.state.to_session(with_weights)

    def restore_session(self, session: Session) -> None:
        """Replace the architecture, the settings and the runs by ``session``'s; the undo
        history is cleared (it acts on runs no longer in the session)."""
        if self.state.is_training:
            return self.window.show_error("a run is going: stop it before opening a session")
        self.window.binding.push(session)
        self.state.from_session(session)
        self.window.commands.clear()
        self.rebuild_models()
        return None

    def rebuild_models(self) -> None:
        """Give the runs opened from a file their models (once TensorFlow is loaded)."""
        if self.window.tensorflow_ready:
            for error in rebuild_models(self.state):
                self.window.show_error(error)

    def save_session(self, path: str | Path) -> bool:
        from spectral_core.session import save_session

        target = Path(path)
        if target.suffix != SESSION_SUFFIX:
            target = target.with_name(target.name + SESSION_SUFFIX)
        try:
            save_session(target, self.window.current_session())
        except (SessionError, WriteError, OSError) as error:
            self.window.show_error(f"cannot save the session: {error}")
            return False
        self._opened(target)
        self._say(f"Saved the session to {target}")
        return True

    def save_session_dialog(self, ask: bool = False) -> None:
        path = self.session_path
        if ask or path is None:
            chosen = self._ask_save("Save the session", f"session{SESSION_SUFFIX}", SESSION_FILTER)
            if not chosen:
                return
            path = Path(chosen)
        self.save_session(path)

    def open_session_dialog(self) -> None:
        path = ask_open_path(
            self.window, "Open a session", f"{SESSION_FILTER};;Architecture JSON (*.json)"
        )
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Open a session (``.spectral``), an architecture JSON file or a search's study folder
        (its best trial, see :meth:`open_study`); errors show inline."""
        from spectral_core.session import load_session

        file = Path(path)
        if file.is_dir():
            return self.open_study(file)
        try:
            if file.suffix == ".json":
                self.window.editor.set_architecture(Architecture.load(file))  # a command
            else:
                self.window.restore_session(load_session(file))
                self._opened(file)
                return True
        except (SessionError, ArchitectureError, OSError, ValueError) as error:
            self.window.show_error(f"cannot open {file.name}: {error}")
            return False
        self.add_recent(file)
        return True

    def _opened(self, file: Path) -> None:
        self.session_path = file
        self.window.setWindowTitle(f"Spectral Lab — {file.name}")
        self.window.commands.set_clean()  # the state as the file holds it
        self.add_recent(file)

    # -- search study folders -----------------------------------------------------------------
    def open_study_dialog(self) -> None:
        path = ask_open_folder(self.window, "Open a study folder (spectral-lab search --out)")
        if path:
            self.open_file(path)

    def open_study(self, folder: str | Path) -> bool:
        """Take a ``spectral-lab search`` folder's best trial (its ``best.json``) as the settings:
        the architecture into the editor (one undoable step), the regime, training settings and
        data set into the run panel. A missing or damaged ``best.json`` changes nothing."""
        from spectral_core.regimes import check_regime
        from spectral_core.search import BEST_FILE, load_study_best, read_best

        folder = Path(folder)
        if self.window.is_training:
            self.window.show_error("a run is going: stop it before opening a study folder")
            return False
        try:
            architecture, config = load_study_best(folder)
            best = read_best(folder) or {}
            regime = check_regime(str(best.get("regime", "")))
        except (SpectralLabError, OSError) as error:
            text = str(error)
            if BEST_FILE not in text:
                text = f"{folder / BEST_FILE}: {text}"
            self.window.show_error(f"cannot open the study folder {folder.name}: {text}")
            return False
        self.window.editor.set_architecture(architecture)  # a command: Ctrl+Z takes it back
        panel = self.window.run_panel
        panel.set_regime(regime)
        panel.set_config(config)
        dataset = _study_dataset(best)
        found = bool(dataset) and (dataset in BUILTIN_SOURCES or Path(dataset).exists())
        if found:
            panel.set_dataset_source(dataset)
        self.window.binding.sync()
        self.add_recent(folder)
        text = _study_summary(folder, best, architecture, regime, config)
        if dataset:
            limit = best["dataset"].get("limit")
            text += f" The study trained on {dataset}" + (f" (first {limit} images)" if limit else "")
            text += "." if found else ", not found here: the data set stays as it was."
        self.window.show_info(text)
        self._say(f"Opened the best trial of {folder}")
        return True

    # -- architecture files -------------------------------------------------------------------
    def open_architecture_dialog(self) -> None:
        path = ask_open_path(self.window, "Open an architecture", "Architecture JSON (*.json)")
        if path:
            self.open_file(path)

    def save_architecture_dialog(self) -> None:
        path = self._ask_save(
            "Save the architecture", "architecture.json", "Architecture JSON (*.json)"
        )
        if not path:
            return
        try:
            self.state.architecture.validate().save(path)
        except (ArchitectureError, WriteError, OSError) as error:
            self.window.show_error(f"cannot save the architecture: {error}")

    # -- exports --------------------------------------------------------------------------------
    def export_model(self, compact: bool = True, path: str | None = None) -> Path | None:
        """Write the current run's compact (or full) model to ``path`` (asks when None)."""
        run = self.state.current
        if run is None or run.model is None:
            self.window.show_error("there is no trained model to export yet: train a run first")
            return None
        kind = "compact" if compact else "full"
        if path is None:
            path = self._ask_save(
                f"Export the {kind} model", f"{kind}.keras", "Keras models (*.keras)"
            )
            if not path:
                return None
        from spectral_core.export import expected_input, save_model

        try:
            if compact:
                ensure_compact(run)
            model = run.compact if compact else run.model
            target = save_model(model, path)
        except (WriteError, OSError, ValueError) as error:
            self.window.show_error(f"export failed: {error}")
            return None
        features = int(model.inputs[0].shape[-1])
        self.window.show_info(
            f"Wrote the {kind} model of {run.name} to {target}. It expects "
            f"{expected_input(features)} (also in the file's metadata.json)."
        )
        self._say(f"Wrote the {kind} model of {run.name} to {target}")
        return target

    def export_metrics(self, path: str | None = None) -> Path | None:
        run = self.state.current
        if run is None:
            self.window.show_error("there are no metrics to export yet: train a run first")
            return None
        if path is None:
            path = self._ask_save("Export metrics", "metrics.csv", "CSV files (*.csv)")
            if not path:
                return None
        from spectral_core.runs import metrics_csv

        try:
            atomic_write_text(path, metrics_csv(run.history))
        except (WriteError, OSError) as error:
            self.window.show_error(f"export failed: {error}")
            return None
        self._say(f"Wrote the metrics of {run.name} to {path}")
        return Path(path)

    def export_plot_dialog(self, title: str, path: str | None = None) -> Path | None:
        if path is None:
            suggested = title.lower().replace(" ", "-").replace("|", "") + ".png"
            path = self._ask_save(
                f"Export the {title} plot", suggested, "PNG image (*.png);;SVG drawing (*.svg)"
            )
            if not path:
                return None
        try:
            target = export_plot(self.window.plots()[title].getPlotItem(), path, title)
        except (WriteError, OSError) as error:
            self.window.show_error(f"export failed: {error}")
            return None
        self._say(f"Wrote the {title} plot to {target}")
        return target

    # -- recent files ---------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(item) for item in (value or [])]

    def add_recent(self, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [text] + [item for item in self.recent_files() if item != text]
        self.settings.setValue(RECENT_KEY, recent[:MAX_RECENT_FILES])
        self.update_recent_menu()

    def update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for item in self.recent_files():
            self.recent_menu.addAction(item, _opener(self.open_file, item))
        self.recent_menu.setEnabled(bool(self.recent_files()))


def _study_dataset(best: dict[str, Any]) -> str:
    """The data source a study trained on (``best.json``'s ``dataset.dataset``), or ''."""
    described = best.get("dataset")
    source = described.get("dataset") if isinstance(described, dict) else None
    return source if isinstance(source, str) else ""


def _study_summary(
    folder: Path,
    best: dict[str, Any],
    architecture: Architecture,
    regime: str,
    config: TrainingConfig,
) -> str:
    """The banner text after a study folder opened: what was loaded, from which trial."""
    from spectral_core.regimes import PAPER_NAMES

    trial, score = best.get("trial"), best.get("val_accuracy")
    scored = f", validation accuracy {score:.4f}" if isinstance(score, (int, float)) else ""
    rate = "auto" if config.learning_rate is None else f"{config.learning_rate:g}"
    return (
        f"Opened the best trial (#{trial}{scored}) of the study in {folder}: architecture "
        f"{architecture.name} ({'-'.join(str(w) for w in architecture.widths)}), regime "
        f"{PAPER_NAMES[regime]}, {config.epochs} epochs, batch {config.batch_size}, learning "
        f"rate {rate}, {config.optimizer}, initialization {config.initialization}, seed "
        f"{config.seed}. Undo (Ctrl+Z) restores the previous architecture."
    )


def _opener(open_file: Callable[[str], bool], item: str) -> Callable[[], None]:
    return lambda: open_file(item) and None
