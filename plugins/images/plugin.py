"""``ImagesPlugin``: class-conditional images from a folder, a ``.npz`` or scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from domaingen.errors import DataError
from domaingen.plugin import DomainPlugin, GenerationRequest, Metric, as_options

from .codec import ImageCodec
from .options import ImageDataOptions, ImageEvaluateOptions, ImageGenerateOptions
from .records import ImageSet

__all__ = ["ImagesPlugin"]


class ImagesPlugin(DomainPlugin):
    """Images in the ImageFolder convention (a sub-folder per class), written as PNG shards."""

    name: ClassVar[str] = "images"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = "Class-conditional images (ImageFolder PNG/JPEG/BMP/WebP, .npz, sklearn:digits)"
    DataOptions = ImageDataOptions
    GenerateOptions = ImageGenerateOptions
    EvaluateOptions = ImageEvaluateOptions
    layouts: ClassVar[tuple[str, ...]] = ("grid",)
    default_family: ClassVar[str] = "gan"
    formats: ClassVar[tuple[str, ...]] = ("png",)

    # --- data -------------------------------------------------------------------------------
    def load(self, source: str, options: BaseModel, base_dir: Path) -> ImageSet:
        from .loading import load_images

        return load_images(str(source), as_options(options, ImageDataOptions), Path(base_dir))

    def training_records(self, train: ImageSet, options: BaseModel, rng: np.random.Generator) -> ImageSet:
        """The training split plus its augmented copies (``data.options.augment``)."""
        options = as_options(options, ImageDataOptions)
        if options.augment is None:
            return train
        from .loading import augment

        return augment(train, options.augment, rng)

    def make_codec(self, options: BaseModel, layout: str) -> ImageCodec:
        return ImageCodec()

    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> ImageCodec:
        return ImageCodec.from_config(config, arrays)

    # --- record collections -----------------------------------------------------------------
    def count(self, raw: ImageSet) -> int:
        return len(raw)

    def take_indices(self, raw: ImageSet, idx: np.ndarray) -> ImageSet:
        return raw.take(idx)

    def concat(self, parts: list[ImageSet]) -> ImageSet:
        return ImageSet.concat(parts)

    # --- generation and output --------------------------------------------------------------
    def generation_request(self, codec: ImageCodec, options: BaseModel) -> GenerationRequest:
        from .generation import build_request

        return build_request(codec, as_options(options, ImageGenerateOptions))

    def write(self, raw: ImageSet, stem: Path, fmt: str, options: BaseModel) -> list[Path]:
        from .output import write_shard

        return write_shard(raw, Path(stem))

    def write_overview(self, bundle: Any, out_dir: Path, options: BaseModel, seed: int) -> list[Path]:
        from .generation import write_overview

        return write_overview(bundle, Path(out_dir), as_options(options, ImageGenerateOptions), seed)

    def read(self, paths: list[Path]) -> ImageSet:
        from .output import read_shards

        return read_shards([Path(p) for p in paths])

    # --- evaluation -------------------------------------------------------------------------
    def metrics(self) -> list[Metric]:
        from .metrics import METRICS

        return list(METRICS)

    def evaluate(self, real, synthetic, holdout, options, out_dir, rng) -> dict[str, Any]:
        from .metrics import evaluate_images

        for name, records in (("real", real), ("synthetic", synthetic)):
            if not isinstance(records, ImageSet) or len(records) == 0:
                raise DataError(f"evaluation needs a non-empty set of {name} images")
        synthetic = _with_classes_of(real, synthetic)
        return evaluate_images(real, synthetic, holdout, as_options(options, ImageEvaluateOptions), out_dir, rng)


def _with_classes_of(real: ImageSet, synthetic: ImageSet) -> ImageSet:
    """``synthetic`` with its labels re-indexed to the real classes (files read back sort
    class names their own way); a class the real data lacks is an error naming it."""
    if not real.labelled or not synthetic.labelled or synthetic.classes == real.classes:
        return synthetic
    unknown = sorted(set(synthetic.classes) - set(real.classes))
    if unknown:
        raise DataError(f"synthetic images of classes {unknown} that the real data does not have: {', '.join(real.classes)}")
    index = np.array([real.classes.index(c) for c in synthetic.classes], dtype=np.int64)
    return ImageSet(synthetic.images, index[synthetic.labels], real.classes, synthetic.names)
