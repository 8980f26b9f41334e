"""Monomials from a log-linear regression: y = c * prod(x_i ** e_i), optionally + a.

With a sign-constant output and sign-constant inputs, log|y| = log|c| + sum e_i log|x_i|
is linear: one least-squares solve gives the exponents, which are snapped to the nearest
half (or third) when they are that close, then every constant is refitted jointly.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from .candidate import Candidate
from .snap import refit

SNAP_STEPS = (1, 2, 3)


def sign_constant(v: np.ndarray) -> int:
    """+1 / -1 when every value has that sign (and none is ~0), else 0."""
    if np.all(v > 0):
        return 1
    if np.all(v < 0):
        return -1
    return 0


def snap_exponent(e: float, tol: float = 0.03):
    for step in SNAP_STEPS:
        r = round(e * step) / step
        if abs(e - r) <= tol:
            return sympy.Rational(round(e * step), step)
    return sympy.Float(e)


def _log_linear(logs: np.ndarray, y: np.ndarray, weighted: bool = False):
    """Least squares of log|y| on the log inputs; ``weighted``: rows weighted by |y| (so the
    fit approximates the error in y, not in log y, which tiny |y| would dominate)."""
    with np.errstate(all="ignore"):
        target = np.log(np.abs(y))
    w = np.abs(y) / (np.sqrt(np.mean(y * y)) or 1.0) if weighted else np.ones(len(y))
    if not np.all(np.isfinite(target)):
        return np.full(logs.shape[1], np.nan), np.inf
    coef, *_ = np.linalg.lstsq(logs * w[:, None], target * w, rcond=None)
    resid = float(np.sqrt(np.mean((w * (logs @ coef - target)) ** 2)))
    return coef, resid


def _offset(logs: np.ndarray, y: np.ndarray) -> float | None:
    """The a that makes y - a the best monomial (searched below min y and above max y)."""
    from scipy.optimize import minimize_scalar

    span = float(np.ptp(y)) or 1.0
    best = None
    for side in (-1.0, 1.0):
        edge = float(np.min(y)) if side < 0 else float(np.max(y))

        def cost(log_gap, edge=edge, side=side):
            shifted = y - (edge + side * span * 10.0 ** log_gap)
            return _log_linear(logs, shifted, weighted=True)[1]

        found = minimize_scalar(cost, bounds=(-8.0, 2.0), method="bounded",
                                options={"xatol": 1e-3})
        if best is None or found.fun < best[0]:
            best = (found.fun, edge + side * span * 10.0 ** found.x)
    return None if best is None else best[1]


def monomial_fit(x: np.ndarray, y: np.ndarray, symbols) -> list[Candidate]:
    """The monomial c * prod x_i^e_i and the shifted one a + c * prod x_i^e_i."""
    signs = [sign_constant(x[:, i]) for i in range(x.shape[1])]
    if any(s == 0 for s in signs):
        return []
    logs = np.column_stack([np.ones(len(y))] + [np.log(np.abs(x[:, i]))
                                                 for i in range(x.shape[1])])
    out = []
    if sign_constant(y):  # unweighted, and weighted by |y| (errors in y's units: noise
        out += _monomials(logs, x, y, symbols, signs)  # blows up log|y| where |y| is small)
        out += _monomials(logs, x, y, symbols, signs, weighted=True)
    shift = _offset(logs, y)
    if shift is not None:
        out += [Candidate(c.expr + sympy.Float(shift), "monomial+c")
                for c in _monomials(logs, x, y - shift, symbols, signs, weighted=True)]
    return out + _noisy_offset(logs, x, y, symbols, signs)


NOISY_QUANTILE = 0.01  # a + c*prod x^e under noise: a starts at this quantile of y
UPPER_SHARE = 0.5  # ... and the exponents come from the rows farthest from it


def _noisy_offset(logs, x, y, symbols, signs) -> list[Candidate]:
    """a + c*prod x^e where noise pushes y - a across 0 for the rows near a (so the search
    of :func:`_offset` outside the data's range misses a): a starts at a low (high)
    quantile of y, the exponents from the log-linear fit on the half of the rows farthest
    from it; a joint refit in y's own units (here: the start is too rough to be ranked
    before one) then settles every constant."""
    out = []
    for side, q in ((1.0, NOISY_QUANTILE), (-1.0, 1 - NOISY_QUANTILE)):
        a = float(np.quantile(y, q))
        gap = side * (y - a)
        far = gap >= np.quantile(gap, 1 - UPPER_SHARE)
        if not np.all(gap[far] > 0) or far.sum() <= logs.shape[1]:
            continue
        coef, _ = _log_linear(logs[far], gap[far])
        if not np.all(np.isfinite(coef)):
            continue
        term = sympy.Integer(1)
        for s, sym, e in zip(signs, symbols, coef[1:], strict=False):
            if abs(e) >= 0.02:
                term = term * (sym if s > 0 else -sym) ** sympy.Float(e)
        start = sympy.Float(a) + sympy.Float(side * math.exp(coef[0])) * term
        out.append(Candidate(refit(start, symbols, x, y), "monomial+c~"))
    return out


def _monomials(logs, x, y, symbols, signs, weighted: bool = False) -> list[Candidate]:
    sy = sign_constant(y)
    if sy == 0:
        return []
    coef, _ = _log_linear(logs, y, weighted)
    target = np.log(np.abs(y))
    if not np.all(np.isfinite(coef)):
        return []
    out = []
    for snapped in (True, False):
        term = sympy.Integer(1)
        for s, sym, e in zip(signs, symbols, coef[1:], strict=False):
            if abs(e) < 0.02:
                continue
            base = sym if s > 0 else -sym
            term = term * base ** (snap_exponent(e) if snapped else sympy.Float(e))
        if snapped:
            # refit the scale with the exponents fixed (geometric mean of y / term)
            values = sympy.lambdify(symbols, term, "numpy")(*[x[:, i] for i in range(x.shape[1])])
            scale = float(np.exp(np.mean(target - np.log(np.abs(values)))))
        else:
            scale = float(np.exp(coef[0]))
        out.append(Candidate(sympy.Float(sy * scale) * term, "monomial"))
    return out
