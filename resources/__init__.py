"""Package data: presets (the paper's architectures as JSON), icons and style."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
PRESETS = ROOT / "presets"


def preset_paths() -> list[Path]:
    return sorted(PRESETS.glob("*.json"))
