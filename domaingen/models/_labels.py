"""Labels beside samples: checking label conditions, drawing label codes, one-hots.

Shared by every family that honours ``DataSpec.labels`` and by the core's batch
generation, so an unconditioned label is always drawn the same way: independently per
label from its training frequencies (numpy, seeded), a conditioned one fixed, and a
``balance`` label cycled through its categories in order.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConditionError
from ..spec import DataSpec

__all__ = ["label_conditions", "draw_labels", "label_one_hot", "check_label_codes"]


def label_conditions(spec: DataSpec, conditions: dict[str, int] | None) -> dict[int, int]:
    """Label position -> category index for the conditions that name labels. A condition
    that names neither a label nor (tables) a segment is an error listing the labels."""
    out: dict[int, int] = {}
    segments = {s.name for s in spec.segments}
    for name, value in (conditions or {}).items():
        try:
            at = spec.label_index(name)
        except KeyError:
            if name in segments:
                continue
            known = ", ".join(label.name for label in spec.labels) or "none"
            raise ConditionError(f"condition {name!r} names no label of this data; its labels: {known}") from None
        label = spec.labels[at]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < label.size:
            raise ConditionError(
                f"condition {name}={value!r}: not a category index of label {name!r}; "
                f"use 0..{label.size - 1} ({', '.join(label.categories)})"
            )
        out[at] = int(value)
    return out


def draw_labels(
    spec: DataSpec,
    n: int,
    seed: int,
    conditions: dict[str, int] | None = None,
    *,
    balance: str | None = None,
    offset: int = 0,
) -> np.ndarray | None:
    """Label codes ``(n, len(spec.labels))`` for ``n`` samples, or ``None`` without labels.

    Conditioned labels are fixed; ``balance`` names a label cycled through its categories
    (record ``offset + i`` gets category ``(offset + i) % size``, so consecutive calls stay
    balanced); the others are drawn from the training frequencies with ``seed``.
    """
    if not spec.labels:
        return None
    fixed = label_conditions(spec, conditions)
    rng = np.random.default_rng(int(seed))
    codes = np.empty((int(n), len(spec.labels)), dtype="int32")
    for at, label in enumerate(spec.labels):
        if at in fixed:
            codes[:, at] = fixed[at]
        elif label.name == balance:
            codes[:, at] = (int(offset) + np.arange(int(n))) % label.size
        else:
            cdf = np.cumsum(label.frequencies)
            codes[:, at] = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(int(n)), side="right"), label.size - 1)
    if balance is not None and balance not in {label.name for label in spec.labels}:
        raise ConditionError(f"balance names no label of this data: {balance!r}")
    return codes


def check_label_codes(spec: DataSpec, labels: np.ndarray, n: int) -> np.ndarray:
    """``labels`` as int32 ``(n, len(spec.labels))`` with every code in range."""
    codes = np.asarray(labels)
    if codes.dtype.kind not in "iu":
        raise ConditionError("label codes must be integers (category indices)")
    codes = codes.astype("int32").reshape(int(n), -1) if codes.size == int(n) * len(spec.labels) else codes
    if codes.shape != (int(n), len(spec.labels)):
        raise ConditionError(f"label codes must have shape ({n}, {len(spec.labels)}), got {codes.shape}")
    for at, label in enumerate(spec.labels):
        column = codes[:, at]
        if len(column) and (column.min() < 0 or column.max() >= label.size):
            raise ConditionError(f"label {label.name!r} codes must lie in 0..{label.size - 1}")
    return codes


def label_one_hot(spec: DataSpec, codes: np.ndarray) -> np.ndarray:
    """float32 ``(n, spec.label_width)``: each label's one-hot, concatenated in spec order
    (``(n, 1)`` zeros when the spec has no labels, so compiled functions keep one shape)."""
    n = len(codes) if codes is not None else 0
    if not spec.labels:
        return np.zeros((n, 1), "float32")
    out = np.zeros((n, spec.label_width), "float32")
    start = 0
    for at, label in enumerate(spec.labels):
        out[np.arange(n), start + codes[:, at]] = 1.0
        start += label.size
    return out
