"""`spectral-lab` follows command-line conventions: --version, defaults in --help, choices,
`python -m spectral_core`, shell completion, a quiet TensorFlow start, no display → exit 2."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import spectral_core
from spectral_core import cli, config
from spectral_core.cli import build_parser, display_available, main
from spectral_core.devices import _START_UP_NOISE, _stderr_filtered
from spectral_core.sweep import EXAMPLE, parse_sweep


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(action for action in parser._actions if flag in action.option_strings)


def run_module(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "spectral_core", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
        cwd=Path(spectral_core.__file__).resolve().parent.parent,
    )


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"spectral-lab {spectral_core.__version__}"


def test_python_dash_m_spectral_core_is_the_command():
    done = run_module("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"spectral-lab {spectral_core.__version__}"
    done = run_module("params", "perceptron", "--regime", "direct-full")
    assert (done.returncode, done.stdout.strip()) == (0, "7850")


def test_every_help_shows_the_defaults(capsys):
    for name, parser in subcommand_parsers().items():
        text = parser.format_help()
        assert text.startswith(f"usage: spectral-lab {name}"), name
    train = subcommand_parsers()["train"].format_help()
    for shown in ("(default: 20)", "(default: 300)", "(default: adamax)", "(default: 0)",
                  "(default: lambda)", "(default: mnist)", "(default: 0.1)"):
        assert shown in " ".join(train.split()), shown
    assert "(default: None)" not in train and "(default: False)" not in train
    reproduce = " ".join(subcommand_parsers()["reproduce"].format_help().split())
    assert "--epochs EPOCHS (default: 20)" in reproduce  # an option of another module, no help text


def test_optimizer_and_initialization_take_only_known_names(capsys):
    for name in ("train", "prune-curve"):
        parser = subcommand_parsers()[name]
        assert tuple(option(parser, "--optimizer").choices) == config.OPTIMIZER_NAMES
        assert tuple(option(parser, "--initialization").choices) == config.INITIALIZATION_NAMES
    with pytest.raises(SystemExit) as exited:
        main(["train", "perceptron", "--out", "x", "--optimizer", "adagrad"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--optimizer" in error and "adagrad" in error and "adamax" in error


def test_shell_completion_scripts_name_the_subcommands(capsys):
    for shell in ("bash", "zsh"):
        with pytest.raises(SystemExit) as exited:
            main(["--print-completion", shell])
        assert exited.value.code == 0
        script = capsys.readouterr().out
        assert "spectral-lab" in script
        for name in ("train", "sweep", "params", "--regime", "--optimizer"):
            assert name in script, (shell, name)


def test_sweep_help_shows_a_valid_sweep_file(capsys):
    text = subcommand_parsers()["sweep"].format_help()
    assert EXAMPLE in text
    sweep = parse_sweep(json.loads(EXAMPLE))
    # 2 architectures × 2 regimes × 3 seeds × 2 learning rates
    assert len(sweep.specs) == 24
    assert sweep.data.limit == 10000


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ""}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_display_available(environ, platform, expected):
    assert display_available(environ, platform) is expected


def test_gui_without_a_display_says_so_and_exits_2(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.sys, "platform", "linux")
    assert main(["gui"]) == 2
    error = capsys.readouterr().err
    assert "no display" in error and "xvfb-run" in error


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's")
def test_gui_without_a_display_in_a_fresh_process_exits_2_not_134():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = run_module("gui", env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no display" in done.stderr


def test_stderr_filter_drops_start_up_noise_and_keeps_real_errors(capfd):
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795958785.505961   13441 port.cc:153] oneDNN custom operations are on.",
        "W0000 00:00:1795958785.506275   13441 cudart_stub.cc:31] Could not find cuda drivers",
        "E0000 00:00:1795958789.994589   13441 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error",
    ]
    real = "E0000 00:00:1795958789.994589   13441 some_kernel.cc:1] a real error"
    with _stderr_filtered(_START_UP_NOISE):
        os.write(2, ("\n".join([*noise, real]) + "\n").encode())
    assert capfd.readouterr().err.splitlines() == [real]


NOISE = re.compile(r"cuInit|absl|^[IW]\d{4} |oneDNN|cuda", re.MULTILINE | re.IGNORECASE)


@pytest.mark.slow
def test_train_on_a_cpu_starts_tensorflow_quietly(tmp_path, tiny_npz):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU machine, even where a GPU is present
    done = run_module(
        "train", "perceptron", "--dataset", str(tiny_npz), "--epochs", "1", "--limit", "100",
        "--quiet", "--out", str(tmp_path / "run"), env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout
    assert not NOISE.search(done.stderr), done.stderr[-3000:]


def test_readme_lists_every_xcb_library_qt_links(repo_root):
    """Each X11/xcb library Qt's xcb platform plugin links, as a Debian package in the README."""
    pyside = pytest.importorskip("PySide6")
    plugin = Path(pyside.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file() or not sys.platform.startswith("linux"):
        pytest.skip("no xcb platform plugin here")
    try:
        linked = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        pytest.skip("no ldd")
    sonames = set(re.findall(r"\b(lib(?:xcb|X11|xkbcommon-x11)[\w-]*)\.so\.(\d+)", linked))
    assert ("libxcb-cursor", "0") in sonames  # Qt >= 6.5
    readme = (repo_root / "README.md").read_text()
    for base, version in sorted(sonames):
        package = base.lower() + ("-" if base[-1].isdigit() else "") + version
        assert package in readme, package
