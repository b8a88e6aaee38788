"""``python -m spectral_core``: the ``spectral-lab`` command."""

import sys

from spectral_core.cli import main

sys.exit(main())
