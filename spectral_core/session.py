"""Session files: the architecture, settings and runs of a lab session, with run weights.

A session file (``*.spectral``) is a zip archive holding

* ``session.json``: ``format_version``, the current architecture, regime, training settings and
  data set, and every run's record (:class:`spectral_core.record.RunRecord`): metadata,
  per-epoch metrics, retraction state and report, and the member names of its arrays;
* ``weights/run<i>_<j>.npy``: the weights of run ``i`` (``model.get_weights()`` order);
* ``analysis/run<i>_<j>.npy``: what the plots draw for run ``i`` — per-batch points, the
  eigenvalues per epoch and layer, the weight histograms and their history over epochs;

all stored as plain ``.npy`` arrays that are read without pickle.

Loading checks ``session.json`` against its declared format
(:class:`spectral_core.formats.SessionFormat`: unknown keys and wrong types are refused with the
field's path) and refuses corrupt, huge or hostile content with a :class:`SessionError` *before*
anything large is allocated: zip member sizes and every ``.npy`` header (dtype, shape) are
checked against the run's architecture before the array bytes are read.
Files written by older versions load through :data:`MIGRATIONS`; newer ones are refused.
Saving is atomic (temp file + rename, see :mod:`spectral_core.files`).
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from spectral_core.architecture import Architecture
from spectral_core.config import LEGACY_INITIALIZATION_NAMES, TrainingConfig
from spectral_core.errors import SpectralLabError
from spectral_core.files import atomic_path
from spectral_core.formats import (
    SESSION_FORMAT_VERSION,
    AnalysisFormat,
    EigenvaluesFormat,
    FormatErrors,
    HistogramFormat,
    ReportFormat,
    RunFormat,
    SessionFormat,
    parse,
)
from spectral_core.record import Histogram, RetractionReport, RunRecord
from spectral_core.safe_arrays import ArrayFileError, read_npy_member

SESSION_SUFFIX = ".spectral"
FORMAT_VERSION = SESSION_FORMAT_VERSION
SESSION_JSON = "session.json"
# Bounds that no real session comes near; they keep a hostile file from exhausting memory (the
# document's own bounds, such as the number of runs, are in spectral_core.formats).
MAX_JSON_BYTES = 64 * 1024**2
MAX_MEMBERS = 200_000
MAX_WEIGHT_BYTES = 8 * 1024**3
WEIGHT_DTYPES = ("float16", "float32", "float64")
ANALYSIS_DTYPES = ("float16", "float32", "float64", "int32", "int64")
MAX_ANALYSIS_BYTES = 2 * 1024**3  # per file; a 784-800-120-10 run of 100 epochs needs ~60 MB
EIGEN_KEYS = ("eigvals_in", "eigvals_out")
REPORT_INTEGERS = ("trainable_before", "total_before", "total_after", "layers_before", "layers_after")
REPORT_NUMBERS = ("accuracy_before", "accuracy_after", "max_abs_difference")


class SessionError(SpectralLabError):
    """A session file cannot be read or written; the message names the file and the field."""


@dataclass
class Session:
    """Everything the user has set up and run; what save/open and autosave store."""

    architecture: Architecture
    regime: str
    config: TrainingConfig
    dataset: str
    runs: list[RunRecord] = field(default_factory=list)


# -- writing ------------------------------------------------------------------------------
def _number_to_json(value: float) -> float | None:
    """JSON has no NaN/inf; non-finite metrics are stored as null."""
    number = float(value)
    return number if math.isfinite(number) else None


def _weights_name(run_index: int, array_index: int) -> str:
    return f"weights/run{run_index}_{array_index}.npy"


class _Members:
    """Names the analysis arrays of one run as they are added (``analysis/run<i>_<j>.npy``)."""

    def __init__(self, run_index: int, arrays: list[tuple[str, np.ndarray]]) -> None:
        self.run_index = run_index
        self.arrays = arrays
        self.count = 0

    def add(self, array: np.ndarray) -> str:
        name = f"analysis/run{self.run_index}_{self.count}.npy"
        self.count += 1
        self.arrays.append((name, np.asarray(array)))
        return name


def _histograms_to_json(histograms: dict[str, Histogram], members: _Members) -> dict[str, Any]:
    return {
        str(layer): {"counts": members.add(counts), "edges": members.add(edges)}
        for layer, (counts, edges) in histograms.items()
    }


def _analysis_to_json(run: RunRecord, members: _Members) -> dict[str, Any]:
    """The plots' data of ``run``: arrays become members, named in the returned document.

    Eigenvalues are stacked per layer into (epochs × nodes) matrices, one member each.
    """
    layers: dict[str, dict[str, str]] = {}
    if run.eigen_history:
        for layer in run.eigen_history[0][1]:
            layers[str(layer)] = {
                key: members.add(np.stack([np.asarray(values[layer][key]) for _, values in run.eigen_history]))
                for key in EIGEN_KEYS
            }
    return {
        "batch_points": members.add(np.asarray(run.batch_points, dtype=np.float64)),
        "eigenvalues": {"labels": [label for label, _ in run.eigen_history], "layers": layers},
        "histograms": _histograms_to_json(run.histograms, members),
        "histogram_history": _histograms_to_json(run.histogram_history, members),
        "compact_histograms": _histograms_to_json(run.compact_histograms, members),
    }


def _report_to_json(report: RetractionReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    document: dict[str, Any] = {key: int(getattr(report, key)) for key in REPORT_INTEGERS}
    document.update({key: _number_to_json(getattr(report, key)) for key in REPORT_NUMBERS})
    return document


def _run_to_json(run: RunRecord, index: int, members: _Members) -> dict[str, Any]:
    weights = None
    if run.weights is not None:
        weights = [_weights_name(index, position) for position in range(len(run.weights))]
    return {
        "name": run.name,
        "architecture": run.architecture.to_dict(),
        "regime": run.regime,
        "config": run.config.to_dict(),
        "dataset": run.dataset,
        "history": [
            {str(key): _number_to_json(value) for key, value in row.items()} for row in run.history
        ],
        "test_accuracy": _number_to_json(run.test_accuracy),
        "test_loss": _number_to_json(run.test_loss),
        "retracted": bool(run.retracted),
        "ended": run.ended,
        "weights": weights,
        "stopped": bool(run.stopped),
        "diverged": bool(run.diverged),
        "continued_from": run.continued_from,
        "seconds": _number_to_json(run.seconds),
        "report": _report_to_json(run.report),
        "analysis": _analysis_to_json(run, members),
    }


def session_to_json(
    session: Session, analysis: list[tuple[str, np.ndarray]] | None = None
) -> dict[str, Any]:
    """The ``session.json`` document of ``session`` (arrays referenced by member name).

    The analysis arrays named in the document are appended to ``analysis`` (member, array).
    """
    analysis = [] if analysis is None else analysis
    return {
        "format_version": FORMAT_VERSION,
        "application": "spectral-lab",
        "architecture": session.architecture.to_dict(),
        "regime": session.regime,
        "config": session.config.to_dict(),
        "dataset": session.dataset,
        "runs": [
            _run_to_json(run, index, _Members(index, analysis)) for index, run in enumerate(session.runs)
        ],
    }


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def save_session(path: str | os.PathLike[str], session: Session) -> None:
    """Write ``session`` to ``path`` atomically: a failure leaves any previous file intact.

    Raises :class:`spectral_core.files.WriteError` (an ``OSError``) when the disk or folder
    refuses the write, :class:`SessionError` when the session itself cannot be stored.
    """
    analysis: list[tuple[str, np.ndarray]] = []
    try:
        document = session_to_json(session, analysis)
        text = json.dumps(document, indent=1, allow_nan=False)
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        raise SessionError(f"cannot save session: {error}") from None
    for name, array in analysis:
        if array.dtype.name not in ANALYSIS_DTYPES or array.ndim > 2:
            raise SessionError(
                f"cannot save session: {name} holds a {array.ndim}-d {array.dtype} array; "
                f"allowed: at most 2-d {', '.join(ANALYSIS_DTYPES)}"
            )
    arrays: list[tuple[str, np.ndarray]] = []
    for index, run in enumerate(session.runs):
        for position, weight in enumerate(run.weights or []):
            array = np.asarray(weight)
            if array.dtype.name not in WEIGHT_DTYPES:
                raise SessionError(
                    f"cannot save session: runs[{index}].weights[{position}] has dtype "
                    f"{array.dtype}; allowed: {', '.join(WEIGHT_DTYPES)}"
                )
            arrays.append((_weights_name(index, position), array))
    with atomic_path(path) as temp:
        with zipfile.ZipFile(temp, "w") as archive:
            archive.writestr(SESSION_JSON, text, compress_type=zipfile.ZIP_DEFLATED)
            # Weights barely compress; storing them keeps saves fast (autosave runs each epoch).
            for name, array in arrays:
                archive.writestr(name, _npy_bytes(array), compress_type=zipfile.ZIP_STORED)
            for name, array in analysis:  # histogram counts compress well
                archive.writestr(name, _npy_bytes(array), compress_type=zipfile.ZIP_DEFLATED)


# -- reading ------------------------------------------------------------------------------
class _Reader:
    """Names the file and the field in every error about a session's arrays."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> SessionError:
        return SessionError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")


