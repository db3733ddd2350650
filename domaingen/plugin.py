"""The contracts a domain plugin fulfils: ``DomainPlugin`` and its ``Codec``.

A plugin is registered under the entry-point group ``domaingen.plugins``; the entry
point names an instance (or a zero-argument class) of ``DomainPlugin``. Everything
domain-specific lives behind these two classes; the core never looks inside the
records they pass around ("raw": a DataFrame, a list of pieces, an array of images...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from .spec import DataSpec

__all__ = [
    "Codec",
    "DomainPlugin",
    "Encoded",
    "GenerationRequest",
    "Metric",
    "StrictModel",
    "NoOptions",
    "as_encoded",
    "as_options",
]


class StrictModel(BaseModel):
    """Base for every recipe section model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class NoOptions(StrictModel):
    """An options section that takes no keys."""


def as_options(options: BaseModel | dict | None, cls: type[BaseModel]) -> BaseModel:
    """``cls`` instance from ``options`` (validated; unknown keys are errors): what a plugin
    or family method does with the options it is handed (a model, a dict, or nothing)."""
    if options is None:
        return cls()
    if isinstance(options, cls):
        return options
    if isinstance(options, BaseModel):
        options = options.model_dump()
    return cls(**options)


@dataclass(frozen=True)
class Metric:
    """Documentation of one metric a plugin reports."""

    name: str
    direction: str  # "higher-is-better" | "lower-is-better" | "closer-to-real" | "informative"
    formula: str


@dataclass
class Encoded:
    """What ``Codec.encode`` gives for a spec with labels: the arrays ``x`` and the label
    codes ``labels`` (int32 ``(n, len(spec.labels))``, category indices in spec order)."""

    x: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype="int32").reshape(len(self.x), -1)


def as_encoded(value: Any) -> Encoded:
    """``Encoded`` from what a codec's ``encode`` returned (an array alone means no labels)."""
    return value if isinstance(value, Encoded) else Encoded(np.asarray(value))


@dataclass
class GenerationRequest:
    """What a plugin asks of a model family for one generation run.

    ``conditions``: segment or label name -> category index, honoured natively by families
    that can (labels: by every family that accepts labelled data).
    ``controls``: family sampling controls, validated by the family's ``Controls`` model
    (``temperature``, ``top_k``, ``top_p``, ``primer`` int array, ``max_length``...).
    ``accept``: keeps only decoded records that meet the conditions and constraints; the
    core repeats generation until enough records are accepted.
    ``balance``: a label whose categories are generated in equal numbers (cycled in
    order), e.g. for a balanced set of every class; ``n``: the number of records the
    plugin fixes for this run (``per_class`` × classes), overriding the requested one.
    """

    conditions: dict[str, int] | None = None
    controls: dict[str, Any] = field(default_factory=dict)
    accept: Callable[[Any], Any] | None = None
    balance: str | None = None
    n: int | None = None


