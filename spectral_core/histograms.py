"""Exact weight histograms, including a per-epoch history on one shared, growing grid.

Bins are aligned on multiples of a width ``w`` (edges k·w), so when later weights fall outside
the grid it grows by whole bins and earlier counts stay exact; when it grows past ``max_bins``
neighbouring bins merge in pairs (also exact, the grid staying aligned).
"""

from __future__ import annotations

import math

import numpy as np


def histogram(values: np.ndarray, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of all finite ``values``."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(-1.0, 1.0, bins + 1)
    low, high = float(flat.min()), float(flat.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(flat, bins=bins, range=(low, high))
    return counts.astype(np.int64), edges


class HistogramHistory:
    """Histograms of successive weight sets (epochs) on one aligned grid."""

    def __init__(self, target_bins: int = 64, max_bins: int = 256) -> None:
        self.target_bins = target_bins
        self.max_bins = max_bins
        self.width = 0.0
        self.first = 0  # the lowest edge is first * width; first stays even
        self.bins = 0  # stays even
        self.rows: list[np.ndarray] = []

    @property
    def edges(self) -> np.ndarray:
        """Bin edges of the shared grid (bins + 1 values)."""
        return (self.first + np.arange(self.bins + 1)) * self.width

    def matrix(self) -> np.ndarray:
        """(epochs, bins) counts."""
        return np.array(self.rows) if self.rows else np.zeros((0, self.bins), dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """Add one weight set's histogram, widening the grid (and padding earlier rows) as needed."""
        flat = np.asarray(values, dtype=np.float64).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            flat = np.zeros(1)
        low, high = float(flat.min()), float(flat.max())
        if not self.rows:
            self.width = _nice_width(max(high - low, 1e-12) / self.target_bins)
            self.first, self.bins = math.floor(low / self.width), 0
        first = min(self.first, math.floor(low / self.width))
        last = max(self.first + self.bins, math.floor(high / self.width) + 1)
        first -= first % 2
        last += (last - first) % 2
        pad_before = self.first - first if self.rows else 0
        pad_after = last - first - self.bins - pad_before
        self.rows = [np.pad(row, (pad_before, pad_after)) for row in self.rows]
        self.first, self.bins = first, last - first
        while self.bins > self.max_bins:
            self._merge_pairs()
        index = np.floor(flat / self.width).astype(np.int64) - self.first
        self.rows.append(np.bincount(index, minlength=self.bins).astype(np.int64))

    def _merge_pairs(self) -> None:
        """Halve the resolution exactly: pairs of bins become one, the grid stays aligned."""
        self.rows = [row.reshape(-1, 2).sum(axis=1) for row in self.rows]
        self.first //= 2
        self.bins //= 2
        self.width *= 2
        if self.first % 2:
            self.rows = [np.pad(row, (1, 0)) for row in self.rows]
            self.first -= 1
            self.bins += 1
        if self.bins % 2:
            self.rows = [np.pad(row, (0, 1)) for row in self.rows]
            self.bins += 1


def _nice_width(raw: float) -> float:
    """Round a bin width to 1, 2 or 5 times a power of ten (stable, readable edges)."""
    exponent = math.floor(math.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        width = step * 10.0**exponent
        if width >= raw:
            return width
    return 10.0 ** (exponent + 1)
