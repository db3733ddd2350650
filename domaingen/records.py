"""Records from a bundle's model: batches drawn, decoded by the codec and filtered by the
plugin (conditions, constraints) until there are enough; the one sampling path of
``Bundle.generate`` and of every generation engine's shards."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConditionError
from .models._labels import draw_labels
from .training import derive_seed

__all__ = ["generate_records", "generate_counted", "requested_total"]

_MIN_CANDIDATES_BEFORE_GIVING_UP = 2000
_MAX_CANDIDATES_PER_RECORD = 50


def generate_records(bundle: Any, recipe: Any, n: int, *, seed: int, batch_size: int) -> Any:
    """``n`` decoded records that pass the plugin's filter (conditions, constraints).

    Raises ``ConditionError`` when the filter accepts (almost) nothing, so an impossible
    condition fails fast instead of looping forever.
    """
    return generate_counted(bundle, recipe, n, seed=seed, batch_size=batch_size)[0]


def generate_counted(bundle: Any, recipe: Any, n: int, *, seed: int, batch_size: int) -> tuple[Any, dict[str, int]]:
    """``generate_records`` and how many generated candidates the plugin's filter
    ``accepted`` and ``rejected`` on the way (the report shows the refused share)."""
    plugin, codec, model = bundle.plugin, bundle.codec, bundle.model
    request = plugin.generation_request(codec, recipe.generate_options)
    model.parse_controls(request.controls)  # an unknown or unsupported control fails before any work
    parts: list[Any] = []
    have = made = attempt = 0
    while have < n:
        rate = have / made if made else 1.0
        margin = 1.1 if request.accept is not None else 1.0  # a filter rejects some: ask for a little more
        want = min(batch_size, max(1, math.ceil((n - have) / max(rate, 0.02) * margin)))
        batch_seed = derive_seed(seed, attempt)
        labels = draw_labels(codec.spec, want, derive_seed(batch_seed, "labels"), request.conditions, balance=request.balance, offset=made)
        samples = model.sample(
            want, seed=batch_seed, conditions=request.conditions, controls=request.controls, batch_size=batch_size, labels=labels
        )
        rng = np.random.default_rng(batch_seed)
        if samples.labels is None:
            records = codec.decode(np.asarray(samples.x), rng)
        else:
            records = codec.decode(np.asarray(samples.x), rng, labels=samples.labels)
        if samples.seeds is not None:
            records = plugin.with_seeds(records, samples.seeds)
        if request.accept is not None:
            records = request.accept(records)
        parts.append(records)
        have += plugin.count(records)
        made += want
        attempt += 1
        if have == 0 and made >= _MIN_CANDIDATES_BEFORE_GIVING_UP:
            raise ConditionError(
                f"none of {made} generated records met the conditions and constraints; they look impossible "
                "for this data: check generate.options (values and ranges) against the training data"
            )
        if have < n and made >= _MAX_CANDIDATES_PER_RECORD * n + _MIN_CANDIDATES_BEFORE_GIVING_UP:
            raise ConditionError(
                f"only {have} of {n} records met the conditions after {made} were generated "
                f"(acceptance {have / made:.3%}); relax the conditions or ask for fewer records"
            )
    combined = plugin.concat(parts)
    if plugin.count(combined) == n:  # the usual case: no copy of what is already the answer
        return combined, {"accepted": have, "rejected": made - have}
    return plugin.take_indices(combined, np.arange(n)), {"accepted": have, "rejected": made - have}


def requested_total(bundle: Any, recipe: Any, n: int) -> int:
    """``n``, unless the plugin fixes the number of records for these options (``per_class``)."""
    fixed = bundle.plugin.generation_request(bundle.codec, recipe.generate_options).n
    return int(fixed) if fixed is not None else int(n)
