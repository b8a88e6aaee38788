"""Terminal progress for training runs: a tqdm bar over epochs and batches."""

from __future__ import annotations

from tqdm.auto import tqdm

from spectral_core.training import Snapshot


class TqdmProgress:
    """An observer that drives a tqdm bar (total = epochs × batches, shows time left)."""

    def __init__(self, disable: bool = False, description: str = "training") -> None:
        self.disable = disable
        self.description = description
        self.bar: tqdm | None = None
        self._done = 0

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, snapshot: Snapshot) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=snapshot.epochs * snapshot.batches_per_epoch,
                desc=self.description,
                unit="batch",
                disable=self.disable,
                dynamic_ncols=True,
            )
        done = snapshot.epoch * snapshot.batches_per_epoch + snapshot.batch
        if snapshot.kind == "end":
            done = self._done
        if done > self._done:
            self.bar.update(done - self._done)
            self._done = done
        shown = ("loss", "accuracy", "val_accuracy")
        postfix = {k: f"{v:.4f}" for k, v in snapshot.metrics.items() if k in shown}
        self.bar.set_description(
            f"{self.description} epoch {snapshot.epoch + 1}/{snapshot.epochs}", refresh=False
        )
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
