"""Per-batch loss and accuracy from the running means Keras reports during an epoch.

Keras's ``logs`` in ``on_train_batch_end`` hold the mean over every batch since the epoch began
(its metrics reset at each epoch start), so a curve of them jumps at each epoch start and hides
how single batches go. With the mean m_k after k batches, the batches k₁+1..k₂ have the mean
(k₂·m₂ − k₁·m₁) / (k₂ − k₁); when k₂ = k₁ + 1 that is the batch's own value.
"""

from __future__ import annotations

import numpy as np

# A position epoch + k / batches_per_epoch with k ≥ 1 belongs to epoch ceil(position) − 1.
_POSITION_TOLERANCE = 1e-9


def batch_means_from_running_means(positions: np.ndarray, running_means: np.ndarray) -> np.ndarray:
    """The mean of the batches since the previous point, for each point of a per-batch curve.

    ``positions`` are epoch positions ``epoch + k / batches_per_epoch`` (k ≥ 1 batches done in
    the 0-based ``epoch``), in increasing order; ``running_means`` the metric Keras logged there.
    A point that follows the previous one by one batch gets that batch's own value; the first
    point of each epoch gets the mean of that epoch's batches so far. Batches are weighted
    equally, as Keras does for equal-sized batches (an epoch's last, smaller batch is the only
    approximation). NaN stays NaN.
    """
    positions = np.asarray(positions, dtype=np.float64)
    means = np.asarray(running_means, dtype=np.float64)
    if positions.shape != means.shape or positions.ndim != 1:
        raise ValueError(
            "positions and running_means: must be 1-D arrays of one length, got shapes "
            f"{positions.shape} and {means.shape}"
        )
    if positions.size == 0:
        return means.copy()
    epochs = np.ceil(positions - _POSITION_TOLERANCE) - 1
    fractions = positions - epochs  # k / batches_per_epoch in (0, 1]
    previous_fraction = np.concatenate([[0.0], fractions[:-1]])
    previous_mean = np.concatenate([[0.0], means[:-1]])
    starts_epoch = np.concatenate([[True], epochs[1:] != epochs[:-1]])
    previous_fraction[starts_epoch] = 0.0
    previous_mean[starts_epoch] = 0.0
    span = fractions - previous_fraction
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (fractions * means - previous_fraction * previous_mean) / span
    # Two points at the same position (a repeated snapshot): keep the running mean.
    return np.where(span > 0, values, means)
