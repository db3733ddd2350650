"""The optimiser the VAE, GAN and diffusion families train with, and what a backend may
fuse of it.

``Adam`` is ``keras.optimizers.Adam`` (same update, same variables, same config) that
notes, through the public ``add_variable_from_reference`` hook Keras' Adam builds its
slots with, each model variable's momentum and velocity. ``fused_adam_slots`` hands them
to a backend that can apply the whole update in one op (TensorFlow's ``ResourceApplyAdam``:
``backends/tensorflow.py``) when the optimiser is plain Adam; otherwise the backend calls
``optimizer.apply``, Keras' own update, which is the reference the fused one is tested
equal to (``tests/models/test_loop.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._quiet import keras_module

__all__ = ["Adam", "fused_adam_slots"]

keras = keras_module()


@keras.saving.register_keras_serializable(package="domaingen")
class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that remembers each variable's (momentum, velocity)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots_by_variable: dict[int, dict[str, Any]] = {}

    def add_variable_from_reference(self, reference_variable: Any, name: str | None = None, initializer: Any = "zeros") -> Any:
        variable = super().add_variable_from_reference(reference_variable, name=name, initializer=initializer)
        self.slots_by_variable.setdefault(id(reference_variable), {})[name] = variable
        return variable


def fused_adam_slots(optimizer: Any, variables: Sequence[Any]) -> dict[int, tuple[Any, Any]] | None:
    """Variable id -> (momentum, velocity) when ``optimizer`` is a plain ``Adam`` of this
    module (no AMSGrad, clipping, weight decay, EMA, accumulation, loss scaling, learning-rate
    schedule or constraints), so a fused kernel computes exactly its update; else ``None``."""
    plain = (
        isinstance(optimizer, Adam)
        and not optimizer.amsgrad
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.weight_decay
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
        and not isinstance(optimizer.get_config()["learning_rate"], dict)  # a schedule serialises as a dict
    )
    if not plain or not all(v.constraint is None and not v.overwrite_with_gradient for v in variables):
        return None
    slots = {}
    for v in variables:
        own = optimizer.slots_by_variable.get(id(v), {})
        if "momentum" not in own or "velocity" not in own:
            return None  # not built on this variable
        slots[id(v)] = (own["momentum"], own["velocity"])
    return slots
