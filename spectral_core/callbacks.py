"""The training engine's observer callback, public: live snapshots in a plain ``model.fit``.

:func:`spectral_core.train` uses the same callback; this module gives it a public name and a
constructor that needs nothing but the observers, reading epochs and steps from ``fit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from spectral_core.config import TrainingConfig
from spectral_core.training import Observer, Snapshot, TrainingControl, _EngineCallback

__all__ = ["SnapshotCallback", "Snapshot", "Observer", "TrainingControl"]


class SnapshotCallback(_EngineCallback):
    """A Keras callback that hands :class:`~spectral_core.training.Snapshot` copies to observers.

    Usable in any ``model.fit(..., callbacks=[SnapshotCallback([print])])``. Each observer (a
    callable taking a ``Snapshot``) receives

    - ``"batch"`` snapshots at most every ``snapshot_interval`` seconds: the batch's metrics and
      every spectral layer's eigenvalues;
    - ``"epoch"`` snapshots after each epoch (and one before the first): the epoch's metrics, the
      eigenvalues, and histograms of every layer's effective weights (also over the epochs, and
      of the retracted compact model's layers when the model has telescopic layers).

    Snapshots hold numpy copies, never live variables, so observers may pass them to another
    thread. ``control`` stops or pauses the fit from any thread. A non-finite loss stops the fit
    and restores the last finite weights; :attr:`diverged_message` then says where.
    :attr:`rows` holds one metrics row per finished epoch.

    Args:
        observers: callables receiving each snapshot, on the training thread.
        snapshot_interval: seconds between batch snapshots (0: every batch).
        histogram_bins: bins of the weight histograms.
        control: a :class:`~spectral_core.training.TrainingControl` to stop or pause the fit.
        telescopic: per dense layer, whether it may be folded into the next (for the compact
            histograms); None reads it from the layers (linear activation).
    """

    def __init__(
        self,
        observers: Iterable[Observer] = (),
        *,
        snapshot_interval: float = 0.1,
        histogram_bins: int = 60,
        control: TrainingControl | None = None,
        telescopic: list[bool] | None = None,
    ) -> None:
        config = TrainingConfig(
            snapshot_interval=snapshot_interval, histogram_bins=histogram_bins
        ).validate()
        # No network given: the engine reads and restores the model fit trains.
        super().__init__(config, list(observers), control or TrainingControl(), 0, telescopic)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Read the number of epochs and of batches per epoch from ``fit``, then start."""
        params = self.params or {}
        if params.get("epochs"):
            self.config = dataclasses.replace(self.config, epochs=int(params["epochs"]))
        self.batches_per_epoch = int(params.get("steps") or 0)
        super().on_train_begin(logs)