def _number(value: float | None) -> float:
    """A stored metric; null means 'not available' (NaN)."""
    return math.nan if value is None else float(value)


@dataclass
class _Spent:
    """What the weights read so far have used, across all runs of one file."""

    bytes: int = 0
    analysis_bytes: int = 0
    members: set[str] = field(default_factory=set)


def _weight_budget(architecture: Architecture) -> int:
    """Most numbers a model of ``architecture`` can hold in any regime, full or retracted.

    Per layer: φ or a kernel (n_in·n_out), a second kernel-sized array (direct-subset keeps a
    frozen kernel beside its trained values), λ_in (n_in), λ_out and a bias (n_out each).
    """

    def budget(arch: Architecture) -> int:
        widths = arch.widths
        return sum(
            2 * n_in * n_out + n_in + 2 * n_out for n_in, n_out in zip(widths, widths[1:], strict=False)
        )

    return max(budget(architecture), budget(architecture.retracted()))


def _read_weights(
    archive: zipfile.ZipFile,
    names: list[str],
    architecture: Architecture,
    reader: _Reader,
    where: str,
    spent: _Spent,
) -> list[np.ndarray]:
    if len(names) > 4 * len(architecture.layers) + 4:
        raise reader.fail(
            where, f"lists {len(names)} arrays; a {len(architecture.layers)}-layer model has fewer"
        )
    budget = _weight_budget(architecture)
    used = 0
    arrays = []
    for position, name in enumerate(names):
        item_where = f"{where}[{position}]"
        if name in spent.members:
            # Each array is stored once; many references to one member would multiply memory.
            raise reader.fail(item_where, f"member {name!r} is already used by another weight")
        spent.members.add(name)
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise reader.fail(item_where, f"member {name!r} is missing from the archive") from None
        remaining_elements = budget - used
        remaining_bytes = MAX_WEIGHT_BYTES - spent.bytes
        try:
            array = read_npy_member(
                archive,
                info,
                dtypes=WEIGHT_DTYPES,
                max_ndim=2,
                max_elements=remaining_elements,
                max_bytes=remaining_bytes,
            )
        except ArrayFileError as error:
            raise reader.fail(
                item_where,
                f"{error} (the run's architecture allows {budget} numbers in all)",
            ) from None
        if not np.all(np.isfinite(array)):
            raise reader.fail(item_where, "holds NaN or infinite values")
        used += array.size
        spent.bytes += array.nbytes
        arrays.append(array)
    return arrays


