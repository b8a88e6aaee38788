"""spectral_core: spectral-domain training of neural networks, headless (no Qt here).

Importing ``spectral_core`` is enough for ``keras.models.load_model`` to read a full ``.keras``
model (Keras never imports third-party modules by itself): our layers are registered as soon as
Keras is imported, without this package importing TensorFlow early (the GUI shows its window
before TensorFlow loads).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.1.0"


def _register_layers() -> None:
    import spectral_core.layers  # noqa: F401  (the decorators register the layers)
    from spectral_core.devices import enable_gpu_memory_growth

    # Before any GPU is used, so several workers can share one (no-op without a GPU).
    enable_gpu_memory_growth()


class _RegisterOnKerasImport(importlib.abc.MetaPathFinder):
    """Runs :func:`_register_layers` right after the first ``import keras`` finishes."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        # Ask the other finders (asking importlib would come back here). TensorFlow calls
        # find_spec("keras") just to probe, so only a real import may retire this hook.
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def execute_then_register(module: Any) -> None:
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_layers()

        spec.loader.exec_module = execute_then_register  # type: ignore[method-assign]
        return spec


if "keras" in sys.modules:
    _register_layers()
elif not any(isinstance(finder, _RegisterOnKerasImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnKerasImport())
