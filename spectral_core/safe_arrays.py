"""Reading ``.npy`` arrays out of zip archives (``.npz``, session files) without trusting them.

``numpy.load`` on an archive member allocates the array its header announces before reading a
byte of data, so a 1 kB file claiming a 10¹² element array exhausts memory. Here the zip entry's
declared size, its compression ratio and the ``.npy`` header (version, dtype, shape) are all
checked against the caller's limits first; only then is the (bounded) array allocated and filled.
Pickled (object) arrays are never accepted.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable

import numpy as np

from spectral_core.errors import SpectralLabError

# Deflate cannot exceed ~1032:1; real weights and images compress far less than this.
MAX_COMPRESSION_RATIO = 100
# Small members may compress well (a zero bias vector); the ratio rule applies above this size.
RATIO_EXEMPT_BYTES = 1024**2
MAX_HEADER_BYTES = 10_000
CHUNK_BYTES = 16 * 1024**2


class ArrayFileError(SpectralLabError):
    """An archived array is damaged, of a refused type, or larger than allowed."""


def _read_header(stream, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError:
        raise ArrayFileError(f"{name} is not a .npy array (bad magic string)") from None
    try:
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_HEADER_BYTES)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_HEADER_BYTES)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ArrayFileError(f"{name} has a damaged .npy header ({reason[:200]})") from None
    raise ArrayFileError(f"{name}: .npy format version {version} is not supported (1.0 or 2.0)")


def read_npy_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    dtypes: Iterable[str],
    max_ndim: int,
    max_elements: int,
    max_bytes: int,
) -> np.ndarray:
    """Read one ``.npy`` member of ``archive`` after checking it against the limits.

    ``dtypes`` lists the allowed numpy dtype names; the array may have at most ``max_ndim``
    dimensions, ``max_elements`` numbers and ``max_bytes`` bytes.
    """
    name = info.filename
    allowed = tuple(dtypes)
    if info.file_size > max_bytes + MAX_HEADER_BYTES + 16:
        raise ArrayFileError(f"{name} is {info.file_size} bytes; at most {max_bytes} allowed here")
    if (
        info.file_size > RATIO_EXEMPT_BYTES
        and info.file_size > MAX_COMPRESSION_RATIO * max(1, info.compress_size)
    ):
        raise ArrayFileError(
            f"{name} claims {info.file_size} bytes from {info.compress_size} compressed bytes; "
            "refused as a decompression bomb"
        )
    with archive.open(info) as stream:
        shape, fortran_order, dtype = _read_header(stream, name)
        if dtype.hasobject or dtype.name not in allowed:
            raise ArrayFileError(
                f"{name} holds {dtype} values; allowed: {', '.join(allowed)}"
            )
        if len(shape) > max_ndim:
            raise ArrayFileError(f"{name} has {len(shape)} dimensions; at most {max_ndim} allowed")
        elements = math.prod(shape)
        if elements > max_elements:
            raise ArrayFileError(
                f"{name} claims shape {shape} ({elements} numbers); at most {max_elements} allowed"
            )
        size = elements * dtype.itemsize
        if size > max_bytes:
            raise ArrayFileError(f"{name} claims {size} bytes of data; at most {max_bytes} allowed")
        header_end = stream.tell()
        if header_end + size != info.file_size:
            raise ArrayFileError(
                f"{name} is damaged: its header announces {size} bytes of data but the member "
                f"holds {info.file_size - header_end}"
            )
        array = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
        view = memoryview(array.reshape(-1, order="A")).cast("B") if size else memoryview(b"")
        filled = 0
        while filled < size:
            chunk = stream.read(min(CHUNK_BYTES, size - filled))
            if not chunk:
                raise ArrayFileError(f"{name} is truncated ({filled} of {size} data bytes)")
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
    return array


def read_npz_arrays(
    archive: zipfile.ZipFile,
    keys: Iterable[str],
    *,
    dtypes: Iterable[str],
    max_ndim: int,
    max_elements: int,
    max_bytes: int,
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an ``.npz`` archive (members ``<key>.npy``), each checked first."""
    arrays = {}
    for key in keys:
        info = archive.getinfo(f"{key}.npy")
        arrays[key] = read_npy_member(
            archive,
            info,
            dtypes=dtypes,
            max_ndim=max_ndim,
            max_elements=max_elements,
            max_bytes=max_bytes,
        )
    return arrays