class _AnalysisReader:
    """Reads one run's analysis arrays, checking names, dtypes, shapes and the byte budget."""

    def __init__(self, archive: zipfile.ZipFile | None, reader: _Reader, spent: _Spent) -> None:
        self.archive = archive
        self.reader = reader
        self.spent = spent

    def array(self, name: str, where: str, ndim: int) -> np.ndarray:
        reader = self.reader
        if self.archive is None:
            raise reader.fail(where, "a plain JSON session cannot hold arrays")
        if name in self.spent.members:
            raise reader.fail(where, f"member {name!r} is already used by another array")
        self.spent.members.add(name)
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise reader.fail(where, f"member {name!r} is missing from the archive") from None
        remaining = MAX_ANALYSIS_BYTES - self.spent.analysis_bytes
        try:
            array = read_npy_member(
                self.archive, info, dtypes=ANALYSIS_DTYPES, max_ndim=ndim,
                max_elements=remaining // 2, max_bytes=remaining,
            )
        except ArrayFileError as error:
            raise reader.fail(where, str(error)) from None
        if array.ndim != ndim:
            raise reader.fail(where, f"must be a {ndim}-d array, got shape {array.shape}")
        self.spent.analysis_bytes += array.nbytes
        return array

    def histograms(
        self, stored: dict[str, HistogramFormat], where: str, rows: bool
    ) -> dict[str, Histogram]:
        """Per layer (counts, edges); counts are 1-d, or epochs × bins when ``rows``."""
        found = {}
        for layer, item in stored.items():
            item_where = f"{where}.{layer}"
            counts = self.array(item.counts, f"{item_where}.counts", 2 if rows else 1)
            edges = self.array(item.edges, f"{item_where}.edges", 1)
            if len(edges) != counts.shape[-1] + 1:
                raise self.reader.fail(
                    item_where, f"needs one more edge than bins, got {len(edges)} edges for {counts.shape[-1]} bins"
                )
            found[layer] = (counts, edges)
        return found

    def eigenvalues(
        self, stored: EigenvaluesFormat, where: str
    ) -> list[tuple[str, dict[str, dict[str, np.ndarray]]]]:
        per_layer: dict[str, dict[str, np.ndarray]] = {}
        for layer, item in stored.layers.items():
            item_where = f"{where}.layers.{layer}"
            per_layer[layer] = {}
            for key in EIGEN_KEYS:
                matrix = self.array(getattr(item, key), f"{item_where}.{key}", 2)
                if len(matrix) != len(stored.labels):
                    raise self.reader.fail(
                        f"{item_where}.{key}", f"has {len(matrix)} rows for {len(stored.labels)} epochs"
                    )
                per_layer[layer][key] = matrix
        return [
            (label, {layer: {key: per_layer[layer][key][row] for key in EIGEN_KEYS} for layer in per_layer})
            for row, label in enumerate(stored.labels)
        ]

    def read(self, stored: AnalysisFormat, where: str) -> dict[str, Any]:
        """The record fields of one run's ``analysis`` document."""
        points = self.array(stored.batch_points, f"{where}.batch_points", 2)
        if points.shape[1] != 3:
            raise self.reader.fail(f"{where}.batch_points", f"must have 3 columns, got shape {points.shape}")
        return {
            "batch_points": points.astype(np.float64),
            "eigen_history": self.eigenvalues(stored.eigenvalues, f"{where}.eigenvalues"),
            "histograms": self.histograms(stored.histograms, f"{where}.histograms", rows=False),
            "histogram_history": self.histograms(
                stored.histogram_history, f"{where}.histogram_history", rows=True
            ),
            "compact_histograms": self.histograms(
                stored.compact_histograms, f"{where}.compact_histograms", rows=True
            ),
        }


