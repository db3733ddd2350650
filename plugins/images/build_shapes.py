"""Render the shipped sprite folder ``recipes/data/images-shapes/`` (run once; committed).

Three classes of 16×16 sprites — ``circle``, ``square``, ``triangle`` — in random
colours, sizes and positions on a dark background, saved as an ImageFolder the way a
user's folder often is: mostly RGB PNGs, some RGBA with a transparent background, some
palette PNGs. The recipe ``images-shapes-folder.yaml`` trains on it.

    python -m domaingen_plugins.images.build_shapes recipes/data/images-shapes
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["render_shapes", "CLASSES"]

CLASSES = ("circle", "square", "triangle")
SIZE = 16


def _sprite(kind: str, rng: np.random.Generator) -> Image.Image:
    """One RGBA sprite: the shape in a random bright colour on a transparent background."""
    im = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    colour = tuple(int(c) for c in rng.integers(110, 256, 3)) + (255,)
    r = int(rng.integers(4, 7))
    cx, cy = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, 2))
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return im


def render_shapes(root: Path, per_class: int = 80, seed: int = 0) -> list[Path]:
    """Write ``per_class`` sprites of each class under ``root/<class>/``; returns the files."""
    rng = np.random.default_rng(seed)
    written = []
    for kind in CLASSES:
        folder = Path(root) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sprite = _sprite(kind, rng)
            mode = ("RGB", "RGB", "RGBA", "P")[i % 4]
            if mode == "RGBA":
                out = sprite
            else:
                background = Image.new("RGBA", sprite.size, (12, 12, 24, 255))
                out = Image.alpha_composite(background, sprite).convert("RGB")
                if mode == "P":
                    out = out.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
            path = folder / f"{kind}_{i:03d}.png"
            out.save(path, optimize=True)
            written.append(path)
    return written


if __name__ == "__main__":
    render_shapes(Path(sys.argv[1] if len(sys.argv) > 1 else "recipes/data/images-shapes"))