class Codec(ABC):
    """Invertible map between raw records and arrays, fitted on the training records.

    ``decode(encode(raw))`` gives ``raw`` back up to the loss the codec documents.
    State is JSON (``get_config``) plus named numpy arrays (``get_arrays``); no pickle.
    """

    @abstractmethod
    def fit(self, raw: Any) -> "Codec":
        """Learn the encoding from training records; returns ``self``."""

    @abstractmethod
    def encode(self, raw: Any) -> np.ndarray | Encoded:
        """Records -> arrays in the layout of ``spec``; an ``Encoded`` (arrays and label
        codes) when ``spec.labels`` is not empty."""

    @abstractmethod
    def decode(self, x: np.ndarray, rng: np.random.Generator, labels: np.ndarray | None = None) -> Any:
        """Arrays (as a model family generates them) -> records. ``labels``: the label
        codes the family generated them for (``None`` when the spec has no labels)."""

    @property
    @abstractmethod
    def spec(self) -> DataSpec:
        """The DataSpec of the encoded arrays (valid after ``fit``)."""

    @abstractmethod
    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable state (no numpy arrays)."""

    def get_arrays(self) -> dict[str, np.ndarray]:
        """Numeric state saved beside the config in ``codec.npz`` (no object arrays)."""
        return {}

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Codec":
        """Rebuild a fitted codec from ``get_config()`` and ``get_arrays()``."""


class DomainPlugin(ABC):
    """One domain: how to load, encode, write and evaluate its records.

    Options models are pydantic models (subclass ``StrictModel``); the core validates the
    recipe's ``data.options``, ``generate.options`` and ``evaluate.options`` with them.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    description: ClassVar[str] = ""
    DataOptions: ClassVar[type[BaseModel]] = NoOptions
    GenerateOptions: ClassVar[type[BaseModel]] = NoOptions
    EvaluateOptions: ClassVar[type[BaseModel]] = NoOptions
    layouts: ClassVar[tuple[str, ...]] = ()  # DataSpec layouts its codecs produce
    default_family: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()  # output formats; the first is the default
    auto_families: ClassVar[tuple[str, ...]] = ()  # what `model.family: auto` compares by default
    selection_metric: ClassVar[str] = ""  # what selection_score measures, for meta.json and the report
    # `auto`: data options a candidate family does best with, under what the recipe writes
    # (tabular: the copula with normal-score columns)
    auto_data_options: ClassVar[dict[str, dict[str, Any]]] = {}

    # --- data -----------------------------------------------------------------
    @abstractmethod
    def load(self, source: str, options: BaseModel, base_dir: Path) -> Any:
        """Read records from ``source`` (a path relative to ``base_dir`` or an embedded
        source such as ``sklearn:breast_cancer``). Raise ``DataError`` on bad input."""

    def layouts_for(self, options: BaseModel) -> tuple[str, ...]:
        """Layouts a codec for these data options can produce, preferred first; the core
        picks the first one the recipe's family accepts (default: ``layouts``)."""
        return tuple(self.layouts)

    @abstractmethod
    def make_codec(self, options: BaseModel, layout: str) -> Codec:
        """A new, unfitted codec for the given data options producing ``layout``."""

    @abstractmethod
    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Codec:
        """Rebuild a fitted codec saved in a bundle."""

    def split(self, raw: Any, holdout: float, rng: np.random.Generator) -> tuple[Any, Any]:
        """Split records into (train, holdout); ``holdout`` is a fraction in [0, 1)."""
        n = self.count(raw)
        order = rng.permutation(n)
        k = int(round(n * holdout))
        return self.take_indices(raw, np.sort(order[k:])), self.take_indices(raw, np.sort(order[:k]))

    def training_records(self, train: Any, options: BaseModel, rng: np.random.Generator) -> Any:
        """The records the codec and model train on, from the training split (e.g. with
        augmented copies added); evaluation still compares with the split itself.
        Default: the split as it is."""
        return train

    # --- record collections -----------------------------------------------------
    def count(self, raw: Any) -> int:
        return len(raw)

    def take_indices(self, raw: Any, idx: np.ndarray) -> Any:
        return [raw[i] for i in idx]

    def concat(self, parts: list[Any]) -> Any:
        out: list[Any] = []
        for p in parts:
            out.extend(p)
        return out

    # --- generation and output ---------------------------------------------------
    def generation_request(self, codec: Codec, options: BaseModel) -> GenerationRequest:
        """Turn ``generate.options`` into native conditions, controls and a filter."""
        return GenerationRequest()

    def with_seeds(self, raw: Any, seeds: np.ndarray) -> Any:
        """Records of one generated batch given each one's own sample seed
        (``Samples.seeds``, from families that draw each sample from a seed of its own),
        for plugins that write it beside the record (text's JSONL ``seed``). Default:
        unchanged."""
        return raw

    @abstractmethod
    def write(self, raw: Any, stem: Path, fmt: str, options: BaseModel) -> list[Path]:
        """Write one shard of records to files named from ``stem`` (``part-00000``);
        return their paths. Each file must appear complete (``files.atomic_path``)."""

    def write_overview(self, bundle: Any, out_dir: Path, options: BaseModel, seed: int) -> list[Path]:
        """Files that summarise a whole generation run in ``out_dir`` beside its shards
        (images: a contact sheet of every class), made from ``bundle`` with ``seed`` so
        they do not depend on the shards or workers. Default: none."""
        return []

    def preview(self, bundle: Any, n: int, options: dict[str, Any], seed: int, write: Callable[[str], None], stream: bool) -> None:
        """``domaingen sample``: show ``n`` records for a quick look, writing no files.
        ``stream``: the output is a terminal, so text may appear as it is generated.
        Default: the records' printed form."""
        write(str(bundle.generate(n, seed=seed, options=options)))

    @abstractmethod
    def read(self, paths: list[Path]) -> Any:
        """Read records back from files this plugin wrote (for ``evaluate --synthetic``)."""

    # --- evaluation -----------------------------------------------------------------
    def metrics(self) -> list[Metric]:
        """Documentation of every metric ``evaluate`` reports."""
        return []

    def model_metrics(self, bundle: Any, holdout: Any, options: BaseModel) -> dict[str, Any]:
        """Scores of the bundle's trained model on the held-out records (e.g. a language
        model's bits per character), added to the report. Default: none."""
        return {}

    def selection_score(self, real: Any, synthetic: Any, options: BaseModel, rng: np.random.Generator) -> float:
        """One number, higher is better, by which ``model.family: auto`` ranks candidate
        families: ``synthetic`` records against the held-back ``real`` ones (a cheaper
        part of ``evaluate``). Plugins that name ``auto_families`` implement it."""
        from .errors import UsageError

        raise UsageError(f"the {self.name} plugin cannot compare families (no selection_score); name a model.family")

    @abstractmethod
    def evaluate(
        self,
        real: Any,
        synthetic: Any,
        holdout: Any | None,
        options: BaseModel,
        out_dir: Path | None,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        """Compare real and synthetic records; return a JSON-serialisable report. If
        ``out_dir`` is given, the plugin may also write ``report.html`` (and plots) there."""
