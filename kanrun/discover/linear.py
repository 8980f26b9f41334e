"""Terminal fits that are linear in their coefficients: sparse polynomials and rational
functions P/Q (the latter linearized as y*Q - P = 0 and solved by an SVD)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy

from .candidate import Candidate

MAX_TERMS = 120


def monomial_terms(n_vars: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of every monomial of total degree <= degree (constant first)."""
    terms = []
    for total in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(n_vars), total):
            powers = [0] * n_vars
            for i in combo:
                powers[i] += 1
            terms.append(tuple(powers))
    return terms


def _features(x: np.ndarray, terms) -> np.ndarray:
    return np.column_stack([np.prod(x ** np.asarray(t), axis=1) for t in terms])


def _expr(coef, terms, symbols) -> sympy.Expr:
    out = sympy.Integer(0)
    for c, t in zip(coef, terms, strict=False):
        if c == 0:
            continue
        term = sympy.Integer(1)
        for sym, p in zip(symbols, t, strict=False):
            term = term * sym ** p
        out = out + sympy.Float(float(c)) * term
    return out


def _prune(a: np.ndarray, y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Backward elimination: drop the weakest term while the fit error stays within 1e-6
    relative (noiseless) or grows by < 1 % (noisy) of the full fit's error."""
    def solve(mask):
        coef = np.zeros(a.shape[1])
        sol, *_ = np.linalg.lstsq(a[:, mask], y, rcond=None)
        coef[mask] = sol
        return coef, float(np.sqrt(np.mean((a @ coef - y) ** 2)))

    coef, err = solve(keep)
    scale = float(np.std(y)) or 1.0
    allowed = max(err * 1.01, err + 1e-9 * scale)
    while keep.sum() > 1:
        contrib = np.abs(coef) * np.sqrt(np.mean(a ** 2, axis=0))
        contrib[~keep] = np.inf
        trial = keep.copy()
        trial[int(np.argmin(contrib))] = False
        c2, e2 = solve(trial)
        if e2 > allowed:
            break
        keep, coef = trial, c2
    return coef


def polynomial_fit(x: np.ndarray, y: np.ndarray, symbols, degree: int = 3) -> list[Candidate]:
    out = []
    for deg in range(1, degree + 1):
        terms = monomial_terms(x.shape[1], deg)
        if len(terms) > MAX_TERMS:
            break
        a = _features(x, terms)
        coef = _prune(a, y, np.ones(len(terms), dtype=bool))
        out.append(Candidate(_expr(coef, terms, symbols), f"polynomial{deg}"))
    return out


def rational_fit(x: np.ndarray, y: np.ndarray, symbols) -> list[Candidate]:
    """y = P/Q with deg P, deg Q <= 2 (up to 3 for three inputs or fewer, 4 for one input);
    Q has no constant-free zero at the data."""
    out = []
    degrees = [(1, 1), (2, 1), (2, 2)]
    if x.shape[1] <= 3:
        degrees += [(3, 2), (2, 3)]
    if x.shape[1] <= 2:
        degrees += [(4, 2), (3, 3)]
    if x.shape[1] == 1:
        degrees += [(4, 4)]
    for deg_p, deg_q in degrees:
        tp = monomial_terms(x.shape[1], deg_p)
        tq = monomial_terms(x.shape[1], deg_q)
        if len(tp) + len(tq) > MAX_TERMS:
            break
        p = _features(x, tp)
        q = _features(x, tq)
        a = np.hstack([p, -y[:, None] * q])
        norms = np.sqrt(np.mean(a ** 2, axis=0))
        norms[norms == 0] = 1.0
        try:
            _, _, vt = np.linalg.svd(a / norms, full_matrices=False)
        except np.linalg.LinAlgError:
            continue
        w = vt[-1] / norms
        w = _sparsify(a, w)
        if not _exact_ratio(p, q, y, w):  # noise (or the wrong degrees): least squares in y
            w2 = _weighted_ratio(p, q, y, w)
            if np.any(w2[len(tp) + 1:]) and _sse(p, q, y, w2) <= _sse(p, q, y, w):
                w = w2
        wp, wq = w[:len(tp)], w[len(tp):]
        big = np.max(np.abs(wq)) if np.any(wq) else 0.0
        if big == 0 or not math.isfinite(big):
            continue
        lead = wq[np.argmax(np.abs(wq))]
        num = _expr(wp / lead, tp, symbols)
        den = _expr(wq / lead, tq, symbols)
        if num == 0 or den.is_number:
            continue
        out.append(Candidate(num / den, f"rational{deg_p}{deg_q}"))
    return out


def _sparsify(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Zero the weakest coefficients of the null vector while the residual stays small."""
    col = np.sqrt(np.mean(a ** 2, axis=0))
    col[col == 0] = 1.0

    def residual(vec):
        big = np.max(np.abs(vec) * col)
        return float(np.sqrt(np.mean((a @ (vec / big)) ** 2))) if big > 0 else math.inf

    def refit(mask):
        _, _, vt = np.linalg.svd(a[:, mask] / col[mask], full_matrices=False)
        vec = np.zeros(len(w))
        vec[mask] = vt[-1] / col[mask]
        return vec

    keep = np.ones(len(w), dtype=bool)
    allowed = max(residual(w) * 1.01, residual(w) + 1e-10)
    while keep.sum() > 2:
        contrib = np.abs(w) * col
        contrib[~keep] = np.inf
        trial = keep.copy()
        trial[int(np.argmin(contrib))] = False
        vec = refit(trial)
        if residual(vec) > allowed:
            break
        keep, w = trial, vec
    return w


EXACT_RATIO = 1e-9
SK_ITERATIONS = 4
DROP_LEVEL = 0.999  # chi2 quantile: terms dropped while the SSE they add is noise


def _ratio_error(p, q, y, w) -> np.ndarray:
    den = q @ w[p.shape[1]:]
    with np.errstate(all="ignore"):
        return (p @ w[:p.shape[1]]) / den - y


def _sse(p, q, y, w) -> float:
    err = _ratio_error(p, q, y, w)
    return float(err @ err) if np.all(np.isfinite(err)) else math.inf


def _exact_ratio(p, q, y, w) -> bool:
    err = _ratio_error(p, q, y, w)
    return bool(np.all(np.isfinite(err))) and \
        float(np.sqrt(np.mean(err ** 2))) <= EXACT_RATIO * (float(np.std(y)) or 1.0)


def _weighted_ratio(p, q, y, w) -> np.ndarray:
    """P/Q by least squares in y's units: the null vector of y*Q - P over every term,
    reweighted by 1/|Q| of the previous iterate (Sanathanan-Koerner, in the homogeneous
    form, so no coefficient need be fixed), then terms dropped while the SSE they add
    stays within what noise explains (a chi2 test). Falls back to ``w``."""
    from scipy.stats import chi2

    n_p = p.shape[1]
    a = np.hstack([p, -y[:, None] * q])
    norms = np.sqrt(np.mean(a ** 2, axis=0))
    norms[norms == 0] = 1.0

    def null(mask, weights):
        vec = np.zeros(a.shape[1])
        try:
            _, _, vt = np.linalg.svd(a[:, mask] * weights[:, None] / norms[mask],
                                     full_matrices=False)
        except np.linalg.LinAlgError:
            return None
        vec[mask] = vt[-1] / norms[mask]
        return vec

    def sse(vec):
        return math.inf if vec is None else _sse(p, q, y, vec)

    mask = np.ones(a.shape[1], dtype=bool)
    weights = np.ones(len(y))
    best = w
    for _ in range(SK_ITERATIONS):
        vec = null(mask, weights)
        if vec is None:
            break
        den = np.abs(q @ vec[n_p:])
        if not np.all(den > 1e-12 * (np.max(den) or 1.0)):
            break
        best, weights = vec, 1.0 / den
    w = best
    base = sse(w)
    if not math.isfinite(base):
        return w
    variance = base / max(len(y) - int(np.count_nonzero(w)), 1)
    mask = w != 0
    dropped = 0
    while mask.sum() > 2:
        trials = []
        for k in np.flatnonzero(mask):
            trial = mask.copy()
            trial[k] = False
            if not trial[n_p:].any() or not trial[:n_p].any():
                continue
            vec = null(trial, weights)
            trials.append((sse(vec), trial, vec))
        if not trials:
            break
        value, trial, vec = min(trials, key=lambda t: t[0])
        if not value <= base + float(chi2.ppf(DROP_LEVEL, dropped + 1)) * variance:
            break
        mask, w, dropped = trial, vec, dropped + 1
    return w
