"""Recipe sections of the images plugin: ``data.options``, ``generate.options``, ``evaluate.options``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaingen.plugin import StrictModel

__all__ = ["AugmentOptions", "ImageDataOptions", "ImageGenerateOptions", "ImageEvaluateOptions", "MAX_SIDE"]

MAX_SIDE = 512  # largest image side the plugin trains on; a larger image_size is a mistake, not a wish


class AugmentOptions(StrictModel):
    """Training-set augmentation (applied once at load time, seeded)."""

    copies: int = Field(1, ge=1, le=16, description="augmented copies added per image")
    flip_horizontal: bool = Field(False, description="random left-right flips (not for digits or text)")
    flip_vertical: bool = Field(False, description="random up-down flips")
    max_shift: int = Field(1, ge=0, le=8, description="random shifts of up to this many pixels (edge padding)")


class ImageDataOptions(StrictModel):
    """``data.options``: how images are read, sized and coloured."""

    image_size: tuple[int, int] | None = Field(
        None, description="[height, width] every image is brought to; None: the size of the first image"
    )
    fit: Literal["crop", "pad", "stretch", "none"] = Field(
        "stretch",
        description="how an image of another size or aspect is brought to image_size: crop (centre, after "
        "scaling the short side), pad (scale the long side, pad with black), stretch, or none (an error)",
    )
    channels: Literal[1, 3] = Field(1, description="1: grayscale, 3: RGB (alpha is composited on black)")
    max_images: int | None = Field(None, ge=1, description="keep at most this many images (a seeded sample)")
    augment: AugmentOptions | None = Field(None, description="augmented copies of the training images")


class ImageGenerateOptions(StrictModel):
    """``generate.options``: which classes to generate."""

    conditions: dict[str, str | int] | None = Field(
        None, description="{label: CLASS}: images of one class only (a class name, or its index)"
    )
    per_class: int | None = Field(None, ge=1, description="a balanced set: this many images of every class (overrides n)")
    grid_per_class: int = Field(10, ge=1, le=64, description="images per class row in grid.png")


class ImageEvaluateOptions(StrictModel):
    """``evaluate.options``: the feature classifier and the report."""

    classifier_epochs: int = Field(30, ge=1, le=1000, description="training epochs of the feature classifier")
    max_images: int = Field(2000, ge=10, description="most synthetic and real images scored (seeded sample)")
    k: int = Field(5, ge=1, le=50, description="neighbours of precision / recall / density / coverage")
    report_html: bool = True
