"""spectral_core: spectral-domain training of neural networks, headless (no Qt here).

After Giambagli et al., "Machine learning in spectral domain", Nature Communications 12, 1330
(2021). A quick tour (``docs/examples/quickstart.py`` runs it)::

    import spectral_core as sc

    architecture = sc.load_preset("nonlinear")              # or sc.Architecture(...) of LayerSpecs
    model = sc.build_model(architecture, "lambda", seed=0)  # train the eigenvalues only
    result = sc.train(model, sc.load_dataset("mnist"), sc.TrainingConfig(epochs=1))
    compact = sc.retract(model)                              # fold telescopic linear layers
    sc.save_model(compact, "compact.keras")                  # plain Dense layers

The public API (``__all__``):

- Architectures: :class:`Architecture`, :class:`LayerSpec`, :func:`load_preset`,
  :func:`preset_names`, :func:`parameter_counts`, :data:`REGIMES`.
- Models: :func:`build_model`, :class:`SpectralDense`, :class:`MaskedDense`.
- Data: :func:`load_dataset`, :class:`Dataset`, :func:`synthetic_digits`.
- Training: :class:`TrainingConfig`, :func:`train`, :class:`TrainingResult`,
  :class:`TrainingControl`, :class:`Snapshot`, :class:`SnapshotCallback` (the observer callback,
  also for a plain ``model.fit``), :class:`TensorBoardObserver` (spectrum, weight histograms and
  HParams in TensorBoard), :func:`run_training` (build, train, retract, write a run folder).
- Retraction and files: :func:`retract`, :func:`compare_retraction`, :func:`save_model`,
  :func:`load_model`.
- Errors: :class:`SpectralLabError`, the base of every error about bad input.
- :func:`quiet_tensorflow_start`: no TensorFlow start-up noise on a CPU machine (call it first).

Names load on first use: ``import spectral_core`` does not import TensorFlow (the GUI shows its
window before TensorFlow loads). It is enough for ``keras.models.load_model`` to read a full
``.keras`` model (Keras never imports third-party modules by itself): our layers are registered
as soon as Keras is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.1.0"

# Public name -> the module defining it, imported on first access (PEP 562).
_LAZY: dict[str, str] = {
    "Architecture": "spectral_core.architecture",
    "LayerSpec": "spectral_core.architecture",
    "load_preset": "spectral_core.architecture",
    "preset_names": "spectral_core.architecture",
    "REGIMES": "spectral_core.regimes",
    "parameter_counts": "spectral_core.regimes",
    "build_model": "spectral_core.build",
    "SpectralDense": "spectral_core.layers",
    "MaskedDense": "spectral_core.layers",
    "Dataset": "spectral_core.data",
    "load_dataset": "spectral_core.data",
    "synthetic_digits": "spectral_core.data",
    "TrainingConfig": "spectral_core.config",
    "train": "spectral_core.training",
    "TrainingResult": "spectral_core.training",
    "TrainingControl": "spectral_core.training",
    "Snapshot": "spectral_core.training",
    "SnapshotCallback": "spectral_core.callbacks",
    "TensorBoardObserver": "spectral_core.tensorboard",
    "run_training": "spectral_core.runs",
    "retract": "spectral_core.retraction",
    "compare_retraction": "spectral_core.runs",
    "save_model": "spectral_core.export",
    "load_model": "spectral_core.export",
    "SpectralLabError": "spectral_core.errors",
    "quiet_tensorflow_start": "spectral_core.devices",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spectral_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
