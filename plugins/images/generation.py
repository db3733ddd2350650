"""``generate.options`` -> a ``GenerationRequest``; the run's overview sheets.

``conditions={label: "3"}`` fixes the class (a class name, or its index); ``per_class: N``
asks for a balanced set of N images of every class (the core cycles the classes). The
overview of a run is ``grid.png`` (a row per class, drawn fresh from the bundle with the
run's seed) and, for latent families, ``interpolation.png`` (per class, the decoded
straight line between two prior draws).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domaingen.errors import ConditionError
from domaingen.plugin import GenerationRequest

from .codec import LABEL, ImageCodec
from .options import ImageGenerateOptions
from .output import contact_sheet, interpolation_strips

__all__ = ["build_request", "write_overview", "class_index", "INTERPOLATION_STEPS"]

INTERPOLATION_STEPS = 8


def class_index(codec: ImageCodec, value: str | int) -> int:
    """The index of class ``value`` (its name, or an index); an error lists the classes."""
    classes = codec.classes_
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    raise ConditionError(f"unknown class {value!r}; the classes are: {', '.join(classes)}")


def build_request(codec: ImageCodec, options: ImageGenerateOptions) -> GenerationRequest:
    """Label conditions (or a balanced plan) for one generation run."""
    if (options.conditions or options.per_class) and not codec.labelled:
        raise ConditionError("these images have no classes (a flat folder); remove generate.options.conditions / per_class")
    conditions = None
    if options.conditions:
        unknown = sorted(set(options.conditions) - {LABEL})
        if unknown:
            raise ConditionError(f"generate.options.conditions names {unknown}; images have one label: {LABEL!r}")
        if options.per_class:
            raise ConditionError("give generate.options.conditions or per_class, not both")
        conditions = {LABEL: class_index(codec, options.conditions[LABEL])}
    if options.per_class:
        return GenerationRequest(balance=LABEL, n=options.per_class * len(codec.classes_))
    return GenerationRequest(conditions=conditions)


def write_overview(bundle: Any, out_dir: Path, options: ImageGenerateOptions, seed: int) -> list[Path]:
    """``grid.png`` (and ``interpolation.png`` for models with a latent space) in ``out_dir``."""
    codec, model = bundle.codec, bundle.model
    per_row = options.grid_per_class
    request = build_request(codec, options)
    classes = range(len(codec.classes_)) if codec.labelled else [None]
    if request.conditions:  # a conditioned run shows its one class
        classes = [request.conditions[LABEL]]
    rows, names = [], []
    for k in classes:
        labels = None if k is None else np.full((per_row, 1), k, "int32")
        samples = model.sample(per_row, seed=seed, labels=labels)
        rows.append(codec.decode(samples.x, None, labels=samples.labels).images)
        names.append("" if k is None else codec.classes_[k])
    written = [contact_sheet(rows, Path(out_dir) / "grid.png", labels=names if codec.labelled else None)]
    if hasattr(model, "decode_latent"):
        rng = np.random.default_rng(seed)
        strips = []
        for k in classes:
            z = model.interpolate(model.sample_latent(1, seed=int(rng.integers(2**31)))[0],
                                  model.sample_latent(1, seed=int(rng.integers(2**31)))[0], INTERPOLATION_STEPS, decode=False)
            labels = None if k is None else np.full((len(z), 1), k, "int32")
            strips.append(codec.decode(model.decode_latent(z, labels=labels), None, labels=labels).images)
        written.append(interpolation_strips(np.stack(strips), Path(out_dir) / "interpolation.png", labels=names if codec.labelled else None))
    return written
