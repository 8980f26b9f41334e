"""One-variable pieces: y = c * g(a*x + b) + d for g in a small function library.

The outer c, d enter linearly and are solved exactly for each (a, b) (variable projection);
only a and b are searched, from a few starts, with least_squares.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import sympy
from scipy.optimize import least_squares

from .candidate import Candidate

# name -> (numpy function, sympy function)
LIBRARY = {
    "sin": (np.sin, sympy.sin),
    "exp": (np.exp, sympy.exp),
    "log": (np.log, sympy.log),
    "sqrt": (np.sqrt, sympy.sqrt),
    "inv": (lambda z: 1.0 / z, lambda z: 1 / z),
    "inv2": (lambda z: 1.0 / z ** 2, lambda z: 1 / z ** 2),
    "sq": (lambda z: z ** 2, lambda z: z ** 2),
    "cube": (lambda z: z ** 3, lambda z: z ** 3),
    "tanh": (np.tanh, sympy.tanh),
    "gauss": (lambda z: np.exp(-z ** 2), lambda z: sympy.exp(-z ** 2)),
    "asin": (np.arcsin, sympy.asin),
    "acos": (np.arccos, sympy.acos),
    "atan": (np.arctan, sympy.atan),
    "sin2": (lambda z: np.sin(z) ** 2, lambda z: sympy.sin(z) ** 2),
    "csc2": (lambda z: 1.0 / np.sin(z) ** 2, lambda z: 1 / sympy.sin(z) ** 2),
    "sinc": (lambda z: np.sin(z) / z, lambda z: sympy.sin(z) / z),
    "cosh": (np.cosh, sympy.cosh),
}
STARTS_A = (1.0, -1.0, 3.0)
MAX_POINTS = 256
STARTS_B = (0.0, 1.0)


def _outer(g: np.ndarray, y: np.ndarray):
    """Least squares c*g + d ~ y in closed form."""
    gm, ym = g.mean(), y.mean()
    dg = g - gm
    var = float(dg @ dg)
    c = float(dg @ (y - ym)) / var if var > 1e-300 else 0.0
    d = ym - c * gm
    return (c, d), c * g + d - y


def fit_one(name: str, x: np.ndarray, y: np.ndarray):
    """Best (error, a, b, c, d) of c*g(a*x+b)+d over a few starts; None if nothing fits."""
    fn = LIBRARY[name][0]
    span = float(np.max(np.abs(x))) or 1.0

    def residual(theta):
        with np.errstate(all="ignore"):
            g = fn(theta[0] * x + theta[1])
        if not np.all(np.isfinite(g)):
            return np.full(len(y), 1e6)
        _, r = _outer(g, y)
        return r

    best = None
    for a0 in STARTS_A:
        for b0 in STARTS_B:
            start = np.array([a0 / span, b0])
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    fit = least_squares(residual, start, method="lm", max_nfev=200)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            err = float(np.sqrt(np.mean(fit.fun ** 2)))
            if math.isfinite(err) and (best is None or err < best[0]):
                best = (err, *fit.x)
    if best is None:
        return None
    err, a, b = best
    with np.errstate(all="ignore"):
        (c, d), _ = _outer(fn(a * x + b), y)
    return err, a, b, c, d


def library_fit(x: np.ndarray, y: np.ndarray, symbol: sympy.Symbol,
                keep: int = 4) -> list[Candidate]:
    """The ``keep`` best one-variable forms (by error) as candidates."""
    if len(x) > MAX_POINTS:
        pick = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
        x, y = x[pick], y[pick]
    rows = []
    for name, (_, sym_fn) in LIBRARY.items():
        found = fit_one(name, x, y)
        if found is None:
            continue
        err, a, b, c, d = found
        expr = (sympy.Float(c) * sym_fn(sympy.Float(a) * symbol + sympy.Float(b))
                + sympy.Float(d))
        rows.append((err, Candidate(expr, f"1d:{name}")))
        if err <= 1e-10 * (float(np.std(y)) or 1.0):
            break
    rows.sort(key=lambda r: r[0])
    return [c for _, c in rows[:keep]]
