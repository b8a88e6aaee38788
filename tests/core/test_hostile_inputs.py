"""Hostile architecture JSON, data files (npz, IDX) and .keras files.

Each is refused with a clear message before any large allocation, and nothing in it executes.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectral_core.architecture import MAX_FILE_BYTES, Architecture, ArchitectureError
from spectral_core.data import MAX_SAMPLES, DataError, load_dataset, load_npz, read_idx

FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def peak_megabytes_while(action) -> float:
    tracemalloc.start()
    try:
        action()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 1024**2


# -- architecture JSON ----------------------------------------------------------------------
VALID_ARCHITECTURE = {
    "name": "net",
    "input_units": 784,
    "layers": [
        {"units": 100, "activation": "linear", "telescopic": True},
        {"units": 10, "activation": "softmax"},
    ],
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps(VALID_ARCHITECTURE)[:40].encode(), r"not valid JSON \(line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r"not a UTF-8 text file"),
        (b"[1, 2]", r"must be a JSON object, got list"),
        (b"{\"layers\": " + b"[" * 100_000 + b"]" * 100_000 + b"}", r"nested too deeply"),
        (
            json.dumps({**VALID_ARCHITECTURE, "layers": [{"units": 10**9}]}).encode(),
            r"layers\[0\]\.units: must be an integer from 1 to 100000, got 1000000000",
        ),
        (
            json.dumps({**VALID_ARCHITECTURE, "layers": [{"units": 5}] * 10_000}).encode(),
            r"layers: must hold 1 to 64 layers, got 10000",
        ),
        (
            json.dumps({**VALID_ARCHITECTURE, "__class__": "os.system"}).encode(),
            r"__class__: unknown field",
        ),
    ],
)
def test_bad_architecture_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "arch.json"
    path.write_bytes(content)
    with pytest.raises(ArchitectureError, match=message):
        Architecture.load(path)


def test_huge_architecture_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024**2)  # sparse: 50 MB claimed, nothing allocated

    def load() -> None:
        with pytest.raises(ArchitectureError, match=f"an architecture file is at most {MAX_FILE_BYTES}"):
            Architecture.load(path)

    assert peak_megabytes_while(load) < 5


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(
        st.sampled_from(["name", "input_units", "layers", "units", "activation", "telescopic",
                         "train_input_eigenvalues"]) | st.text(max_size=8),
        children,
        max_size=5,
    ),
    max_leaves=20,
)


@FUZZ
@given(document=json_values)
def test_fuzzed_architecture_documents_load_or_raise_architecture_error(document) -> None:
    try:
        architecture = Architecture.from_dict(document)
    except ArchitectureError as error:
        assert str(error)
        return
    assert architecture.problems() == []
    assert Architecture.from_json(architecture.to_json()) == architecture


@FUZZ
@given(
    layers=st.lists(
        st.fixed_dictionaries(
            {"units": st.integers(-5, 200_000) | st.floats() | st.text(max_size=3)},
            optional={
                "activation": st.sampled_from(["linear", "relu", "softmax", "gelu", ""]) | st.none(),
                "telescopic": st.booleans() | st.integers(0, 1),
            },
        ),
        max_size=6,
    ),
    input_units=st.integers(-3, 200_000),
)
def test_fuzzed_layer_lists_load_or_raise_architecture_error(layers, input_units) -> None:
    text = json.dumps({"name": "f", "input_units": input_units, "layers": layers})
    try:
        architecture = Architecture.from_json(text)
    except ArchitectureError as error:
        assert error.path == "" or error.path.split(".")[0].split("[")[0] in (
            "input_units", "layers", "name", "train_input_eigenvalues"
        )
        return
    assert architecture.validate() is architecture


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzzed_architecture_text_loads_or_raises_architecture_error(text: str) -> None:
    try:
        Architecture.from_json(text)
    except ArchitectureError:
        pass


# -- data files -----------------------------------------------------------------------------
def idx_file(path: Path, dims: tuple[int, ...], payload: bytes, dtype: int = 0x08) -> Path:
    path.write_bytes(bytes([0, 0, dtype, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload)
    return path


def test_idx_header_claiming_billions_of_images_is_refused(tmp_path: Path) -> None:
    # IDX dimensions are 32-bit, so 4·10⁹ images is the most a header can claim; 10¹² *bytes*
    # (10⁷ images of 10⁵ values) is claimed below.
    path = idx_file(tmp_path / "train-images-idx3-ubyte", (4_000_000_000, 28, 28), bytes(100))
    with pytest.raises(DataError, match=f"header claims 4000000000 items; at most {MAX_SAMPLES}"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_a_terabyte_is_refused_before_allocating(tmp_path, gz) -> None:
    name = "images-idx3-ubyte" + (".gz" if gz else "")
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10_000_000, 100, 1000) + bytes(100)
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if gz else raw)

    def load() -> None:
        with pytest.raises(DataError, match=r"header claims 1000000000000 bytes of data"):
            read_idx(path)

    assert peak_megabytes_while(load) < 5


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_larger_than_the_file_is_refused_before_allocating(tmp_path, gz) -> None:
    # 10⁶ 28×28 images = 784 MB claimed, 100 bytes present.
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 1_000_000, 28, 28) + bytes(100)
    path = tmp_path / ("images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)

    def load() -> None:
        with pytest.raises(DataError, match=r"truncated: header announces 784000000 bytes"):
            read_idx(path)

    assert peak_megabytes_while(load) < 50


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not an IDX file \(bad magic number\)"),
        (b"\x89PNG\r\n\x1a\n", r"not an IDX file"),
        (bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 2) + bytes(8), r"data type 0x0d unsupported"),
        (bytes([0, 0, 8, 9]), r"claims 9 dimensions; expected 1 to 4"),
        (bytes([0, 0, 8, 3]) + b"\x00\x00", r"truncated IDX header"),
        (bytes([0, 0, 8, 1]) + struct.pack(">I", 4) + bytes(9), r"longer than its header announces"),
        (bytes([0, 0, 8, 2]) + struct.pack(">2I", 2, 200_000) + bytes(10), r"values per item"),
    ],
)
def test_bad_idx_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_corrupt_gzip_idx_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 1000) + bytes(1000))
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="unreadable"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + bytes(30))
    with pytest.raises(DataError, match="unreadable"):
        read_idx(path)


def digits_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 20).astype(np.uint8),
        "x_test": rng.integers(0, 255, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5).astype(np.uint8),
    }


def npz_with(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype == object)
    return buffer.getvalue()


def test_valid_npz_still_loads(tmp_path: Path) -> None:
    arrays = digits_arrays()
    path = npz_with(tmp_path / "ok.npz", {k: npy_bytes(v) for k, v in arrays.items()})
    dataset = load_npz(path)
    np.testing.assert_array_equal(dataset.y_train, arrays["y_train"].astype(np.int64))
    np.testing.assert_allclose(dataset.x_test * 255, arrays["x_test"].reshape(5, -1), atol=1e-4)


def test_npz_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path: Path) -> None:
    members = {k: npy_bytes(v) for k, v in digits_arrays().items()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**7, 100_000)}
    )
    members["x_train"] = header.getvalue() + bytes(100)
    path = npz_with(tmp_path / "lying.npz", members)

    def load() -> None:
        with pytest.raises(DataError, match=r"x_train\.npy claims shape \(10000000, 100000\)"):
            load_npz(path)

    assert peak_megabytes_while(load) < 5


def test_npz_decompression_bomb_is_refused(tmp_path: Path) -> None:
    members = {k: npy_bytes(v) for k, v in digits_arrays().items()}
    members["x_train"] = npy_bytes(np.zeros((60_000, 784), np.uint8))  # 47 MB of zeros
    path = npz_with(tmp_path / "bomb.npz", members, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1024**2
    with pytest.raises(DataError, match="decompression bomb"):
        load_npz(path)


def test_pickled_npz_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    members = {k: npy_bytes(v) for k, v in digits_arrays().items()}
    members["y_train"] = npy_bytes(np.array([Payload()] * 20, dtype=object))
    path = npz_with(tmp_path / "pickle.npz", members)
    with pytest.raises(DataError, match=r"y_train\.npy holds object values"):
        load_npz(path)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [10, 200, 1000, 3000])
def test_truncated_npz_is_refused(tmp_path: Path, cut: int) -> None:
    path = npz_with(tmp_path / "ok.npz", {k: npy_bytes(v) for k, v in digits_arrays().items()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    with pytest.raises(DataError):
        load_npz(path)


def test_npz_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.npz"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_dataset(path)
    arrays = digits_arrays()
    del arrays["y_test"]
    path = npz_with(tmp_path / "missing.npz", {k: npy_bytes(v) for k, v in arrays.items()})
    with pytest.raises(DataError, match="missing array"):
        load_dataset(path)


@FUZZ
@given(position=st.integers(0, 10_000), value=st.integers(0, 255))
def test_npz_with_a_corrupted_byte_loads_or_is_refused(tmp_path_factory, position, value) -> None:
    folder = tmp_path_factory.mktemp("npz")
    path = npz_with(folder / "x.npz", {k: npy_bytes(v) for k, v in digits_arrays().items()})
    data = bytearray(path.read_bytes())
    data[position % len(data)] = value
    path.write_bytes(bytes(data))
    try:
        dataset = load_npz(path)
    except DataError:
        return
    assert dataset.x_train.shape[1] == dataset.x_test.shape[1]


# -- .keras model files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory) -> Path:
    from spectral_core.build import build_model
    from spectral_core.export import save_model

    architecture = Architecture.from_dict(
        {"name": "m", "input_units": 6, "layers": [{"units": 4, "activation": "softmax"}]}
    )
    path = tmp_path_factory.mktemp("models") / "small.keras"
    save_model(build_model(architecture, "direct-full"), path)
    return path


def rewrite_config(source: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def test_keras_files_that_are_not_models_are_refused(tmp_path: Path, small_model_file) -> None:
    from spectral_core.export import ModelFileError, load_model

    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(tmp_path / "text.keras")
    data = small_model_file.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.keras"):
        load_model(tmp_path / "cut.keras")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("session.json", "{}")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(tmp_path / "other.keras")
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.keras")


def test_keras_layer_of_a_billion_units_is_refused_before_building(
    tmp_path: Path, small_model_file
) -> None:
    from spectral_core.export import ModelFileError, load_model

    def widen(config: dict) -> None:
        config["config"]["layers"][1]["config"]["units"] = 10**9

    path = rewrite_config(small_model_file, tmp_path / "wide.keras", widen)
    with pytest.raises(ModelFileError, match="a layer's units is 1000000000; allowed: 1 to 100000"):
        load_model(path)

    def forge(config: dict) -> None:
        config["config"]["layers"][1]["config"]["units"] = 90_000

    path = rewrite_config(small_model_file, tmp_path / "forged.keras", forge)

    def load() -> None:
        with pytest.raises(ModelFileError, match="claim 540000 weights but the file holds only"):
            load_model(path)

    assert peak_megabytes_while(load) < 20


def test_keras_config_bomb_is_refused(tmp_path: Path) -> None:
    from spectral_core.export import ModelFileError, load_model

    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (20 * 1024**2))
    with pytest.raises(ModelFileError, match="decompression bomb"):
        load_model(path)


def write_lambda_model(path: Path, marker: Path) -> None:
    import keras

    # The lambda's byte code is stored in the file; running it creates the marker file.
    function = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(function, output_shape=(4,))(inputs)).save(path)


def test_lambda_layer_model_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    import keras

    from spectral_core.export import ModelFileError, load_model

    marker = tmp_path / "code_ran"
    path = tmp_path / "lambda.keras"
    write_lambda_model(path, marker)
    assert not marker.exists()
    with pytest.raises(ModelFileError, match="Lambda"):
        load_model(path)
    assert not marker.exists()
    # Control: the file really carries code that runs once a model is built from it unsafely.
    unsafe = keras.models.load_model(path, safe_mode=False)
    unsafe.predict(np.zeros((1, 4), np.float32), verbose=0)
    assert marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"module": "os", "class_name": "system", "config": "touch {marker}"},
        {"module": "builtins", "class_name": "exec", "config": "open({marker!r}, 'w')"},
        {"module": "subprocess", "class_name": "run", "config": {"args": ["touch", "{marker}"]}},
    ],
    ids=["os.system", "builtins.exec", "subprocess.run"],
)
def test_arbitrary_callables_in_keras_config_are_refused_and_never_run(
    tmp_path: Path, small_model_file, payload
) -> None:
    from spectral_core.export import ModelFileError, load_model

    marker = tmp_path / "code_ran"
    filled = json.loads(json.dumps(payload).replace("{marker}", str(marker)).replace(
        "{marker!r}", repr(str(marker))))

    def inject(config: dict) -> None:
        layer = config["config"]["layers"][1]
        layer.update({**filled, "registered_name": None})

    path = rewrite_config(small_model_file, tmp_path / "evil.keras", inject)
    with pytest.raises(ModelFileError, match="evil.keras: "):
        load_model(path)
    top = tmp_path / "evil_top.keras"
    rewrite_config(small_model_file, top, lambda c: (c.clear(), c.update(filled)))
    with pytest.raises(ModelFileError, match="evil_top.keras: "):
        load_model(top)
    assert not marker.exists()


GZIP_IDX = gzip.compress(
    bytes([0, 0, 8, 1]) + struct.pack(">I", 3000) + np.random.default_rng(7).bytes(3000), mtime=0
)


@FUZZ
@given(position=st.integers(0, len(GZIP_IDX) - 1), value=st.integers(0, 255))
def test_gzip_idx_with_a_corrupted_byte_loads_or_is_refused(tmp_path_factory, position, value) -> None:
    # Found by this fuzzing: a damaged deflate stream raised zlib.error, not a DataError.
    damaged = bytearray(GZIP_IDX)
    damaged[position] = value
    path = tmp_path_factory.mktemp("idx") / "labels-idx1-ubyte.gz"
    path.write_bytes(bytes(damaged))
    try:
        labels = read_idx(path)
    except DataError:
        return
    assert labels.shape == (3000,)


def test_gzip_idx_with_a_broken_deflate_block_is_refused(tmp_path: Path) -> None:
    damaged = bytearray(GZIP_IDX)
    damaged[10] = 0x00  # the first deflate block becomes a stored block with bad lengths
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="unreadable .*invalid stored block lengths"):
        read_idx(path)