def _report(stored: ReportFormat | None) -> RetractionReport | None:
    if stored is None:
        return None
    values = stored.model_dump()
    return RetractionReport(
        **{key: values[key] for key in REPORT_INTEGERS},
        **{key: _number(values[key]) for key in REPORT_NUMBERS},
    )


def _config(stored: BaseModel) -> TrainingConfig:
    return TrainingConfig(**stored.model_dump())


def _read_run(
    run: RunFormat, index: int, archive: zipfile.ZipFile | None, reader: _Reader, spent: _Spent
) -> RunRecord:
    where = f"runs[{index}]"
    architecture = run.architecture.to_architecture()
    weights = None
    if run.weights is not None:
        if archive is None:
            raise reader.fail(f"{where}.weights", "a plain JSON session cannot hold weights")
        weights = _read_weights(archive, run.weights, architecture, reader, f"{where}.weights", spent)
    record = RunRecord(
        name=run.name,
        architecture=architecture,
        regime=run.regime,
        config=_config(run.config),
        dataset=run.dataset,
        history=[{key: _number(value) for key, value in row.items()} for row in run.history],
        test_accuracy=_number(run.test_accuracy),
        test_loss=_number(run.test_loss),
        weights=weights,
        retracted=run.retracted,
        ended=run.ended,
        stopped=run.stopped,
        diverged=run.diverged,
        continued_from=run.continued_from,
        seconds=_number(run.seconds),
        report=_report(run.report),
    )
    if run.analysis is not None:
        for name, value in _AnalysisReader(archive, reader, spent).read(run.analysis, f"{where}.analysis").items():
            setattr(record, name, value)
    return record


