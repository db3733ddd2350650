"""Keras 3 model families: VAE, GAN, diffusion, autoregressive RNN / Transformer, Gaussian copula.

Importing ``domaingen.models`` is cheap; the names below load their module (and Keras)
on first access. The families are found by the core through the ``domaingen.models``
entry points (``vae``, ``gan``, ``diffusion``, ``rnn``, ``transformer``, ``copula``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import GenerativeModel, ModelFamily

__all__ = [
    "ModelFamily",
    "GenerativeModel",
    # families
    "VAEFamily",
    "GANFamily",
    "DiffusionFamily",
    "RNNFamily",
    "TransformerFamily",
    "CopulaFamily",
    # models
    "VAE",
    "GAN",
    "Diffusion",
    "RNNModel",
    "TransformerModel",
    "GaussianCopula",
    # options
    "VAEOptions",
    "GANOptions",
    "DiffusionOptions",
    "RNNOptions",
    "TransformerOptions",
    "CopulaOptions",
    # layers
    "PositionEmbedding",
    "CausalSelfAttention",
    "TransformerBlock",
    "ResidualDense",
]

_WHERE = {
    "VAEFamily": "vae", "VAE": "vae", "VAEOptions": "vae",
    "GANFamily": "gan", "GAN": "gan", "GANOptions": "gan",
    "DiffusionFamily": "diffusion", "Diffusion": "diffusion", "DiffusionOptions": "diffusion",
    "RNNFamily": "autoregressive", "RNNModel": "autoregressive", "RNNOptions": "autoregressive",
    "TransformerFamily": "autoregressive", "TransformerModel": "autoregressive",
    "TransformerOptions": "autoregressive",
    "CopulaFamily": "copula", "GaussianCopula": "copula", "CopulaOptions": "copula",
    "PositionEmbedding": "layers", "CausalSelfAttention": "layers",
    "TransformerBlock": "layers", "ResidualDense": "layers",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'domaingen.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
