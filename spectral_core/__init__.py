"""spectral_core: spectral-domain training of neural networks, headless (no Qt here).

Importing ``spectral_core.layers`` (or ``spectral_core.export``) registers the custom Keras layers,
which Keras needs before it can load a full ``.keras`` model.
"""

__version__ = "0.1.0"
