"""Regenerate docs/screenshot-*.png: ``make screenshots`` runs this under Xvfb.

It drives the real window: a Λ run on MNIST (2 epochs), retracted; then a direct-full run, shot
mid-training (loss and accuracy live), and shot again when finished with the weight
distributions of its second layer compared with the Λ run's compact model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's app and spectral_core, not an installed copy
DATASET = ROOT.parent / "shared" / "data" / "mnist.npz"


def pump(app: QApplication, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def wait_until(app: QApplication, condition, timeout: float = 600) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("timed out")
        pump(app, 0.05)


def shoot(window, path: Path) -> None:
    """The X screen as the user sees it (ImageMagick's import); the window's own rendering
    when there is no X server or no import."""
    if os.environ.get("DISPLAY") and shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(path)], check=True)
    else:
        window.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else DATASET
    if not dataset.is_file():
        print(f"no MNIST .npz at {dataset} (give its path)", file=sys.stderr)
        return 2
    home = tempfile.mkdtemp()
    os.environ.update(SPECTRAL_LAB_HOME=home, SPECTRAL_LAB_RECOVER="discard")
    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from spectral_core.architecture import Architecture
    from spectral_core.config import TrainingConfig

    window = MainWindow(settings=QSettings(f"{home}/settings.ini", QSettings.Format.IniFormat))
    window.move(0, 0)
    window.resize(1400, 900)
    window.show()
    window.start_loading_tensorflow()
    wait_until(app, lambda: window.tensorflow_ready)
    window.editor.set_architecture(Architecture.load(ROOT / "resources/presets/nonlinear.json"))
    window.run_panel.set_dataset_source(str(dataset))

    window.run_panel.set_regime("lambda")
    window.run_panel.set_config(TrainingConfig(epochs=2))
    window.start_training()
    wait_until(app, lambda: not window.is_training)
    window.retract()
    pump(app, 0.5)

    window.run_panel.set_regime("direct-full")
    window.run_panel.set_config(TrainingConfig(epochs=3))
    window.tabs.setCurrentIndex(0)
    window.start_training()
    wait_until(app, lambda: window.run_panel.progress.value() >= 850)  # of 1000
    pump(app, 0.3)
    shoot(window, ROOT / "docs/screenshot-training.png")
    wait_until(app, lambda: not window.is_training)
    pump(app, 0.5)

    window.runs_list.tree.selectAll()
    window.tabs.setCurrentWidget(window.weights_panel)
    panel = window.weights_panel
    panel.layer.setCurrentIndex(max(0, panel.layer.findText("layer_2")))
    compact = next(
        (i for i in range(panel.compare.count()) if "compact_1" in panel.compare.itemText(i)), 0
    )
    panel.compare.setCurrentIndex(compact)
    pump(app, 1.0)
    shoot(window, ROOT / "docs/screenshot-trained.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
