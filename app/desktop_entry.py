"""Put Spectral Lab in the desktop's applications menu (freedesktop.org menus: GNOME, KDE, Xfce…).

    python -m app.desktop_entry            # install for this user (~/.local/share)
    python -m app.desktop_entry --remove   # take it out again

Copies ``resources/spectral-lab.desktop`` to ``applications/`` and the icons to the hicolor
theme under the data folder ($XDG_DATA_HOME, by default ~/.local/share). ``Exec`` points at the
``spectral-lab`` script beside this Python, so the entry works from a virtual environment that
is not on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from resources import ROOT

DESKTOP_FILE = ROOT / "spectral-lab.desktop"
ICONS = ROOT / "icons"
APP_ID = "spectral-lab"


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share."""
    configured = os.environ.get("XDG_DATA_HOME", "")
    return Path(configured) if configured else Path.home() / ".local" / "share"


def launcher_command() -> str:
    """The ``spectral-lab`` script of this Python's environment (or the bare name on PATH)."""
    script = Path(sys.executable).parent / "spectral-lab"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    found = shutil.which("spectral-lab")
    return found or "spectral-lab"


def _quoted(path: str) -> str:
    """A program path as the Desktop Entry spec wants it in Exec (quoted when it has spaces)."""
    if any(char in path for char in ' \t"\'\\$`'):
        escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
        return f'"{escaped}"'
    return path


def desktop_entry_text(command: str) -> str:
    """The shipped entry with Exec and TryExec pointing at ``command``."""
    lines = []
    for line in DESKTOP_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={_quoted(command)} gui %F"
        elif line.startswith("TryExec="):
            line = f"TryExec={command}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def installed_paths(prefix: Path) -> list[Path]:
    """Where :func:`install` writes under ``prefix``."""
    paths = [prefix / "applications" / f"{APP_ID}.desktop"]
    paths.append(prefix / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg")
    for png in sorted(ICONS.glob(f"{APP_ID}-*.png")):
        size = png.stem.rsplit("-", 1)[1]
        paths.append(prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png")
    return paths


def install(prefix: Path | None = None, command: str | None = None) -> list[Path]:
    """Install the entry and icons under ``prefix`` (default: :func:`data_home`); return the files."""
    prefix = prefix or data_home()
    written = []
    entry, svg, *pngs = installed_paths(prefix)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(desktop_entry_text(command or launcher_command()), encoding="utf-8")
    written.append(entry)
    svg.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICONS / f"{APP_ID}.svg", svg)
    written.append(svg)
    for png, target in zip(sorted(ICONS.glob(f"{APP_ID}-*.png")), pngs, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        written.append(target)
    _refresh_caches(prefix)
    return written


def remove(prefix: Path | None = None) -> list[Path]:
    """Delete what :func:`install` wrote under ``prefix``; return the files removed."""
    removed = []
    for path in installed_paths(prefix or data_home()):
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh_caches(prefix or data_home())
    return removed


def _refresh_caches(prefix: Path) -> None:
    """Tell the menu and icon caches, where those tools exist (menus also notice on their own)."""
    for command in (
        ["update-desktop-database", str(prefix / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", str(prefix / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True, timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.desktop_entry",
        description="Add Spectral Lab to (or remove it from) the applications menu of this user.",
    )
    parser.add_argument("--remove", action="store_true", help="remove the entry and icons")
    parser.add_argument("--prefix", type=Path, help="data folder (default: $XDG_DATA_HOME or ~/.local/share)")
    args = parser.parse_args(argv)
    if args.remove:
        removed = remove(args.prefix)
        print(f"removed {len(removed)} files" if removed else "nothing to remove")
        return 0
    try:
        written = install(args.prefix)
    except OSError as error:
        print(f"cannot install the desktop entry: {error}", file=sys.stderr)
        return 2
    print(f"installed {written[0]} and {len(written) - 1} icons; Exec runs {launcher_command()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
