"""Registry of symbolic functions (placeholder set; extended by the symbolic module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy
import torch


class UnknownFunctionError(KeyError):
    pass


@dataclass(frozen=True)
class SymbolicFunction:
    name: str
    torch: Callable
    sympy: Callable
    complexity: int


_REGISTRY: dict[str, SymbolicFunction] = {}


def register(name, torch_fn, sympy_fn, complexity):
    _REGISTRY[name] = SymbolicFunction(name, torch_fn, sympy_fn, complexity)


def get_function(name: str) -> SymbolicFunction:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFunctionError(
            f"unknown symbolic function {name!r}; known: {sorted(_REGISTRY)}"
        ) from None


register("0", torch.zeros_like, lambda x: 0 * x, 0)
register("x", lambda x: x, lambda x: x, 1)
register("x^2", lambda x: x**2, lambda x: x**2, 2)
register("sin", torch.sin, sympy.sin, 2)
register("exp", torch.exp, sympy.exp, 2)
