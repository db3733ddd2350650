"""The music plugin: melodies, performances and audio from a recipe, with librosa for audio.

``plugin`` is the entry point (``domaingen.plugins: music``). Importing this package
loads no audio or deep-learning library; those are imported when first needed.
"""

from .piece import Piece
from .plugin import MusicPlugin

__all__ = ["MusicPlugin", "Piece", "plugin"]

plugin = MusicPlugin()
