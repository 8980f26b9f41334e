"""Joint float64 refit of a formula's constants, and snapping constants to simple values.

Every number in the expression (exponents and integers excepted) becomes a parameter; all
of them are refitted together on the training data with scipy's least_squares. Snapping
then tries each constant at the simplest nearby value (integers, small rationals, and
small rational multiples of pi, e and sqrt(2)), refits the others, and keeps the snap only
if the data cannot tell it from the fitted value (training SSE and holdout error within
what the noise explains).
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import sympy
from scipy.optimize import least_squares
from scipy.stats import chi2

from kanrun.common.clock import now as clock

from .candidate import compiled

BASES = ((sympy.Integer(1), 1.0), (sympy.pi, math.pi), (1 / sympy.pi, 1 / math.pi),
         (sympy.E, math.e), (sympy.sqrt(2), math.sqrt(2)),
         (sympy.sqrt(sympy.pi), math.sqrt(math.pi)),
         (1 / sympy.sqrt(sympy.pi), 1 / math.sqrt(math.pi)))
MAX_DENOMINATOR = 16
MAX_PARAMS = 24


def parametrize(expr: sympy.Expr) -> tuple[sympy.Expr, list[sympy.Symbol], list[float]]:
    """Replace each float (and non-integer rational outside an exponent) by a parameter."""
    params: list[sympy.Symbol] = []
    values: list[float] = []
    mapping = {}
    for atom in sorted(expr.atoms(sympy.Float), key=str):
        sym = sympy.Symbol(f"_p{len(params)}")
        params.append(sym)
        values.append(float(atom))
        mapping[atom] = sym
    return expr.xreplace(mapping), params, values


def _residuals(template, params, symbols, x, y):
    fn = compiled(template, [*params, *symbols])
    cols = [x[:, i] for i in range(x.shape[1])]

    def residual(theta):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = np.asarray(fn(*theta, *cols), dtype=np.complex128)
        value = np.where(np.abs(value.imag) < 1e-12, value.real, np.nan) - y
        value = np.broadcast_to(value, y.shape)
        return np.where(np.isfinite(value), value, 1e6)

    return residual


def refit(expr: sympy.Expr, symbols, x: np.ndarray, y: np.ndarray,
          max_nfev: int = 400) -> sympy.Expr:
    """The expression with all its float constants refitted jointly (float64)."""
    template, params, values = parametrize(expr)
    if not params or len(params) > MAX_PARAMS:
        return expr
    residual = _residuals(template, params, symbols, x, y)
    start = np.asarray(values, dtype=np.float64)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            base = float(np.sum(residual(start) ** 2))
            fit = least_squares(residual, start, method="lm" if len(y) >= len(start) else "trf",
                                max_nfev=max_nfev * len(start), xtol=1e-15, ftol=1e-15,
                                gtol=1e-15)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return expr
    if not np.all(np.isfinite(fit.x)) or float(np.sum(fit.fun ** 2)) > base:
        return expr
    return template.xreplace({p: sympy.Float(v, 17) for p, v in zip(params, fit.x, strict=False)})


def simple_values(value: float, rational_only: bool = False) -> list[sympy.Expr]:
    """Simple numbers near ``value``, simplest first (nearest first within a kind)."""
    out = []
    if value == 0 or abs(value) < 1e-300:
        return [sympy.Integer(0)]
    for base, number in BASES[:1] if rational_only else BASES:
        ratio = value / number
        frac = Fraction(ratio).limit_denominator(MAX_DENOMINATOR)
        if frac.numerator == 0 or abs(frac.numerator) > 64:
            continue
        if abs(float(frac) - ratio) <= 0.02 * abs(ratio):
            out.append(sympy.Rational(frac.numerator, frac.denominator) * base)
    def key(e):  # a value equal to float precision first, then the simplest (the snap's
        rel = abs(float(e) - value) / abs(value)  # test rejects those the data tell apart)
        return (rel > 1e-6, sympy.count_ops(e), rel)

    out.sort(key=key)
    exact = [e for e in out if abs(float(e) - value) <= 1e-6 * abs(value)]
    # 0 next (drops a term, if the data allow it), then the simplest others
    return exact + [sympy.Integer(0)] + [e for e in out if e not in exact]


SNAP_LEVEL = 0.999  # chi2 quantile of the likelihood-ratio test of the snaps made so far
SNAP_SIGMAS = 3.0
SNAP_TRIES = 5  # simple values tried per constant
SNAP_OPS_COST = 2.0  # description length of an operation of a snapped value, in chi2 units


def snap(expr: sympy.Expr, symbols, x_train, y_train, x_hold, y_hold,
         rmse_fn, tolerance: float = 1e-3, deadline: float | None = None) -> sympy.Expr:
    """Snap constants to simple values (refitting the others) while the data cannot tell
    the snapped formula from the fitted one.

    A likelihood-ratio test on the training rows: fixing k constants of a correct model
    raises its SSE by a chi2(k) multiple of the noise variance, so the snaps so far may add
    up to the SNAP_LEVEL quantile of it; on the holdout the RMSE may grow by what the
    noise explains, SNAP_SIGMAS / sqrt(n_train * n_hold) relative (at least
    ``tolerance``). Each round takes, of every (constant, simple value) that passes, the
    one of least description length: the SSE it adds in noise variances plus
    SNAP_OPS_COST per operation of the value (so 1/2 beats 11/(7*pi) unless the data tell
    them apart). Noiseless data leave no room: their residual variance is ~0."""
    scale = float(np.std(y_hold)) or 1.0
    n_train, n_hold = len(y_train), len(y_hold)
    rel = max(tolerance, SNAP_SIGMAS / math.sqrt(max(n_train * n_hold, 1)))
    best = expr
    best_err = rmse_fn(best, symbols, x_hold, y_hold)
    base_sse = n_train * rmse_fn(best, symbols, x_train, y_train) ** 2
    tiny = n_train * (1e-12 * scale) ** 2
    variance = base_sse / max(n_train - len(best.atoms(sympy.Float)), 1) + tiny / n_train
    for snapped in range(1, MAX_PARAMS + 1):
        floats = sorted(best.atoms(sympy.Float), key=lambda f: -abs(float(f)))
        exponents = {p.exp for p in best.atoms(sympy.Pow)}
        sse_limit = base_sse + float(chi2.ppf(SNAP_LEVEL, snapped)) * variance + tiny
        choice = None
        value = near = None
        for atom in floats:
            for value in simple_values(float(atom), rational_only=atom in exponents)[:SNAP_TRIES]:
                if deadline is not None and clock() > deadline:
                    return best if choice is None else choice[1]
                trial = refit(best.xreplace({atom: value}), symbols, x_train, y_train,
                              max_nfev=100)
                err = rmse_fn(trial, symbols, x_hold, y_hold)
                sse = n_train * rmse_fn(trial, symbols, x_train, y_train) ** 2
                if sse <= sse_limit and err <= best_err * (1 + rel) + 1e-12 * scale:
                    cost = (sse - base_sse) / variance + SNAP_OPS_COST * sympy.count_ops(value)
                    if choice is None or cost < choice[0]:
                        choice = (cost, trial, err)
                    near = abs(float(value) - float(atom)) <= 1e-6 * abs(float(atom))
                    if value == 0 or near:  # nothing can beat it: take it now
                        break
            if choice is not None and choice[1] is trial and (value == 0 or near):
                break
        if choice is None:
            return best
        best, best_err = choice[1], min(choice[2], best_err)
    return best


def round_floats(expr: sympy.Expr, digits: int = 6) -> sympy.Expr:
    return expr.xreplace({f: sympy.Float(float(f), digits) for f in expr.atoms(sympy.Float)})


def normalize_sums(expr: sympy.Expr) -> sympy.Expr:
    """Factor each sum's largest coefficient out of it (bottom-up), so that constants that
    only set a scale move outwards and the sum keeps a coefficient of 1:
    sqrt(9.8*x**2 + 9.8*y**2) -> 3.13*sqrt(x**2 + y**2)."""
    if expr.is_Atom:
        return expr
    args = [normalize_sums(a) for a in expr.args]
    if expr.is_Pow:
        base, exponent = args
        coeff, rest = _split_scale(base)
        if coeff != 1 and coeff > 0:
            return sympy.Float(float(coeff) ** float(exponent)) * rest ** exponent
        return base ** exponent
    if expr.is_Mul:
        parts = [_split_scale(a) for a in args]
        coeff = sympy.Mul(*[c for c, _ in parts])
        return coeff * sympy.Mul(*[r for _, r in parts])
    if not expr.is_Add:
        return expr.func(*[sympy.Mul(*_split_scale(a)) for a in args])
    terms = [sympy.Mul(*_split_scale(a)).as_coeff_Mul() for a in args]
    variable = [(c, r) for c, r in terms if r.free_symbols]
    if not variable or len(terms) < 2:
        return sympy.Add(*[c * r for c, r in terms])
    lead = max((c for c, _ in variable), key=lambda c: abs(float(c)))
    if float(lead) == 0 or not lead.is_Float:
        return sympy.Add(*[c * r for c, r in terms])
    size = abs(lead)

    def unit(c):
        ratio = c / size
        return sympy.Integer(int(float(ratio))) if float(ratio) in (1.0, -1.0) else ratio

    return sympy.Mul(size, sympy.Add(*[unit(c) * r for c, r in terms]), evaluate=False)


def _split_scale(expr: sympy.Expr):
    """(number, rest) of an unevaluated number * sum made by normalize_sums."""
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0].is_Number and expr.args[1].is_Add:
        return expr.args[0], expr.args[1]
    return sympy.Integer(1), expr
