"""The model-family contract: what the core asks of every family.

A family is registered under the entry-point group ``domaingen.models``; the entry point
names a ``ModelFamily`` instance. ``build`` returns a Keras model that also implements
``GenerativeModel``: it trains itself on encoded arrays (``train_on``) and generates
arrays in the DataSpec's layout (``generate``). Families know nothing about domains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from .._quiet import keras_module
from ..errors import UsageError
from ..plugin import NoOptions, StrictModel, as_options
from ..spec import DataSpec

__all__ = ["ModelFamily", "GenerativeModel", "Samples", "NoControls", "check_condition_on"]


class NoControls(StrictModel):
    """Sampling controls of a family that takes none."""


@dataclass
class Samples:
    """What ``GenerativeModel.sample`` returns: the arrays and the label codes they were
    generated for (int32 ``(n, len(spec.labels))``; ``None`` when the spec has no labels).
    ``seeds``: where a family draws each sample from a seed of its own (the token
    families), those seeds (int64 ``(n,)``), so a single sample can be drawn again."""

    x: np.ndarray
    labels: np.ndarray | None = None
    seeds: np.ndarray | None = None


class ModelFamily(ABC):
    """A named way to build a generative model for a DataSpec."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    layouts: ClassVar[tuple[str, ...]] = ()  # DataSpec layouts this family accepts
    label_layouts: ClassVar[tuple[str, ...]] = ()  # layouts on which it trains on and honours DataSpec labels
    Options: ClassVar[type[BaseModel]] = NoOptions  # schema of the recipe's model.options
    default_learning_rate: ClassVar[float] = 1e-3  # used when the recipe's train.learning_rate is unset

    model_class: ClassVar[type | None] = None  # the Keras model the default ``build`` makes

    def build(self, spec: DataSpec, options: BaseModel | dict | None, seed: int) -> "GenerativeModel":
        """A new, untrained model for ``spec``. Weight initialisation and every random
        source inside the model are derived from ``seed``.

        The default: ``options`` validated by ``Options``, ``check_spec`` and
        ``check_options``, the global seeds set from ``seed`` (the weight initialisers
        draw from them), then ``model_class(spec.to_json(), options, seed, name=name)``
        (a ``SpecModel``). A family that builds otherwise overrides this."""
        if self.model_class is None:
            raise NotImplementedError(f"{type(self).__name__} names no model_class; set it or override build")
        opts = as_options(options, self.Options)
        self.check_spec(spec)
        self.check_options(spec, opts)
        keras_module().utils.set_random_seed(int(seed))
        return self.model_class(spec.to_json(), opts.model_dump(), int(seed), name=self.name)

    def check_options(self, spec: DataSpec, options: BaseModel) -> None:
        """Refuse options that do not fit ``spec`` (``UsageError``); none by default."""

    def check_spec(self, spec: DataSpec) -> None:
        """Refuse, when built, a spec this family cannot serve: another layout, or labels
        it would ignore (its samples would not be of the class they are said to be)."""
        if spec.layout not in self.layouts:
            raise UsageError(
                f"the {self.name} family takes {' or '.join(self.layouts)} data, not {spec.layout!r}; choose another family"
            )
        if spec.labels and spec.layout not in self.label_layouts:
            names = ", ".join(label.name for label in spec.labels)
            raise UsageError(
                f"the {self.name} family cannot condition {spec.layout} data on labels ({names}); "
                "choose a family that honours labels, or load the data without labels"
            )


def check_condition_on(spec: DataSpec, names: list[str] | tuple[str, ...], family: str) -> None:
    """``condition_on`` must name categorical or one-column binary segments of ``spec``."""
    segments = {s.name: s for s in spec.segments}
    for name in names:
        seg = segments.get(name)
        if seg is None or seg.kind == "continuous" or (seg.kind == "binary" and seg.size != 1):
            choices = sorted(s.name for s in spec.segments if s.kind == "categorical" or (s.kind == "binary" and s.size == 1))
            raise UsageError(
                f"{family} condition_on names {name!r}, which is not a categorical or one-column binary segment; "
                f"choose from: {', '.join(choices) or 'none'}"
            )


class GenerativeModel(ABC):
    """Abstract base of the Keras models a family builds (``class VAE(GenerativeModel, keras.Model)``);
    a model that lacks ``train_on`` or ``generate`` cannot be instantiated.

    Subclasses must be registered with ``keras.saving.register_keras_serializable`` and
    have a complete ``get_config`` so that ``.keras`` files load with ``safe_mode=True``.
    A family that honours labels overrides ``sample`` (and lets ``generate`` return its
    arrays); one that does not implements ``generate`` alone. ``Controls`` is the typed
    model of its sampling controls: unknown or unsupported controls are errors.
    """

    Controls: ClassVar[type[StrictModel]] = NoControls

    def parse_controls(self, controls: dict[str, Any] | BaseModel | None) -> StrictModel:
        """``controls`` validated by this family's ``Controls``; ``UsageError`` naming the
        family and what it takes for an unknown or invalid control."""
        if isinstance(controls, self.Controls):
            return controls
        family = getattr(self, "family", "") or type(self).__name__
        try:
            return self.Controls(**dict(controls or {}))
        except ValidationError as exc:
            takes = ", ".join(self.Controls.model_fields) or "none"
            problems = "; ".join(
                f"unknown control {'.'.join(map(str, e['loc']))!r}" if e["type"] == "extra_forbidden"
                else f"{'.'.join(map(str, e['loc'])) or 'controls'}: {e['msg']}"
                for e in exc.errors()
            )
            raise UsageError(f"sampling controls of the {family} family: {problems} (it takes: {takes})") from None

    @abstractmethod
    def train_on(
        self,
        x: np.ndarray,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        callbacks: list[Any],
        validation_split: float = 0.0,
        seed: int = 0,
    ) -> dict[str, list[float]]:
        """Fit on encoded arrays; return the per-epoch history (loss name -> values).

        ``callbacks`` are Keras callbacks the core supplies (progress, early stopping).
        """

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The subset of ``conditions`` that ``generate`` fixes natively; the plugin's
        filter handles the rest. Families that honour none return ``{}``."""
        return {}

    @abstractmethod
    def generate(
        self,
        n: int,
        *,
        seed: int,
        conditions: dict[str, int] | None = None,
        controls: dict[str, Any] | None = None,
        batch_size: int = 4096,
    ) -> np.ndarray:
        """``n`` samples as a numpy array in the DataSpec's layout; identical for an
        identical ``seed``. ``conditions`` maps categorical segment names to category
        indices; a family that cannot honour one natively ignores it (the plugin filters).
        """

    def sample(
        self,
        n: int,
        *,
        seed: int,
        conditions: dict[str, int] | None = None,
        controls: dict[str, Any] | None = None,
        batch_size: int = 4096,
        labels: np.ndarray | None = None,
    ) -> Samples:
        """``n`` samples and the labels they were generated for. ``labels`` (int codes,
        ``(n, len(spec.labels))``) fixes them; otherwise label conditions fix theirs and
        the rest are drawn from the training frequencies. Families without labels: the
        arrays of ``generate`` and no labels."""
        if labels is not None:
            raise UsageError(f"the {getattr(self, 'family', '') or type(self).__name__} family does not take labels")
        return Samples(np.asarray(self.generate(n, seed=seed, conditions=conditions, controls=controls, batch_size=batch_size)))
