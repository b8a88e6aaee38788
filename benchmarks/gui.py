"""The GUI half of ``spectral-lab bench`` (issue 5), run as ``python -m benchmarks.gui JSON``.

It drives the real :class:`MainWindow` (no math here: every run is ``spectral_core``'s) and
prints one JSON line: launch-to-window time of fresh ``spectral-lab gui`` processes, the time of
the same training run from the GUI (live plots on) and headless, and the largest gap between
ticks of a 10 ms timer on the GUI thread while a run is going. ``benchmarks.bench`` runs it
in a subprocess under ``QT_QPA_PLATFORM=offscreen``, so Qt never enters the library.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

TICK_MS = 10
LAUNCHES = 3


def isolated_environment(home: str) -> dict[str, str]:
    """Settings, autosave and caches of the measured app go to ``home``, not the user's."""
    return dict(
        os.environ,
        HOME=home,
        XDG_CONFIG_HOME=f"{home}/config",
        XDG_DATA_HOME=f"{home}/data",
        XDG_CACHE_HOME=f"{home}/cache",
        SPECTRAL_LAB_HOME=home,
        SPECTRAL_LAB_RECOVER="discard",
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )


def launch_child(wait_for_tensorflow: bool) -> None:
    """Inside a fresh process: run ``spectral-lab gui`` and report when the window shows
    (and, when asked, when TensorFlow has loaded behind it)."""
    app = QApplication(sys.argv[:1])
    seen: dict[str, float] = {}

    def poll() -> None:
        window = next(
            (w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow" and w.isVisible()),
            None,
        )
        if window is None:
            return
        seen.setdefault("window", time.time())
        if not wait_for_tensorflow:
            print(json.dumps(seen), flush=True)
            os._exit(0)  # the loader thread is still importing TensorFlow: no clean close
        if window.tensorflow_ready and "tensorflow" not in seen:
            seen["tensorflow"] = time.time()
            print(json.dumps(seen), flush=True)
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(5)
    from spectral_core.cli import main

    main(["gui"])


def measure_launch(launches: int, wait_for_tensorflow: bool) -> dict[str, float]:
    """Median seconds from process start to window shown (and to TensorFlow ready)."""
    windows, tensorflows = [], []
    for _ in range(launches):
        with tempfile.TemporaryDirectory() as home:
            started = time.time()
            completed = subprocess.run(
                [sys.executable, "-m", "benchmarks.gui", "--launch-child",
                 "wait" if wait_for_tensorflow else "window"],
                capture_output=True, text=True, timeout=300, env=isolated_environment(home),
            )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"the app did not report its window: {completed.stderr[-500:]}")
        seen = json.loads(lines[-1])
        windows.append(seen["window"] - started)
        tensorflows.append(seen.get("tensorflow", float("nan")) - started)
    return {
        "launch_seconds": statistics.median(windows),
        "launch_best": min(windows),
        "tensorflow_seconds": statistics.median(tensorflows),
    }


