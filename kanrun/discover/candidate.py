"""A candidate formula: a sympy expression with numeric constants, scored on data."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import sympy

from kanrun.common.metrics import rmse as common_rmse


@dataclass
class Candidate:
    expr: sympy.Expr  # over the problem's variable symbols, constants as numbers
    route: str  # how it was found (monomial, polynomial, split(log)[...], ...)
    train_rmse: float = math.inf
    holdout_rmse: float = math.inf
    notes: list[str] = field(default_factory=list)

    @property
    def complexity(self) -> int:
        return complexity(self.expr)


def complexity(expr: sympy.Expr) -> int:
    """Nodes of the expression tree (every operator, symbol and constant counts 1)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


_COMPILED: dict = {}
MAX_COMPILED = 4096


def compiled(expr: sympy.Expr, symbols) -> object:
    """sympy.lambdify, cached (printing the expression is the slow part)."""
    key = (expr, tuple(symbols))
    fn = _COMPILED.get(key)
    if fn is None:
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.clear()
        fn = _COMPILED[key] = sympy.lambdify(list(symbols), expr, modules="numpy")
    return fn


def numpy_function(expr: sympy.Expr, symbols: list[sympy.Symbol]):
    fn = compiled(expr, symbols)

    def call(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(*[x[:, i] for i in range(x.shape[1])])
        value = np.asarray(value, dtype=np.complex128 if np.iscomplexobj(value) else np.float64)
        if np.iscomplexobj(value):
            value = np.where(np.abs(value.imag) < 1e-12, value.real, np.nan)
        return np.broadcast_to(value, (x.shape[0],)).astype(np.float64)

    return call


def rmse(expr: sympy.Expr, symbols, x: np.ndarray, y: np.ndarray) -> float:
    try:
        pred = numpy_function(expr, symbols)(x)
    except (TypeError, ValueError, ZeroDivisionError, NameError, KeyError, AttributeError):
        return math.inf
    value = common_rmse(pred, y)
    return value if math.isfinite(value) else math.inf


def score(cand: Candidate, n: int, scale: float, floor: float) -> float:
    """Description length (BIC-like) on the holdout: fit error, clipped at the noise floor,
    plus a cost per node of the expression."""
    err = max(cand.holdout_rmse, floor, 1e-13 * scale)
    if not math.isfinite(err):
        return math.inf
    return n * math.log(err / scale) + 2.0 * math.log(n) * cand.complexity
