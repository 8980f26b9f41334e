"""Monomials from a log-linear regression: y = c * prod(x_i ** e_i), optionally + a.

With a sign-constant output and sign-constant inputs, log|y| = log|c| + sum e_i log|x_i|
is linear: one least-squares solve gives the exponents, which are snapped to the nearest
half (or third) when they are that close, then every constant is refitted jointly.
"""

from __future__ import annotations

import numpy as np
import sympy

from .candidate import Candidate

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


def monomial_fit(x: np.ndarray, y: np.ndarray, symbols) -> list[Candidate]:
    """The monomial (and its exponents left free) when y and the inputs allow logs."""
    sy = sign_constant(y)
    signs = [sign_constant(x[:, i]) for i in range(x.shape[1])]
    if sy == 0 or any(s == 0 for s in signs):
        return []
    logs = np.column_stack([np.ones(len(y))] + [np.log(np.abs(x[:, i])) for i in range(x.shape[1])])
    target = np.log(np.abs(y))
    coef, *_ = np.linalg.lstsq(logs, target, rcond=None)
    if not np.all(np.isfinite(coef)):
        return []
    out = []
    for snapped in (True, False):
        term = sympy.Integer(1)
        for s, sym, e in zip(signs, symbols, coef[1:]):
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
        out.append(Candidate(sympy.Float(0.0) + sympy.Float(sy * scale) * term + sympy.Float(1e-3),
                             "monomial+c"))
    return out
