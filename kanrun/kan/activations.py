"""The layers' base functions b(x), and the one SiLU with its slope that every path uses."""

from __future__ import annotations

import torch


def silu(x: torch.Tensor) -> torch.Tensor:
    """The one SiLU of the library: the layer's base function, the kernels and the cached
    first-layer inputs all use it, so every path agrees bit for bit."""
    return torch.nn.functional.silu(x)


def silu_slope(x, sig):
    """d silu / dx = sig (1 + x (1 - sig)) from x and sig = sigmoid(x); written with
    operators only, so the same expression serves torch tensors and NumPy arrays."""
    return sig * (1 + x * (1 - sig))


# the layer's base functions b(x) by name (``KANLayer(base_fun=...)``); the autograd-free
# objectives serve "silu" only (its slope is :func:`silu_slope`)
BASE_FUNCTIONS = {
    "silu": silu,
    "identity": lambda x: x,
    "zero": torch.zeros_like,
    "tanh": torch.tanh,
    "gelu": torch.nn.functional.gelu,
    "softplus": torch.nn.functional.softplus,
}
