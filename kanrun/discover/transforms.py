"""Invertible transforms of the output: fit T(y), then the formula is T^-1(fit).

Each transform says when it applies (log needs a sign-constant output, asin-type inverses
a bounded one) and how to undo it on a sympy expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy

from .monomial import sign_constant


@dataclass(frozen=True)
class Transform:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[sympy.Expr], sympy.Expr]


def transforms_for(y: np.ndarray, multiplicative: bool = True) -> list[Transform]:
    """The transforms that are defined and invertible on this output."""
    s = sign_constant(y)
    out = [Transform("id", lambda v: v, lambda e: e)]
    if s != 0:
        out.append(Transform("inv", lambda v: 1.0 / v, lambda e: 1 / e))
        out.append(Transform("sq", lambda v: v * v, lambda e: s * sympy.sqrt(e)))
        out.append(Transform("invsq", lambda v: 1.0 / (v * v), lambda e: s / sympy.sqrt(e)))
        out.append(Transform("sqrt", lambda v: np.sqrt(np.abs(v)), lambda e: s * e ** 2))
        if multiplicative:
            out.append(Transform("log", lambda v: np.log(np.abs(v)), lambda e: s * sympy.exp(e)))
    spread = float(np.max(y) - np.min(y))
    if np.max(np.abs(y)) <= 20 and spread > 0:
        out.append(Transform("exp", np.exp, sympy.log))
    if np.max(np.abs(y)) <= np.pi / 2 + 1e-9:
        out.append(Transform("sin", np.sin, sympy.asin))
    if np.min(y) >= 0 and np.max(y) <= np.pi + 1e-9:
        out.append(Transform("cos", np.cos, sympy.acos))
    if np.max(np.abs(y)) < np.pi / 2:
        out.append(Transform("tan", np.tan, sympy.atan))
    if np.max(np.abs(y)) < 1 and s != 0:
        out.append(Transform("atanh", np.arctanh, sympy.tanh))
    return out