def session_from_json(
    document: Any, source: str = "session", archive: zipfile.ZipFile | None = None
) -> Session:
    """Check a current-version ``session.json`` document (:class:`spectral_core.formats.
    SessionFormat`, then the arrays it names in ``archive``) and build the :class:`Session`."""
    try:
        stored = parse(SessionFormat, document, "session")
    except FormatErrors as errors:
        raise SessionError(f"{source}: {errors.first}"[:1000]) from None
    reader = _Reader(source)
    spent = _Spent()
    return Session(
        architecture=stored.architecture.to_architecture(),
        regime=stored.regime,
        config=_config(stored.config),
        dataset=stored.dataset,
        runs=[_read_run(run, index, archive, reader, spent) for index, run in enumerate(stored.runs)],
    )


# -- versions -----------------------------------------------------------------------------
def migrate_v0(document: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (a plain JSON file, no weights) to version 1.

    v0 called the training settings ``settings`` and the per-epoch rows ``epochs``, and marked
    its version as ``"version": 0``; its runs carried no weights, retraction flag or end note.
    """

    def run(old: Any) -> Any:
        if not isinstance(old, dict):
            return old  # the v1 checks report it with its path
        new = {key: value for key, value in old.items() if key not in ("settings", "epochs")}
        new["config"] = old.get("settings", {})
        new["history"] = old.get("epochs", [])
        new.setdefault("retracted", False)
        new.setdefault("ended", "")
        new["weights"] = None
        return new

    new = {
        key: value for key, value in document.items() if key not in ("version", "settings", "runs")
    }
    new["format_version"] = 1
    new["config"] = document.get("settings", {})
    runs = document.get("runs", [])
    new["runs"] = [run(item) for item in runs] if isinstance(runs, list) else runs
    return new


def migrate_v1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 to version 2: initialization schemes renamed.

    Up to version 1 ``paper`` named the article's text values (φ ~ U(−0.5, 0.5),
    λ_out ~ U(−0.01, 0.01)), now ``paper-text``; ``paper`` is now the authors' code. A config
    without the field predates it and was built with the text's values too.
    """

    def config(old: Any) -> Any:
        if not isinstance(old, dict):
            return old  # the checks that follow report it with its path
        name = old.get("initialization", "paper")
        renamed = LEGACY_INITIALIZATION_NAMES.get(name, name) if isinstance(name, str) else name
        return {**old, "initialization": renamed}

    new = {**document, "format_version": 2}
    if "config" in document:
        new["config"] = config(document["config"])
    runs = document.get("runs")
    if isinstance(runs, list):
        new["runs"] = [
            {**run, "config": config(run["config"])} if isinstance(run, dict) and "config" in run else run
            for run in runs
        ]
    return new


def migrate_v2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 to version 3: runs gain their analysis (what the plots draw), retraction
    report, wall time, stop/divergence flags and ``continued_from``. Version 2 kept none of
    them, so they start empty."""

    def run(old: Any) -> Any:
        if not isinstance(old, dict):
            return old  # the checks that follow report it with its path
        # Whatever a version-2 file says under these names, version 2 did not write them.
        return {
            **old, "continued_from": "", "stopped": False, "diverged": False, "seconds": None,
            "report": None, "analysis": None,
        }

    new = {**document, "format_version": 3}
    runs = document.get("runs")
    if isinstance(runs, list):
        new["runs"] = [run(item) for item in runs]
    return new


# Each entry turns version ``key`` into version ``key + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: migrate_v0,
    1: migrate_v1,
    2: migrate_v2,
}


def document_version(document: dict[str, Any]) -> Any:
    """The format version of a session document (0 before versions were written)."""
    if "format_version" in document:
        return document["format_version"]
    return document.get("version", 0)


def migrate(document: dict[str, Any], source: str = "session") -> dict[str, Any]:
    """Bring ``document`` up to :data:`FORMAT_VERSION`, refusing newer or unknown versions."""
    version = document_version(document)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise SessionError(f"{source}: format_version: must be a whole number, got {version!r}"[:300])
    if version > FORMAT_VERSION:
        raise SessionError(
            f"{source}: this session was saved by a newer Spectral Lab (file format "
            f"{version}; this version reads formats up to {FORMAT_VERSION}). Update Spectral Lab "
            "to open it."
        )
    while version < FORMAT_VERSION:
        document = MIGRATIONS[version](document)
        version = document_version(document)
    return document


def _parse_json(raw: bytes, source: str) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SessionError(f"{source}: session.json is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SessionError(
            f"{source}: session.json is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg})"
        ) from None
    except RecursionError:
        raise SessionError(f"{source}: session.json is nested too deeply") from None
    if not isinstance(document, dict):
        raise SessionError(f"{source}: session.json must hold an object, got {type(document).__name__}")
    return document


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a session file (or a version-0 plain JSON session); raise :class:`SessionError`."""
    file = Path(path)
    source = str(file)
    try:
        size = file.stat().st_size
        if not file.is_file():
            raise SessionError(f"{source}: not a file")
    except OSError as error:
        raise SessionError(f"{source}: cannot read: {error.strerror or error}") from None
    try:
        if not zipfile.is_zipfile(file):
            return _load_plain_json(file, size, source)
        with zipfile.ZipFile(file) as archive:
            return _load_archive(archive, source)
    except SessionError:
        raise
    except (
        OSError, EOFError, RuntimeError, ValueError, NotImplementedError, struct.error, zlib.error,
        zipfile.BadZipFile, zipfile.LargeZipFile,
    ) as error:
        # Truncated or damaged archives: CRC mismatches (BadZipFile), broken deflate streams
        # (zlib.error), unknown compression methods (NotImplementedError), bad header fields.
        raise SessionError(f"{source}: damaged or truncated session file ({error})"[:500]) from None


def _load_plain_json(file: Path, size: int, source: str) -> Session:
    if size > MAX_JSON_BYTES:
        raise SessionError(f"{source}: {size} bytes is not a session file (not a zip archive)")
    raw = file.read_bytes()
    if raw[:1] not in (b"{", b" ", b"\n", b"\r", b"\t"):
        raise SessionError(
            f"{source}: not a Spectral Lab session (neither a {SESSION_SUFFIX} archive nor JSON)"
        )
    document = _parse_json(raw, source)
    return session_from_json(migrate(document, source), source, archive=None)


def _load_archive(archive: zipfile.ZipFile, source: str) -> Session:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise SessionError(f"{source}: {len(members)} archive members; at most {MAX_MEMBERS}")
    try:
        info = archive.getinfo(SESSION_JSON)
    except KeyError:
        raise SessionError(
            f"{source}: not a Spectral Lab session (the archive has no {SESSION_JSON})"
        ) from None
    if info.file_size > MAX_JSON_BYTES:
        raise SessionError(
            f"{source}: {SESSION_JSON} claims {info.file_size} bytes; at most {MAX_JSON_BYTES}"
        )
    with archive.open(info) as stream:
        raw = stream.read(MAX_JSON_BYTES + 1)
    document = migrate(_parse_json(raw, source), source)
    return session_from_json(document, source, archive=archive)
