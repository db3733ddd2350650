"""MusicVAE-style latent interpolation between two melodies (melody codec, ``vae`` family).

    bundle = domaingen.load_bundle("runs/music-vae/bundle")
    path = interpolate_melodies(bundle, piece_a, piece_b, steps=7)

Each melody's first ``segment_bars`` bars are encoded to the posterior mean of the
latent code; the points on the straight line between the two codes are decoded to the
most likely events (the decoder's mode), so the path is deterministic.
"""

from __future__ import annotations

import numpy as np

from domaingen.errors import UsageError

from .melody import MelodyCodec
from .piece import Piece

__all__ = ["interpolate_melodies"]


def interpolate_melodies(bundle, a: Piece, b: Piece, steps: int = 5) -> list[Piece]:
    """``steps`` melodies from ``a``'s first phrase to ``b``'s (both ends included)."""
    codec, model = bundle.codec, bundle.model
    if not isinstance(codec, MelodyCodec) or codec.layout != "table":
        raise UsageError("interpolation needs a bundle trained on melodies with the vae family")
    if not hasattr(model, "interpolate") or not hasattr(model, "encode"):
        raise UsageError(f"the {type(model).__name__} model has no latent space to interpolate in; use the vae family")
    if steps < 2:
        raise UsageError("interpolation needs steps >= 2")
    ends = np.concatenate([codec.encode([a])[:1], codec.encode([b])[:1]])
    z = model.encode(ends)
    rows = model.interpolate(z[0], z[1], int(steps))
    pieces = codec.decode(rows, np.random.default_rng(0))
    return [Piece(p.notes, tempo=p.tempo, name=f"interpolation-{i:02d}", beats_per_bar=p.beats_per_bar)
            for i, p in enumerate(pieces)]
