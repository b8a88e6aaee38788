"""Hostile session files: truncated, corrupted, wrong type, huge or malicious.

Each is refused with a SessionError before any large allocation; nothing in the file executes.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectral_core.session import SessionError, load_session, save_session, session_from_json

from .test_session import make_session

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def valid_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.spectral"
        save_session(path, make_session())
        return path.read_bytes()


VALID = valid_bytes()


def document_of(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("session.json"))


def archive_with(path: Path, document: dict, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(document))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy_with_header(shape: tuple[int, ...], descr: str = "<f8", payload: bytes = b"") -> bytes:
    """A .npy file whose header announces ``shape`` but holds only ``payload``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + payload


def one_weight_document(name: str = "weights/run0_0.npy") -> dict:
    document = document_of(VALID)
    document["runs"][0]["weights"] = [name]
    return document


def peak_megabytes_while(action) -> float:
    tracemalloc.start()
    try:
        action()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 1024**2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a Spectral Lab session"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), r"not a Spectral Lab session"),
        (b"random text that is not json", r"not a Spectral Lab session"),
        (b"{\"runs\": [", r"not valid JSON \(line 1"),
        (b"[1, 2, 3]", r"not a Spectral Lab session"),
        (b"{" + b"\xff\xfe" * 10, r"not UTF-8"),
    ],
)
def test_wrong_kinds_of_file_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.spectral"
    path.write_bytes(content)
    with pytest.raises(SessionError, match=message):
        load_session(path)


def test_zip_without_session_json_such_as_a_keras_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF")
    with pytest.raises(SessionError, match="the archive has no session.json"):
        load_session(path)


def test_missing_file_and_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="cannot read"):
        load_session(tmp_path / "absent.spectral")
    with pytest.raises(SessionError, match="not a file"):
        load_session(tmp_path)


def test_deeply_nested_json_is_refused_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "deep.spectral"
    path.write_bytes(b"{\"runs\": " + b"[" * 200_000 + b"]" * 200_000 + b"}")
    with pytest.raises(SessionError, match="nested too deeply"):
        load_session(path)


def test_npy_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path: Path) -> None:
    # 10⁶ × 10⁶ float64 would be 8 TB; the file is a few hundred bytes.
    path = archive_with(
        tmp_path / "huge.spectral",
        one_weight_document(),
        {"weights/run0_0.npy": npy_with_header((10**6, 10**6), payload=bytes(64))},
    )

    def load() -> None:
        with pytest.raises(SessionError, match=r"claims shape \(1000000, 1000000\).*allows 368 numbers"):
            load_session(path)

    assert peak_megabytes_while(load) < 20


def test_a_layer_of_a_billion_units_is_refused(tmp_path: Path) -> None:
    document = document_of(VALID)
    document["runs"][0]["architecture"]["layers"][0]["units"] = 10**9
    path = archive_with(tmp_path / "wide.spectral", document, {})
    with pytest.raises(SessionError, match=r"runs\[0\]\.architecture\.layers\[0\]\.units"):
        load_session(path)


def test_session_json_claiming_gigabytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.spectral"
    # A deflated member of 70 MB of spaces (about 70 kB on disk).
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.json", b" " * (70 * 1024**2))
    with pytest.raises(SessionError, match="session.json claims 73400320 bytes"):
        load_session(path)


def test_decompression_bomb_weight_member_is_refused(tmp_path: Path) -> None:
    document = document_of(VALID)
    document["runs"][0]["architecture"] = {
        "name": "wide", "input_units": 4000, "layers": [{"units": 4000, "activation": "softmax"}]
    }
    document["runs"][0]["weights"] = ["weights/run0_0.npy"]
    zeros = npy_with_header((4000, 4000), payload=bytes(4000 * 4000 * 8))  # 128 MB of zeros
    path = tmp_path / "bomb.spectral"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.json", json.dumps(document))
        archive.writestr("weights/run0_0.npy", zeros)
    assert path.stat().st_size < 1024**2
    with pytest.raises(SessionError, match="decompression bomb"):
        load_session(path)


