"""``model.family: auto``: the family is chosen by measurement, not by name.

Each candidate family is trained on most of the training records and generates records
(as many as were held back, at least 1,000); the plugin's ``selection_score`` (higher is better; tabular:
the SDMetrics-style quality score) compares them with the held-back records. The best
candidate is then trained again, alone, on all the training records, so the bundle is the
one that recipe would give with ``family: <winner>``: its recipe.yaml names the winner and
meta.json (and the report) record the comparison under ``model_selection``.

The held-back records come from the training split only: ``evaluate.holdout`` stays unseen
by both the selection and the final model.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import Field, ValidationError

from .plugin import StrictModel
from .training import derive_seed

__all__ = ["AUTO", "AutoOptions", "candidate_problems", "data_options_for", "recipe_for", "select_family"]

AUTO = "auto"


class AutoOptions(StrictModel):
    """``model.options`` when ``model.family`` is ``auto``."""

    candidates: list[str] | None = Field(
        None, min_length=1, max_length=16, description="Families to compare; default: the plugin's auto_families (its fast ones)."
    )
    family_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per candidate family, e.g. {vae: {latent_dim: 32}}; default: each family's defaults."
    )
    family_data_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="data.options per candidate family, over the recipe's, e.g. {copula: {transform: quantile}}; default: the plugin's auto_data_options under the recipe's data.options.",
    )
    selection_share: float = Field(
        0.2, ge=0.05, le=0.5, description="Share of the training records held back to score the candidates."
    )
    max_selection_records: int = Field(
        5000, ge=10, le=1_000_000, description="At most this many held-back records (and as many generated) are scored."
    )


class _AutoFamily:
    """What recipe validation needs of ``auto`` in place of a registered family."""

    name = AUTO
    Options = AutoOptions


FAMILY = _AutoFamily()


def candidates(plugin: Any, options: AutoOptions) -> list[str]:
    """The families ``auto`` compares for ``plugin``: the recipe's list or the plugin's."""
    return list(options.candidates) if options.candidates is not None else list(plugin.auto_families)


def candidate_problems(plugin: Any, data_options: Any, options: AutoOptions, privacy: Any) -> list[tuple[tuple[str, ...], str]]:
    """Why ``family: auto`` cannot run with this plugin and these options, as (recipe path,
    message) pairs; empty when it can."""
    from . import registry
    from .errors import PluginError, UsageError

    if privacy is not None:
        return [(("model", "family"), "auto looks at the training records to choose a family, which train.privacy does not account for; name a family")]
    names = candidates(plugin, options)
    where = ("model", "options", "candidates")
    if not names:
        return [(where, f"the {plugin.name} plugin names no families to compare (auto_families); list them here")]
    problems = []
    if len(set(names)) != len(names):
        problems.append((where, "a family is named twice; name each once"))
    for name in names:
        try:
            family = registry.get_family(name)
            registry.matching_layout(plugin, data_options, family)
        except (PluginError, UsageError) as exc:
            problems.append((where, f"{name}: {exc}"))
            continue
        try:
            family.Options.model_validate(options.family_options.get(name, {}))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("model", "options", "family_options", name, *(str(p) for p in err["loc"]))
                problems.append((loc, f"{err['msg']}; see `domaingen recipe schema` for {name}'s options"))
        merged = data_options_for(plugin, data_options.model_dump(exclude_unset=True), options, name)
        try:
            type(data_options).model_validate(merged)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("model", "options", "family_data_options", name, *(str(p) for p in err["loc"]))
                problems.append((loc, f"{err['msg']}; see `domaingen recipe schema` for the {plugin.name} plugin's data options"))
    for key in ("family_options", "family_data_options"):
        for name in sorted(set(getattr(options, key)) - set(names)):
            problems.append((("model", "options", key, name), f"{name!r} is not a candidate; add it to candidates or drop its options"))
    return problems


def data_options_for(plugin: Any, data_options: dict[str, Any], options: AutoOptions, family: str) -> dict[str, Any]:
    """The ``data.options`` candidate ``family`` trains with: the plugin's
    ``auto_data_options`` for it, then the recipe's ``data.options``, then ``auto``'s
    ``family_data_options`` for it (each key of a later one wins)."""
    return {
        **copy.deepcopy(plugin.auto_data_options.get(family, {})),
        **copy.deepcopy(data_options),
        **copy.deepcopy(options.family_data_options.get(family, {})),
    }


def recipe_for(recipe: Any, family: str) -> Any:
    """``recipe`` with ``model.family: family``, that family's options and data options
    from ``auto``'s: the recipe ``family: <family>`` would be."""
    from . import registry

    document = copy.deepcopy(recipe.document)
    auto: AutoOptions = recipe.family_options
    plugin = registry.get_plugin(recipe.model.data.plugin)
    data = document.setdefault("data", {})
    data["options"] = data_options_for(plugin, data.get("options") or {}, auto, family)
    document["model"] = {"family": family, "options": copy.deepcopy(auto.family_options.get(family, {}))}
    return recipe.with_document(document)


