"""Seeding and training: the one place a model meets its data.

``seed_everything`` reaches every random source the core controls (Python, NumPy's
legacy state for third-party code, the backend, and TensorFlow op determinism);
``fit`` builds the callbacks from the recipe's ``train`` section and calls the family's
``train_on``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._quiet import keras_module
from .progress import ProgressReporter

__all__ = ["seed_everything", "derive_seed", "fit"]


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 31-bit seed derived from ``seed`` and ``keys`` (stable across runs and machines)."""
    words = [int(seed)]
    for key in keys:
        words.append(key if isinstance(key, int) else int.from_bytes(str(key).encode()[:8].ljust(8, b"\0"), "little"))
    return int(np.random.SeedSequence(words).generate_state(1)[0] & 0x7FFFFFFF)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend; make the backend's ops deterministic."""
    from .models import backends

    keras_module().utils.set_random_seed(int(seed))
    backends.make_deterministic()


def fit(
    model: Any,
    x: np.ndarray,
    train: Any,
    seed: int,
    progress: ProgressReporter,
    learning_rate: float,
    labels: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on ``x`` (and the label codes ``labels``, when the data has labels)
    as the recipe's ``train`` section says, at ``learning_rate`` (the recipe's, or the
    family's default when the recipe gives none); return the history."""
    keras = keras_module()
    callbacks: list[Any] = []
    if train.early_stopping.patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=train.early_stopping.monitor,
                patience=train.early_stopping.patience,
                min_delta=train.early_stopping.min_delta,
                restore_best_weights=True,
            )
        )
    if progress.enabled:
        callbacks.append(progress.keras_callback(train.epochs))
    seed_everything(seed)
    with_labels = {"labels": labels} if labels is not None else {}  # families without labels take no such argument
    history = model.train_on(
        x,
        **with_labels,
        epochs=train.epochs,
        batch_size=min(train.batch_size, len(x)),
        learning_rate=learning_rate,
        callbacks=callbacks,
        validation_split=train.validation_split,
        seed=seed,
    )
    return {str(k): [float(v) for v in vals if not (isinstance(v, float) and math.isnan(v))] for k, vals in (history or {}).items()}
