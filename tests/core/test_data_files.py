"""Data sets: .npz files, IDX folders (raw and gzipped), Fashion-MNIST, and bad files."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from spectral_core.data import (
    DEBIAN_FASHION,
    DataError,
    Dataset,
    load_dataset,
    load_npz,
    read_idx,
    synthetic_digits,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """The standard IDX encoding of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, compressed: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        if compressed:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (folder / stem).write_bytes(idx_bytes(array))
    return arrays


def check_standard_form(dataset: Dataset, features: int = 784) -> None:
    assert dataset.x_train.dtype == np.float32 and dataset.x_test.dtype == np.float32
    assert dataset.y_train.dtype == np.int64 and dataset.y_test.dtype == np.int64
    assert dataset.x_train.shape[1] == features and dataset.x_test.shape[1] == features
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_idx_folder_loads_flattened_and_scaled(compressed, tmp_path: Path):
    arrays = write_idx_folder(tmp_path / "set", compressed)
    dataset = load_dataset(tmp_path / "set")
    check_standard_form(dataset)
    assert dataset.name == "set"
    np.testing.assert_array_equal(
        dataset.x_train, arrays["train-images-idx3-ubyte"].reshape(12, -1) / np.float32(255)
    )
    np.testing.assert_array_equal(dataset.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_npz_like_keras_datasets_loads(tiny_npz: Path):
    dataset = load_dataset(tiny_npz)
    check_standard_form(dataset)
    assert (len(dataset.y_train), len(dataset.y_test)) == (300, 100)
    reference = synthetic_digits(train=300, test=100, seed=0)
    np.testing.assert_array_equal(dataset.x_train, reference.x_train)
    np.testing.assert_array_equal(dataset.y_test, reference.y_test)


def test_synthetic_digits_are_seeded_and_learnable_shape():
    first, second = synthetic_digits(50, 10, seed=3), synthetic_digits(50, 10, seed=3)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert not np.array_equal(first.x_train, synthetic_digits(50, 10, seed=4).x_train)
    check_standard_form(first)
    assert first.classes == 10


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's fashion-mnist is not installed")
def test_fashion_mnist_from_debian_folder():
    dataset = load_dataset("fashion-mnist")
    check_standard_form(dataset)
    assert (len(dataset.y_train), len(dataset.y_test)) == (60000, 10000)
    assert set(np.unique(dataset.y_train)) == set(range(10))


# -- bad .npz files ---------------------------------------------------------------------


def good_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }


BAD_NPZ = [
    ({"x_train": None}, "missing array(s) x_train"),
    ({"y_test": None, "y_train": None}, "missing array(s) y_train, y_test"),
    ({"x_train": np.zeros(6, np.uint8)}, "x_train must hold at least one image"),
    ({"x_train": np.zeros((0, 4, 4), np.uint8)}, "x_train must hold at least one image"),
    ({"y_train": np.zeros((6, 2), np.uint8)}, "y_train must be a 1-D array of labels"),
    ({"y_train": np.zeros(5, np.uint8)}, "x_train has 6 images but y_train has 5 labels"),
    ({"x_test": np.zeros((3, 5, 5), np.uint8)}, "differ in shape"),
    ({"y_test": np.array([0.5, 1, 2])}, "y_test must hold integer class labels"),
    ({"y_test": np.array([0, -1, 2])}, "labels must be from 0"),
    ({"x_test": np.full((3, 4, 4), np.nan)}, "NaN or infinite"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_NPZ)
def test_bad_npz_contents_are_named(changes, message, tmp_path: Path):
    arrays = good_arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="bad.npz") as caught:
        load_dataset(path)
    assert message in str(caught.value)


def test_truncated_npz_is_refused(tmp_path: Path):
    whole = tmp_path / "whole.npz"
    np.savez_compressed(whole, **good_arrays())
    data = whole.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        truncated = tmp_path / "truncated.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(DataError, match="truncated.npz"):
            load_npz(truncated)


def test_pickled_object_arrays_are_not_loaded(tmp_path: Path):
    arrays = good_arrays()
    arrays["y_train"] = np.array([object()] * 6, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="pickled.npz"):
        load_npz(path)


def test_text_file_and_missing_path_are_refused(tmp_path: Path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="notes.npz: not an .npz archive"):
        load_dataset(text)
    with pytest.raises(DataError, match="neither mnist nor fashion-mnist"):
        load_dataset(tmp_path / "absent.npz")


# -- bad IDX files ----------------------------------------------------------------------


def test_idx_with_bad_magic_is_refused(tmp_path: Path):
    path = tmp_path / "images"
    path.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(DataError, match="images: not an IDX file"):
        read_idx(path)


def test_idx_with_unsupported_type_is_refused(tmp_path: Path):
    path = tmp_path / "floats"
    path.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"abcd")
    with pytest.raises(DataError, match="data type 0x0d unsupported"):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_truncated_idx_is_refused(compressed, tmp_path: Path):
    data = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))[:-7]
    path = tmp_path / ("images.gz" if compressed else "images")
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.raises(DataError, match="images.*truncated"):
        read_idx(path)


def test_idx_with_trailing_bytes_is_refused(tmp_path: Path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"junk")
    with pytest.raises(DataError, match="longer than its header"):
        read_idx(path)


def test_truncated_header_is_refused(tmp_path: Path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 3))
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "dims",
    [(10_000_000, 1000, 100), (4_000_000_000, 1), (1_000_000, 1_000_000)],
    ids=["1e12-bytes", "4e9-items", "1e6-per-item"],
)
def test_idx_header_claiming_huge_sizes_is_refused_before_allocating(dims, compressed, tmp_path):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    data = header + bytes(100)
    path = tmp_path / ("images.gz" if compressed else "images")
    path.write_bytes(gzip.compress(data) if compressed else data)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="header claims"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024**2


def test_idx_folder_missing_a_file_names_it(tmp_path: Path):
    write_idx_folder(tmp_path / "set", compressed=True)
    (tmp_path / "set" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset(tmp_path / "set")


def test_idx_folder_with_mismatched_counts_is_refused(tmp_path: Path):
    write_idx_folder(tmp_path / "set", compressed=False)
    (tmp_path / "set" / "train-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.zeros(11, dtype=np.uint8))
    )
    with pytest.raises(DataError, match="x_train has 12 images but y_train has 11 labels"):
        load_dataset(tmp_path / "set")


def test_corrupt_gzip_is_refused(tmp_path: Path):
    folder = tmp_path / "set"
    write_idx_folder(folder, compressed=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_dataset(folder)