def test_pickled_weights_are_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
    path = archive_with(
        tmp_path / "pickle.spectral", one_weight_document(), {"weights/run0_0.npy": buffer.getvalue()}
    )
    with pytest.raises(SessionError, match="holds object values; allowed: float16, float32"):
        load_session(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (npy_with_header((4,), payload=bytes(16)), r"announces 32 bytes of data but the member holds 16"),
        (npy_with_header((4,), payload=bytes(48)), r"announces 32 bytes .* holds 48"),
        (npy_with_header((2, 2, 2), payload=bytes(64)), r"3 dimensions; at most 2"),
        (npy_with_header((4,), descr="<i8", payload=bytes(32)), r"holds int64 values"),
        (b"not an npy file at all", r"not a \.npy array"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", r"damaged \.npy header"),
        (npy_with_header((2,), payload=np.array([1.0, np.nan]).tobytes()), r"NaN or infinite"),
    ],
)
def test_damaged_weight_members_are_refused(tmp_path: Path, member: bytes, message: str) -> None:
    path = archive_with(tmp_path / "w.spectral", one_weight_document(), {"weights/run0_0.npy": member})
    with pytest.raises(SessionError, match=r"runs\[0\]\.weights\[0\]: .*" + message):
        load_session(path)


def test_weights_over_the_architectures_budget_are_refused(tmp_path: Path) -> None:
    # SMALL (16-8-4) holds at most 2·(16·8 + 8·4) + 16 + 8 + 2·(8 + 4) = 368 numbers per model
    # (its retracted form, fewer); a 2000-number array cannot belong to it.
    member = npy_with_header((2000,), payload=bytes(16_000))
    path = archive_with(tmp_path / "w.spectral", one_weight_document(), {"weights/run0_0.npy": member})
    with pytest.raises(SessionError, match=r"claims shape \(2000,\)"):
        load_session(path)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(VALID) - 1))
def test_truncated_session_is_refused(cut: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.spectral"
        path.write_bytes(VALID[:cut])
        with pytest.raises(SessionError):
            load_session(path)


@FUZZ
@given(
    position=st.integers(min_value=0, max_value=len(VALID) - 1),
    value=st.integers(min_value=0, max_value=255),
)
def test_corrupted_byte_loads_or_is_refused_cleanly(position: int, value: int) -> None:
    damaged = bytearray(VALID)
    damaged[position] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flip.spectral"
        path.write_bytes(bytes(damaged))
        try:
            session = load_session(path)
        except SessionError:
            return
        # A flip the checks cannot see (zip padding, a name's letter) still yields a valid session.
        assert session.architecture.problems() == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


BASE_DOCUMENT = document_of(VALID)
BASE_DOCUMENT["runs"][0]["weights"] = None
DOCUMENT_PATHS = paths_of(BASE_DOCUMENT)[1:]


@FUZZ
@given(
    where=st.sampled_from(DOCUMENT_PATHS),
    replacement=json_values,
    delete=st.booleans(),
)
def test_fuzzed_session_documents_load_or_raise_session_error(where, replacement, delete) -> None:
    document = copy.deepcopy(BASE_DOCUMENT)
    parent = document
    for step in where[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = replacement
    try:
        session = session_from_json(document)
    except SessionError as error:
        assert str(error).startswith("session: ")
        return
    assert session.architecture.problems() == []
    for run in session.runs:
        run.config.validate()


def test_one_member_referenced_many_times_is_refused(tmp_path: Path) -> None:
    # Otherwise a file holding one array could make the loader allocate it thousands of times.
    document = document_of(VALID)
    document["runs"][0]["weights"] = ["weights/run0_0.npy"] * 3
    with zipfile.ZipFile(io.BytesIO(VALID)) as source:
        member = source.read("weights/run0_0.npy")
    path = archive_with(tmp_path / "repeat.spectral", document, {"weights/run0_0.npy": member})
    with pytest.raises(SessionError, match=r"runs\[0\]\.weights\[1\]: member .* already used"):
        load_session(path)
