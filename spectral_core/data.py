"""Data sets: MNIST and Fashion-MNIST through Keras, ``.npz`` files and folders of IDX files.

Images come out flattened, float32, scaled to [0, 1]; labels int64. Every file is checked
before anything large is allocated, so a truncated or lying file gets a clear error.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectral_core.errors import SpectralLabError
from spectral_core.safe_arrays import ArrayFileError, read_npz_arrays

BUILTIN = ("mnist", "fashion-mnist")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# Refuse anything claiming more than this many samples per split (MNIST has 60,000).
MAX_SAMPLES = 10_000_000
MAX_FEATURES = 100_000
# Largest array read from one file (MNIST's training images are 47 MB).
MAX_DATA_BYTES = 2 * 1024**3
NPZ_DTYPES = (
    "bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
    "float16", "float32", "float64",
)
IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class DataError(SpectralLabError):
    """A data set cannot be loaded; the message names the file and what is wrong."""


@dataclass
class Dataset:
    """A classification data set: flat float32 images in [0, 1] and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def features(self) -> int:
        """Values per image (784 for MNIST)."""
        return int(self.x_train.shape[1])

    @property
    def classes(self) -> int:
        """Number of classes (highest label + 1)."""
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1

    def subset(self, train: int, test: int | None = None) -> Dataset:
        """The first ``train`` training and ``test`` test samples (for quick runs)."""
        test = train if test is None else test
        return Dataset(
            f"{self.name}[:{train}]",
            self.x_train[:train],
            self.y_train[:train],
            self.x_test[:test],
            self.y_test[:test],
        )


