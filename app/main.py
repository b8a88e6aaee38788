"""``spectral-lab gui``: show the window first, then load TensorFlow behind it."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

ORGANIZATION = "SpectralLab"
APPLICATION = "Spectral Lab"


def main(files: list[str] | None = None) -> int:
    """Run the desktop app; ``files`` are sessions, architecture JSON files or study folders
    (``spectral-lab search --out``) to open."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("spectral-lab")  # matches resources/spectral-lab.desktop

    from app.layout import window_icon

    app.setWindowIcon(window_icon())

    from app.main_window import MainWindow  # imports Qt and pyqtgraph only, not TensorFlow

    window = MainWindow()
    window.show()

    def after_shown() -> None:
        window.start_loading_tensorflow()
        for path in files or []:
            window.open_file(path)

    # Zero-delay: runs once the event loop has painted the window.
    QTimer.singleShot(0, after_shown)
    from app.autosave import install_autosave

    # Queued after after_shown, so TensorFlow is loading when a crashed session is offered.
    autosaver = install_autosave(window)
    app.aboutToQuit.connect(autosaver.shutdown)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
