"""The analysis views of a run: what each plot panel and the Model box show, drawn from a
:class:`~app.lab_state.LabRun`'s record (or from a running run's live buffers).

Every call into a panel goes through the :class:`~app.view_guard.ViewGuard`: a panel that
raises is reported once and the rest keeps drawing. Adding a plot means adding it to the
window's tabs and drawing it here, from the record's fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel

from app.lab_state import LabRun, LabState
from app.plots import set_run_name
from app.plots.metrics import MetricsPanel
from app.plots.spectrum import SpectrumPanel
from app.plots.weights import WeightsPanel
from app.retract import describe_report
from app.view_guard import ViewGuard
from spectral_core.record import RunRecord
from spectral_core.regimes import PAPER_NAMES

NO_RUN_TEXT = "No run yet. Build a stack, pick a regime and press Train (Ctrl+R)."
METRICS, SPECTRUM, WEIGHTS, MODEL = (
    "loss and accuracy",
    "eigenvalue spectrum",
    "weight distributions",
    "model",
)


class RunViews:
    """Draws runs into the metrics, spectrum and weights panels and the Model box."""

    def __init__(
        self,
        guard: ViewGuard,
        metrics: MetricsPanel,
        spectrum: SpectrumPanel,
        weights: WeightsPanel,
        summary: QLabel,
        lineage: Callable[[RunRecord], list[LabRun]] | None = None,
    ) -> None:
        self.guard = guard
        self.metrics = metrics
        self.spectrum = spectrum
        self.weights = weights
        self.summary = summary
        # The runs a record continued, oldest first (LabState.lineage): drawn before its epochs.
        self.lineage = lineage if lineage is not None else (lambda _record: [])

    def plots(self) -> dict[str, Any]:
        """Every plot by title (each also exports from its right-click menu)."""
        return {
            "Loss": self.metrics.loss_plot,
            "Accuracy": self.metrics.accuracy_plot,
            "Sorted eigenvalues": self.spectrum.sorted_plot,
            "Eigenvalue histogram": self.spectrum.histogram_plot,
            "Weight distribution": self.weights.histogram_plot,
            "Weight histogram over epochs": self.weights.history_plot,
        }

    def follow(self, state: LabState) -> None:
        """Redraw from ``state`` on its events: the current run (once training is over), the
        Compare-with list, the selection's overlays."""

        def on_state(event: str, value: Any) -> None:
            if event in ("current", "runs") and not state.is_training:
                self.show_run(state.current)
            elif event == "run_changed" and value is state.current:
                self.guard.call(MODEL, self.show_summary, value)
            if event in ("run_added", "runs", "run_changed"):
                self.show_comparisons(state.runs)
            if event in ("current", "selection", "runs", "status"):
                current, training = state.current, state.is_training
                self.show_overlays(
                    [run for run in state.selection if run is not current or training]
                )

        state.subscribe(on_state)

    def lineage_histories(self, record: RunRecord) -> list[tuple[str, list[dict[str, float]]]]:
        """(name, per-epoch rows) of every run ``record`` continued, oldest first."""
        return [(run.name, run.history) for run in self.lineage(record)]

    # -- a finished (or restored) run ------------------------------------------------------
    def show_run(self, run: LabRun | None) -> None:
        """Everything of ``run`` in every view: batches, epochs, spectra, distributions."""
        draw = self.guard.call
        if run is None:
            for name, panel in (
                (METRICS, self.metrics),
                (SPECTRUM, self.spectrum),
                (WEIGHTS, self.weights),
            ):
                draw(name, panel.clear)
            draw(MODEL, self.show_summary, None)
            return
        record = run.record
        draw(METRICS, self.name_run, run.name)
        draw(METRICS, self.metrics.set_epoch_span, None)
        draw(METRICS, self.metrics.set_history, record.history)
        draw(METRICS, self.metrics.set_lineage, self.lineage_histories(record))
        draw(METRICS, self.metrics.set_batch_points, record.batch_points)
        if record.histograms or record.histogram_history:
            draw(WEIGHTS, self.weights.set_live, record.histograms)
            draw(
                WEIGHTS,
                self.weights.set_histories,
                record.histogram_history,
                record.compact_histograms,
            )
        else:
            draw(WEIGHTS, self.weights.clear)
        if record.eigen_history:
            draw(SPECTRUM, self.spectrum.set_history, record.eigen_history)
            draw(SPECTRUM, self.spectrum.set_live, record.eigenvalues)
        else:
            draw(SPECTRUM, self.spectrum.clear)
        draw(MODEL, self.show_summary, run)

    def show_overlays(self, runs: Sequence[LabRun]) -> None:
        """Overlay the curves and weight distributions of ``runs`` (the selection)."""
        self.guard.call(
            METRICS, self.metrics.set_overlays, [(run.name, run.history) for run in runs]
        )
        self.guard.call(
            WEIGHTS, self.weights.set_run_overlays, [(run.name, run.histograms()) for run in runs]
        )

    def show_comparisons(self, runs: Sequence[LabRun]) -> None:
        """Every run's final histograms (and its compact model's) in the Compare-with list."""
        entries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for run in runs:
            for layer, histogram in run.histograms().items():
                entries[f"{run.name} ({run.regime}): {layer}"] = histogram
        self.guard.call(WEIGHTS, self.weights.set_comparisons, entries)

    def show_summary(self, run: LabRun | None) -> None:
        """The Model box: the run's test metrics, or its retraction report once retracted."""
        if run is None:
            self.summary.setText(NO_RUN_TEXT)
        elif run.retracted and run.report is not None:
            self.summary.setText(
                describe_report(run) + "<br><i>The compact model is active (Ctrl+Z undoes).</i>"
            )
        else:
            counts = (
                f"test accuracy {run.test_accuracy:.4f}, loss {run.test_loss:.4f}"
                if math.isfinite(run.test_accuracy) and math.isfinite(run.test_loss)
                else f"test accuracy {run.test_accuracy:.4f}"
                if math.isfinite(run.test_accuracy)
                else "no test metrics"
            )
            hint = (
                "Retract (Ctrl+T) folds its telescopic layers into a compact model."
                if run.has_telescopic
                else "No telescopic layers: nothing to retract."
            )
            model_note = "" if run.model is not None else "<br>(restored without weights)"
            if run.record.continued_from:
                model_note += (
                    f"<br>Continued from {run.record.continued_from}: "
                    f"epochs {run.history[0]['epoch']:.0f}–{run.record.last_epoch}"
                    if run.history
                    else f"<br>Continued from {run.record.continued_from}"
                )
            self.summary.setText(
                f"<b>{run.name}</b> · {PAPER_NAMES[run.regime]} · "
                f"{' → '.join(map(str, run.architecture.widths))}<br>{counts}<br>{hint}{model_note}"
            )

    # -- a running run ------------------------------------------------------------------------
    def name_run(self, name: str) -> None:
        """Tell the panels which run they show (legends; an overlay of it is skipped)."""
        set_run_name(name, self.metrics, self.spectrum, self.weights)

    def start_live(self, epochs: int, name: str, plan: RunRecord | None = None) -> None:
        """Clear every view for a new run ``name`` of ``epochs`` epochs; a ``plan`` that
        continues earlier runs draws their epochs first and spans the x axis over all."""
        self.guard.reset()
        for view, panel in (
            (METRICS, self.metrics),
            (SPECTRUM, self.spectrum),
            (WEIGHTS, self.weights),
        ):
            self.guard.call(view, panel.clear)
        earlier = self.lineage_histories(plan) if plan is not None else []
        first = max((int(rows[-1]["epoch"]) for _, rows in earlier if rows), default=0)
        self.guard.call(METRICS, self.metrics.set_lineage, earlier)
        self.guard.call(METRICS, self.metrics.set_epoch_span, first + epochs)
        self.guard.call(METRICS, self.name_run, name)

    def draw_epoch(
        self, snapshot: Any, history: list[dict[str, float]], eigen_history: list[Any]
    ) -> None:
        """A training epoch ended: its curves, spectra over epochs and distributions."""
        draw = self.guard.call
        draw(METRICS, self.metrics.set_history, history)
        draw(SPECTRUM, self.spectrum.set_history, eigen_history)
        draw(WEIGHTS, self.weights.set_live, snapshot.histograms)
        draw(
            WEIGHTS,
            self.weights.set_histories,
            snapshot.histogram_history,
            snapshot.compact_histograms,
        )

    def draw_latest(self, visible: Any, snapshot: Any, batch_points: np.ndarray) -> None:
        """The timer's redraw: only the view on screen (``visible``) is redrawn."""
        if visible is self.metrics:
            self.guard.call(METRICS, self.metrics.set_batch_points, batch_points)
        elif visible is self.spectrum and snapshot.eigenvalues:
            self.guard.call(SPECTRUM, self.spectrum.set_live, snapshot.eigenvalues)