def _prepare(name: str, x_train, y_train, x_test, y_test) -> Dataset:
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for key in ("x_train", "x_test"):
        array = arrays[key]
        if array.ndim < 2 or array.shape[0] == 0:
            raise DataError(f"{name}: {key} must hold at least one image, got shape {array.shape}")
    for key in ("y_train", "y_test"):
        array = arrays[key]
        if array.ndim != 1:
            raise DataError(f"{name}: {key} must be a 1-D array of labels, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            if not np.issubdtype(array.dtype, np.floating) or not np.all(array == np.round(array)):
                raise DataError(f"{name}: {key} must hold integer class labels")
        if array.size and (array.min() < 0 or array.max() > 9999):
            raise DataError(f"{name}: {key} labels must be from 0 to 9999")
    for images, labels in (("x_train", "y_train"), ("x_test", "y_test")):
        if arrays[images].shape[0] != arrays[labels].shape[0]:
            raise DataError(
                f"{name}: {images} has {arrays[images].shape[0]} images but {labels} has "
                f"{arrays[labels].shape[0]} labels"
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(
            f"{name}: train images {arrays['x_train'].shape[1:]} and test images "
            f"{arrays['x_test'].shape[1:]} differ in shape"
        )

    def images(array: np.ndarray) -> np.ndarray:
        flat = array.reshape(array.shape[0], -1)
        if np.issubdtype(flat.dtype, np.integer):
            return flat.astype(np.float32) / np.float32(255.0)
        flat = flat.astype(np.float32)
        if not np.all(np.isfinite(flat)):
            raise DataError(f"{name}: images contain NaN or infinite values")
        peak = float(flat.max(initial=0.0))
        return flat / np.float32(255.0) if peak > 1.0 else flat

    return Dataset(
        name,
        images(arrays["x_train"]),
        arrays["y_train"].astype(np.int64),
        images(arrays["x_test"]),
        arrays["y_test"].astype(np.int64),
    )


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """A ``.npz`` with x_train, y_train, x_test, y_test (as ``keras.datasets`` returns them)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    if not zipfile.is_zipfile(file):
        raise DataError(f"{file}: not an .npz archive (expected a zip of x_train, y_train, x_test, y_test)")
    try:
        # Checked member by member (declared sizes, .npy headers) before any array is allocated:
        # np.load would allocate whatever shape a header claims.
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            missing = [key for key in IDX_FILES if f"{key}.npy" not in names]
            if missing:
                raise DataError(
                    f"{file}: missing array(s) {', '.join(missing)}; expected x_train, y_train, "
                    "x_test, y_test"
                )
            checked = read_npz_arrays(
                archive,
                IDX_FILES,
                dtypes=NPZ_DTYPES,
                max_ndim=4,
                max_elements=MAX_DATA_BYTES,
                max_bytes=MAX_DATA_BYTES,
            )
            arrays = [checked[key] for key in IDX_FILES]
    except DataError:
        raise
    except ArrayFileError as error:
        raise DataError(f"{file}: {error}") from None
    except Exception as error:  # numpy raises ValueError, OSError, BadZipFile, EOFError ...
        raise DataError(f"{file}: unreadable or truncated .npz ({type(error).__name__}: {error})") from None
    return _prepare(file.name, *arrays)


def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in chunks so memory follows the data actually present."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 16 * 1024**2))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzipped), checking the header against the real size."""
    file = Path(path)
    try:
        with _open_idx(file) as stream:
            header = stream.read(4)
            if len(header) < 4 or header[0] != 0 or header[1] != 0:
                raise DataError(f"{file}: not an IDX file (bad magic number)")
            if header[2] != 0x08:
                raise DataError(f"{file}: IDX data type 0x{header[2]:02x} unsupported; expected unsigned bytes (0x08)")
            ndim = header[3]
            if not 1 <= ndim <= 4:
                raise DataError(f"{file}: IDX header claims {ndim} dimensions; expected 1 to 4")
            dims_raw = stream.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataError(f"{file}: truncated IDX header")
            dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
            if dims[0] > MAX_SAMPLES:
                raise DataError(f"{file}: header claims {dims[0]} items; at most {MAX_SAMPLES} allowed")
            per_item = int(np.prod(dims[1:], dtype=np.int64)) if ndim > 1 else 1
            if per_item > MAX_FEATURES:
                raise DataError(f"{file}: header claims {per_item} values per item; at most {MAX_FEATURES}")
            expected = dims[0] * per_item
            if expected > MAX_DATA_BYTES:
                raise DataError(
                    f"{file}: header claims {expected} bytes of data; at most {MAX_DATA_BYTES} allowed"
                )
            if file.suffix != ".gz":
                # Compare with the real size before reading: read(n) allocates n bytes up front.
                actual = file.stat().st_size - 4 - 4 * ndim
                if actual != expected:
                    raise DataError(
                        f"{file}: {'truncated' if actual < expected else 'longer than its header announces'}: "
                        f"header announces {expected} bytes of data, found {actual}"
                    )
            payload = _read_at_most(stream, expected + 1)
    except DataError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{file}: unreadable ({error})") from None
    if len(payload) < expected:
        raise DataError(f"{file}: truncated: header announces {expected} bytes of data, found {len(payload)}")
    if len(payload) > expected:
        raise DataError(f"{file}: longer than its header announces ({expected} bytes of data)")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _find_idx(folder: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{folder}: missing {stems[0]} (or {stems[0]}.gz)")


def load_idx_folder(path: str | os.PathLike[str], name: str | None = None) -> Dataset:
    """A data set from a folder holding the four MNIST IDX files (optionally gzipped)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    arrays = [read_idx(_find_idx(folder, stems)) for stems in IDX_FILES.values()]
    return _prepare(name or folder.name, *arrays)


def load_dataset(source: str | os.PathLike[str]) -> Dataset:
    """``mnist``, ``fashion-mnist``, a ``.npz`` file or a folder of the four IDX files."""
    text = str(source)
    if text == "mnist":
        import keras

        try:
            return _prepare("mnist", *_flatten_pairs(keras.datasets.mnist.load_data()))
        except Exception as error:
            raise DataError(f"mnist: could not download or read Keras's copy ({error})") from None
    if text == "fashion-mnist":
        if DEBIAN_FASHION.is_dir():
            return load_idx_folder(DEBIAN_FASHION, "fashion-mnist")
        import keras

        try:
            return _prepare(
                "fashion-mnist", *_flatten_pairs(keras.datasets.fashion_mnist.load_data())
            )
        except Exception as error:
            raise DataError(f"fashion-mnist: could not download or read Keras's copy ({error})") from None
    path = Path(text)
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file():
        return load_npz(path)
    raise DataError(
        f"dataset: {text!r} is neither {' nor '.join(BUILTIN)}, nor an existing .npz file or IDX folder"
    )


def _flatten_pairs(pairs):
    (x_train, y_train), (x_test, y_test) = pairs
    return x_train, y_train, x_test, y_test


def synthetic_digits(train: int = 2000, test: int = 500, seed: int = 0, side: int = 28) -> Dataset:
    """A small learnable 10-class image set made on the spot (for tests and demos).

    Each class is a noisy copy of its own random prototype image.
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, side * side)) < 0.2

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=count)
        flips = rng.random((count, side * side)) < 0.1
        images = np.logical_xor(prototypes[labels], flips).astype(np.uint8) * 255
        return images.reshape(count, side, side), labels.astype(np.uint8)

    x_train, y_train = draw(train)
    x_test, y_test = draw(test)
    return _prepare("synthetic", x_train, y_train, x_test, y_test)