def select_family(recipe: Any, train_raw: Any, train: Callable[[Any, Path, Any], Any]) -> tuple[Any, dict[str, Any]]:
    """Compare the candidate families on a split of ``train_raw``; return the winner's recipe
    and the comparison for meta.json. ``train(recipe, bundle_dir, records)`` trains one
    candidate into a bundle (the pipeline's training, without its clean-up)."""
    from . import registry
    from .errors import DataError

    plugin = registry.get_plugin(recipe.model.data.plugin)
    options: AutoOptions = recipe.family_options
    fit_raw, held_raw = plugin.split(train_raw, options.selection_share, np.random.default_rng(derive_seed(recipe.seed, "auto-split")))
    if plugin.count(fit_raw) == 0 or plugin.count(held_raw) == 0:
        raise DataError(
            f"family auto: {plugin.count(train_raw)} training records cannot be split {1 - options.selection_share:.0%} / "
            f"{options.selection_share:.0%} to compare families; give more records or name a family"
        )
    if plugin.count(held_raw) > options.max_selection_records:
        keep = np.random.default_rng(derive_seed(recipe.seed, "auto-held")).permutation(plugin.count(held_raw))
        held_raw = plugin.take_indices(held_raw, np.sort(keep[: options.max_selection_records]))
    n = plugin.count(held_raw)
    generated = max(n, 1000)  # more generated records than held back: less noise from the synthetic side
    rows = []
    with tempfile.TemporaryDirectory(prefix="domaingen-auto-") as tmp:
        written = recipe.document.get("data", {}).get("options") or {}
        for name in candidates(plugin, options):
            started = time.perf_counter()
            bundle = train(recipe_for(recipe, name), Path(tmp) / name, (fit_raw, held_raw))
            fitted = time.perf_counter() - started
            synthetic = bundle.generate(generated, seed=derive_seed(recipe.seed, "auto-generate", name))
            score = plugin.selection_score(held_raw, synthetic, recipe.evaluate_options, np.random.default_rng(derive_seed(recipe.seed, "auto-score")))
            row = {"family": name, "score": round(float(score), 6), "train_seconds": round(fitted, 3)}
            own = {k: v for k, v in data_options_for(plugin, written, options, name).items() if written.get(k, object()) != v}
            if own:
                row["data_options"] = own  # what this candidate trained with over the recipe's data.options
            rows.append(row)
            del bundle
    best = max(rows, key=lambda r: r["score"])  # the first listed wins a tie
    return recipe_for(recipe, best["family"]), {
        "chosen": best["family"],
        "metric": plugin.selection_metric,
        "fit_records": plugin.count(fit_raw),
        "held_back_records": n,
        "generated_records": generated,
        "candidates": rows,
    }
