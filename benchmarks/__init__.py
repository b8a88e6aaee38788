"""Spectral Lab's benchmarks: developer tooling beside the library, not shipped in the wheel.

``python -m benchmarks`` (``make bench``) measures every performance figure of issue 5 against
its target and writes docs/BENCHMARKS.md; :mod:`benchmarks.gui` drives the desktop app for the
GUI figures in a subprocess, so Qt never enters ``spectral_core``.
"""
