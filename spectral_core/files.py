"""Atomic file writes: a temp file beside the target, then an atomic rename.

A failure (read-only folder, full disk) leaves any previous file intact and no partial file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from spectral_core.errors import SpectralLabError


def _read_umask() -> int:
    # The umask can only be read by setting it; done once, at import, before any threads write.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class WriteError(OSError, SpectralLabError):
    """Writing a file failed; the message names the file and the reason."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it over ``path`` on success.

    The caller writes the temporary file by any means (Keras's saver, numpy, ...).
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise WriteError(f"cannot write {target}: {folder} {problem}")
    try:
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f"{target.suffix}.partial{target.suffix}", dir=folder
        )
    except OSError as error:
        raise WriteError(f"cannot write {target}: {error.strerror or error}") from None
    os.close(handle)
    temp = Path(temp_name)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(temp, 0o666 & ~_UMASK)
    try:
        yield temp
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temp, target)
        fsync_folder(folder)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise WriteError(f"cannot write {target}: {error.strerror or error}") from error
        raise


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries to disk, so that a rename into it survives a power cut.

    POSIX only (Windows cannot open a folder); best effort: the file is already in place, and
    some file systems refuse to fsync a folder.
    """
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file, fsync, then rename."""
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Let ``writer`` fill a temporary file, then move it over ``path``."""
    with atomic_path(path) as temp:
        writer(temp)


def read_json_file(path: str | os.PathLike[str], max_bytes: int) -> object:
    """The JSON document in ``path``, read as UTF-8 and at most ``max_bytes`` long.

    Raises ``ValueError`` with a message naming the file (too large, unreadable, not UTF-8, or
    not JSON with the line and column); callers re-raise it as their own error class.
    """
    import json

    file = Path(path)
    try:
        if file.stat().st_size > max_bytes:
            raise ValueError(f"{file} is larger than {max_bytes} bytes")
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{file} is not a UTF-8 text file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{file}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
