"""Shared test setup: quiet, headless environment and small generated data sets.

The environment variables must be set before Qt or TensorFlow is imported anywhere, which is
why they sit at the top of the root conftest (pytest imports it before any test module).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Autosaves of app instances started by tests (also in subprocesses) go to a throwaway folder,
# and a leftover crash autosave is discarded instead of opening a modal question.
os.environ.setdefault(
    "SPECTRAL_LAB_HOME", __import__("tempfile").mkdtemp(prefix="spectral-lab-home-")
)
os.environ.setdefault("SPECTRAL_LAB_RECOVER", "discard")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def write_digits_npz(path: Path, train: int = 300, test: int = 100, seed: int = 0) -> Path:
    """An ``.npz`` shaped like ``keras.datasets.mnist``: uint8 28×28 images, uint8 labels."""
    from spectral_core.data import synthetic_digits

    digits = synthetic_digits(train=train, test=test, seed=seed)

    def as_uint8(images: np.ndarray) -> np.ndarray:
        return np.round(images * 255).astype(np.uint8).reshape(-1, 28, 28)

    np.savez(
        path,
        x_train=as_uint8(digits.x_train),
        y_train=digits.y_train.astype(np.uint8),
        x_test=as_uint8(digits.x_test),
        y_test=digits.y_test.astype(np.uint8),
    )
    return path


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MNIST-shaped ``.npz`` (300 train, 100 test images of 784 pixels)."""
    return write_digits_npz(tmp_path_factory.mktemp("data") / "digits.npz")


@pytest.fixture(scope="session")
def digits():
    """A small learnable 784-pixel, 10-class data set (400 train, 100 test)."""
    from spectral_core.data import synthetic_digits

    return synthetic_digits(train=400, test=100, seed=1)


@pytest.fixture(scope="session")
def small_digits():
    """8×8 synthetic digits (64 features) for the quickest training tests."""
    from spectral_core.data import synthetic_digits

    return synthetic_digits(train=600, test=200, seed=2, side=8)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: takes several seconds (builds a wheel, starts processes); -m 'not slow' skips",
    )
