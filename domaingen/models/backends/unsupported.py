"""A Keras backend domaingen does not train or sample on (numpy, openvino): every compiled
call and training step is refused with a message naming the ones it does."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._quiet import keras_module
from ...errors import UsageError

keras = keras_module()
NAME = keras.backend.backend()
SEED_DTYPE = "uint32"
_WHY = f"domaingen cannot train or sample on the {NAME!r} backend; set KERAS_BACKEND to tensorflow, jax or torch"


def on_accelerator() -> bool:
    return False


def resolve_jit(option: bool | None, default: bool = False) -> bool:
    return False


def steps_per_execution(option: int) -> int:
    return 1


def to_numpy_view(x: Any) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def input_gradient(fn: Any, inputs: Any) -> Any:
    raise UsageError(_WHY)


def probability() -> Any:
    return None


def make_deterministic() -> None:
    """Nothing to switch on."""


class StatelessFunction:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError(_WHY)


class StepRunner:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError(_WHY)
