"""The music plugin: melodies, performances and audio from a recipe, with librosa for audio.

``plugin`` is the entry point (``domaingen.plugins: music``). Importing this package
loads no audio or deep-learning library; those are imported when first needed.
"""

import os

# numba (librosa's JIT) generating code for the host CPU crashed the interpreter with a
# segmentation fault on an AVX-512 AMD EPYC (numba 0.68 / llvmlite 0.50); code for a
# generic x86-64 is safe there and librosa's kernels are small. A user's own setting wins.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

from .piece import Piece  # noqa: E402
from .plugin import MusicPlugin  # noqa: E402

__all__ = ["MusicPlugin", "Piece", "plugin"]

plugin = MusicPlugin()
