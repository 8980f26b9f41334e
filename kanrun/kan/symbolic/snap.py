"""Exact constants: snap each free constant to the simplest nearby value, one at a time,
keeping a snap only when the refit of the others with it fixed keeps the error on
held-out points (``thresholds``); every snap is re-verified against the error of the
unsnapped refit, so errors cannot creep up snap after snap.

Simple values are ``0``, integers, rationals with small denominators, and those times
``pi``, ``pi**2``, ``sqrt(pi)``, ``1/pi``, ``e`` and ``sqrt(2)``; exponents snap to
rationals with denominators up to 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

from kanrun.common import clock

from .refit import refit, rmse

BASES = [
    (1.0, sympy.Integer(1), 0.0), (math.pi, sympy.pi, 2.0), (math.pi**2, sympy.pi**2, 3.0),
    (math.sqrt(math.pi), sympy.sqrt(sympy.pi), 3.0), (1 / math.pi, 1 / sympy.pi, 3.0),
    (math.e, sympy.E, 3.0), (math.sqrt(2), sympy.sqrt(2), 3.0),
    (1 / math.sqrt(math.pi), 1 / sympy.sqrt(sympy.pi), 3.0),
    (math.sqrt(2 * math.pi), sympy.sqrt(2 * sympy.pi), 3.0),
    (1 / math.sqrt(2 * math.pi), 1 / sympy.sqrt(2 * sympy.pi), 3.0),
]


MAX_POWER = 12
# after the simplest value that keeps the error, values at most this much more complex
# (in bits) are tried too and the one with the lowest held-out error is kept: on noisy
# data 6 passes for 2*pi when the other constants bend to make up for it
COST_SLACK = 1.5


@dataclass
class SimpleValue:
    value: float
    expr: sympy.Expr
    cost: float


def _rational_cost(q: Fraction) -> float:
    return math.log2(1 + abs(q.numerator)) + (0.0 if q.denominator == 1 else
                                               1 + math.log2(q.denominator))


def simple_values(x: float, kind: str = "coef", rel: float = 0.02, max_den: int = 12,
                  limit: int = 4) -> list[SimpleValue]:
    """Simple values near ``x``, simplest first: 0, round(x), and rationals (times the
    bases) within relative distance ``rel``. Exponents: rationals with denominator <= 4."""
    out: dict[float, SimpleValue] = {}

    def add(q: Fraction, base=BASES[0]):
        value = float(q) * base[0]
        key = round(value, 12)
        cost = _rational_cost(q) + base[2]
        expr = sympy.Rational(q.numerator, q.denominator) * base[1]
        if key not in out or out[key].cost > cost:
            out[key] = SimpleValue(value, expr, cost)

    if not math.isfinite(x):
        return []
    if kind == "power":
        if abs(x) > MAX_POWER:  # an exponent this large is a poor fit, not a law
            return []
        for den in (1, 2, 3, 4):
            add(Fraction(round(x * den), den))
        vals = sorted(out.values(), key=lambda s: abs(s.value - x))[:3]
        return sorted(vals, key=lambda s: (s.cost, abs(s.value - x)))
    add(Fraction(0))
    if round(x) != 0:
        add(Fraction(round(x)))
    for base in BASES:
        r = x / base[0]
        for den in range(1, max_den + 1):
            q = Fraction(round(r * den), den)
            if q != 0 and abs(float(q) * base[0] - x) <= rel * abs(x):
                add(q, base)
    vals = sorted(out.values(), key=lambda s: (s.cost, abs(s.value - x)))
    near = [v for v in vals if v.value != 0]
    zero = [v for v in vals if v.value == 0]
    return zero + near[:limit]


@dataclass
class SnapResult:
    theta: np.ndarray
    exact: dict  # parameter index -> sympy value
    val_rmse: float
    train_rmse: float
    tried: int


def threshold(ref: float, y_scale: float, rel_tol: float, abs_tol: float) -> float:
    return max(ref * (1.0 + rel_tol), ref + abs_tol * y_scale)


def snap_constants(fn, X, y, Xv, yv, theta, kinds, rel_tol: float = 0.05,
                   abs_tol: float = 1e-10, passes: int = 2, max_trials: int = 150,
                   deadline: float | None = None) -> SnapResult:
    """Greedy snapping of ``theta`` (see the module doc); returns the snapped constants."""
    theta = np.asarray(theta, dtype=np.float64).copy()
    ref = rmse(fn(Xv, theta), yv)
    limit = threshold(ref, float(np.std(yv)) or 1.0, rel_tol, abs_tol)
    fixed = np.zeros(len(theta), bool)
    exact: dict = {}
    tried = 0
    best_val = ref
    for _ in range(passes):
        changed = False
        order = sorted((k for k in range(len(theta)) if not fixed[k]),
                       key=lambda k: _closeness(theta[k], kinds[k]))
        for k in order:
            if tried >= max_trials or (deadline is not None and clock.now() > deadline):
                break
            passed, first_cost = None, math.inf  # (val, theta, value) of the best pass
            for cand in simple_values(theta[k], kinds[k]):
                if cand.cost > first_cost + COST_SLACK:
                    break
                tried += 1
                start = theta.copy()
                start[k] = cand.value
                mask = ~fixed
                mask[k] = False
                new, _ = refit(fn, X, y, start, free=mask, max_nfev=60)
                val = rmse(fn(Xv, new), yv)
                if val <= limit and (passed is None or val < passed[0]):
                    passed, first_cost = (val, new, cand.expr), min(first_cost, cand.cost)
            if passed is not None:
                theta, fixed[k], exact[k] = passed[1], True, passed[2]
                best_val, changed = passed[0], True
        if not changed:
            break
    train = rmse(fn(X, theta), y)
    return SnapResult(theta, exact, best_val, train, tried)


def _closeness(x: float, kind: str) -> float:
    vals = simple_values(x, kind)
    if not vals:
        return math.inf
    return min(abs(v.value - x) / max(abs(x), 1e-12) for v in vals if v.value != 0 or x == 0) \
        if any(v.value != 0 for v in vals) else abs(x)


def round_free(expr, fn_check, digits_from: int = 4, digits_to: int = 15):
    """Round the remaining Floats of ``expr`` to the fewest significant digits for which
    ``fn_check(rounded_expr)`` is true (at most ``digits_to``)."""
    floats = list(expr.atoms(sympy.Float))
    if not floats:
        return expr
    for digits in range(digits_from, digits_to + 1):
        reps = {f: sympy.Float(float(f"{float(f):.{digits - 1}e}"), digits) for f in floats}
        cand = expr.xreplace(reps)
        if fn_check(cand):
            return _rationals(cand)
    return expr


def _rationals(expr):
    """Rounded decimals that equal a rational with a denominator up to 100 exactly (1.0,
    0.5, 0.0625, 0.03) become that rational: the same number, written exactly."""
    reps = {}
    for f in expr.atoms(sympy.Float):
        q = Fraction(float(f)).limit_denominator(100)
        if float(q) == float(f):
            reps[f] = sympy.Rational(q.numerator, q.denominator)
    return expr.xreplace(reps) if reps else expr


__all__ = ["SimpleValue", "SnapResult", "simple_values", "snap_constants", "round_free",
           "threshold"]