def wait_until(app: QApplication, condition: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("timed out waiting for the window")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


class GapMeter:
    """Intervals between ticks of a 10 ms timer on the GUI thread, while armed.

    Each gap is kept with the time it ended, so it can be told apart whether the GUI thread was
    blocked while the fit loop ran or afterwards, while the finished run was being shown.
    """

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.gaps: list[tuple[float, float]] = []  # (end time, length) in seconds
        self.fit_ends: list[float] = []  # when each measured run's fit loop returned
        # A plain Python thread ticking beside the GUI: if it sees the same gaps, the GUI thread
        # was waiting for the GIL (or the process for a core), not busy in its own code.
        self.probe_largest = 0.0
        self._probing = threading.Event()

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()
        self._probing.set()
        threading.Thread(target=self._probe, daemon=True).start()

    def stop(self) -> None:
        self._tick()
        self.timer.stop()
        self.last = None
        self._probing.clear()

    def _probe(self) -> None:
        last = time.perf_counter()
        while self._probing.is_set():
            time.sleep(TICK_MS / 1000)
            now = time.perf_counter()
            self.probe_largest = max(self.probe_largest, now - last)
            last = now

    def mark_fit_end(self, *_: Any) -> None:
        self.fit_ends.append(time.perf_counter())

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append((now, now - self.last))
        self.last = now

    @property
    def largest(self) -> float:
        return max((length for _, length in self.gaps), default=0.0)

    def per_run_largest(self, runs: list[tuple[float, float]]) -> list[float]:
        """The largest gap of each run, given each run's (start, end), in seconds."""
        return [
            max((length for end, length in self.gaps if start <= end <= stop), default=0.0)
            for start, stop in runs
        ]

    def largest_split(self, runs: list[tuple[float, float]]) -> dict[str, float]:
        """Largest gap during the fit loops and after them, given each run's (start, end), and
        where in its run the largest one began (seconds after Train, and the run's length)."""
        found = {"during": 0.0, "after": 0.0, "at": float("nan"), "of": float("nan")}
        for end, length in self.gaps:
            for (start, stop), fit_end in zip(runs, self.fit_ends, strict=False):
                if start <= end <= stop:
                    phase = "during" if end - length < fit_end else "after"
                    found[phase] = max(found[phase], length)
                    if length >= self.largest:
                        found["at"], found["of"] = end - length - start, stop - start
        return found


def gui_run(app: QApplication, window: Any, meter: GapMeter | None) -> float:
    """Press Train and wait for the run to finish; seconds from the press to the result shown."""
    loop = QEventLoop()
    finished: list[float] = []

    def on_finished() -> None:
        finished.append(time.perf_counter())
        loop.quit()

    window.runFinished.connect(on_finished)
    watchdog = QTimer()
    watchdog.timeout.connect(lambda: loop.quit() if not window.is_training else None)
    if meter is not None:
        meter.start()
    started = time.perf_counter()
    window.start_training()
    if not window.is_training:
        raise RuntimeError("the window refused to start the run")
    if meter is not None:
        window.training.trainingEnded.connect(meter.mark_fit_end)
    watchdog.start(200)
    loop.exec()
    watchdog.stop()
    if meter is not None:
        meter.stop()
    window.runFinished.disconnect(on_finished)
    if not finished:
        raise RuntimeError("the run ended without a result: " + window.status_label.text())
    wait_until(app, lambda: not window.is_training, 120)
    return finished[0] - started


def measure_training(app: QApplication, options: dict[str, Any], folder: str) -> dict[str, Any]:
    from app.main_window import MainWindow
    from app.worker import DATASETS
    from spectral_core.architecture import Architecture
    from spectral_core.config import TrainingConfig

    architecture = Architecture.from_dict(options["architecture"])
    source = options["dataset"] or write_small_dataset(folder, architecture.input_units)
    settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    window.start_loading_tensorflow()
    wait_until(app, lambda: window.tensorflow_ready, 300)
    window.editor.set_architecture(architecture)
    window.run_panel.set_regime("lambda")
    window.run_panel.set_dataset_source(source)
    window.run_panel.set_config(TrainingConfig(epochs=1, batch_size=options["batch"]))

    from spectral_core.runs import run_training

    if not options.get("quick"):
        gui_run(app, window, None)  # warm-up: loads the data set into the shared cache
    dataset = DATASETS.load(source)
    config = window.run_panel.config()
    meter = GapMeter()
    gui_seconds, headless_seconds = [], []
    gui_cpu, headless_cpu = [], []  # this process's CPU seconds, all threads
    runs: list[tuple[float, float]] = []
    for repeat in range(max(1, options["repeats"])):
        # A B, B A, A B …: a drift in the machine's load favours neither side.
        for side in ("headless", "gui") if repeat % 2 == 0 else ("gui", "headless"):
            started, cpu = time.perf_counter(), time.process_time()
            if side == "headless":
                run_training(architecture, "lambda", dataset, config, analysis=False)
                headless_seconds.append(time.perf_counter() - started)
                headless_cpu.append(time.process_time() - cpu)
            else:
                # No gap meter here: its 100 Hz timer and probe thread would tax this side only.
                gui_seconds.append(gui_run(app, window, None))
                gui_cpu.append(time.process_time() - cpu)
    # The event-loop gaps, over as many runs of their own.
    for _ in range(max(1, options["repeats"])):
        started = time.perf_counter()
        gui_run(app, window, meter)
        runs.append((started, time.perf_counter()))
    window.close()
    split = meter.largest_split(runs)
    return {
        "gui_seconds": statistics.median(gui_seconds),
        "headless_seconds": statistics.median(headless_seconds),
        # Fastest against fastest: the VM stalls whole seconds at random, which only ever adds
        # time, so a median of ten one-epoch pairs still swings by ±0.1 between benchmark runs.
        "ratio": min(gui_seconds) / min(headless_seconds),
        "gui_fastest": min(gui_seconds),
        "headless_fastest": min(headless_seconds),
        "median_pair_ratio": statistics.median(
            g / h for g, h in zip(gui_seconds, headless_seconds, strict=True)
        ),
        "cpu_ratio": statistics.median(g / h for g, h in zip(gui_cpu, headless_cpu, strict=True)),
        "pairs": len(gui_seconds),
        "max_gap_ms": meter.largest * 1e3,
        "max_gap_fit_ms": split["during"] * 1e3,
        "max_probe_gap_ms": meter.probe_largest * 1e3,
        "run_max_gaps_ms": [round(gap * 1e3) for gap in meter.per_run_largest(runs)],
        "max_gap_after_fit_ms": split["after"] * 1e3,
        "max_gap_at_seconds": split["at"],
        "run_seconds": split["of"],
        "images": int(len(dataset.y_train)),
    }


def write_small_dataset(folder: str, features: int) -> str:
    """A synthetic ``.npz`` of square images with ``features`` pixels (for ``--quick``)."""
    import numpy as np

    from spectral_core.data import synthetic_digits

    side = int(round(features**0.5))
    digits = synthetic_digits(train=600, test=100, seed=0, side=side)
    path = Path(folder) / "digits.npz"
    np.savez(path, x_train=digits.x_train, y_train=digits.y_train,
             x_test=digits.x_test, y_test=digits.y_test)
    return str(path)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--launch-child":
        launch_child(wait_for_tensorflow=argv[1] == "wait")
        return 0
    if len(argv) != 1:
        print("usage: python -m benchmarks.gui JSON", file=sys.stderr)
        return 2
    options = json.loads(argv[0])
    quick = bool(options.get("quick"))
    result = measure_launch(1 if quick else LAUNCHES, wait_for_tensorflow=not quick)
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(isolated_environment(folder))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        result.update(measure_training(app, options, folder))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
