"""Sparse regression on a library of basis functions (for one to three inputs).

y ~ c0 + sum_k c_k * phi_k(x), with phi_k from a fixed library: powers, 1/x, sqrt, log,
log(1 + x), log(1 + x^2), exp(+-x), exp(-x^2), sin, cos, sin(x^2), cos(x^2) of each input,
products of two such functions (of one input or of two), and the input pairs' products.
Terms are chosen by forward stepwise selection (the term that lowers the residual most,
then a backward pass), and the model size by an information criterion (BIC) on the
training rows; every size's model is returned, the search ranks them on its holdout.
Sums of unlike pieces of one variable (x + sin(x^2), x^2*exp(-x) after log) are out of
reach of the separable splits; this finds them when the pieces are in the library.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from .candidate import Candidate

MAX_VARS = 3
MAX_TERMS = 6
MAX_FEATURES = 400
SWAP_PASSES = 3
NEGLIGIBLE = 1e-9  # a term this small against std(y) is round-off, left out
EXACT = 1e-10  # relative residual at which selection stops: the law is in the library


def _unary(v: np.ndarray, s: sympy.Symbol) -> list[tuple[np.ndarray, sympy.Expr]]:
    """(values, expression) of each library function of one input defined on ``v``."""
    span = float(np.ptp(v)) or 1.0
    out = [(v ** k, s ** k) for k in range(1, 6)]
    with np.errstate(all="ignore"):
        if np.min(np.abs(v)) > 1e-3 * span:
            out += [(1.0 / v, 1 / s), (1.0 / v ** 2, 1 / s ** 2)]
        if np.min(v) >= 0:
            out.append((np.sqrt(v), sympy.sqrt(s)))
        if np.min(v) > 1e-3 * span:
            out.append((np.log(v), sympy.log(s)))
        if np.min(v) > -1 + 1e-3 * span:
            out.append((np.log1p(v), sympy.log(s + 1)))
        out.append((np.log1p(v * v), sympy.log(s ** 2 + 1)))
        if np.max(np.abs(v)) <= 20:
            out += [(np.exp(v), sympy.exp(s)), (np.exp(-v), sympy.exp(-s)),
                    (np.exp(-v * v), sympy.exp(-s ** 2))]
        out += [(np.sin(v), sympy.sin(s)), (np.cos(v), sympy.cos(s)),
                (np.sin(v * v), sympy.sin(s ** 2)), (np.cos(v * v), sympy.cos(s ** 2))]
    return out


def _short(feats, s: sympy.Symbol):
    """The functions of one input that enter products with another input's."""
    wanted = {s, s ** 2, sympy.sin(s), sympy.cos(s), sympy.exp(s), sympy.exp(-s),
              sympy.log(s), 1 / s, sympy.sqrt(s)}
    return [(v, e) for v, e in feats if e in wanted]


def _library(x: np.ndarray, symbols) -> tuple[np.ndarray, list[sympy.Expr]]:
    cols, exprs = [], []
    per_var = [_unary(x[:, i], symbols[i]) for i in range(x.shape[1])]
    for feats in per_var:
        for v, e in feats:
            cols.append(v)
            exprs.append(e)
        for (pv, pe), (ov, oe) in ((p, o) for p in feats[:2] for o in feats[5:]):
            cols.append(pv * ov)  # x*sin(x), x**2*exp(-x), ...
            exprs.append(pe * oe)
        trig = [(v, e) for v, e in feats if e.has(sympy.sin) or e.has(sympy.cos)]
        for a in range(len(trig)):
            for b in range(a + 1, len(trig)):
                cols.append(trig[a][0] * trig[b][0])  # sin(x**2)*cos(x), ...
                exprs.append(trig[a][1] * trig[b][1])
    for i in range(len(per_var)):
        for j in range(i + 1, len(per_var)):
            for vi, ei in _short(per_var[i], symbols[i]):
                for vj, ej in _short(per_var[j], symbols[j]):
                    cols.append(vi * vj)
                    exprs.append(ei * ej)
    a = np.column_stack(cols)
    keep = np.all(np.isfinite(a), axis=0) & (np.std(a, axis=0) > 1e-12)
    a, exprs = a[:, keep], [e for e, k in zip(exprs, keep, strict=False) if k]
    return a[:, :MAX_FEATURES], exprs[:MAX_FEATURES]


def _lstsq(a: np.ndarray, y: np.ndarray, cols: list[int]):
    design = np.column_stack([np.ones(len(y))] + [a[:, c] for c in cols])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = design @ coef - y
    return coef, float(resid @ resid)


def _best_addition(u: np.ndarray, y: np.ndarray, chosen: list[int]) -> tuple[int, float]:
    """The column whose addition to ``chosen`` lowers the residual most, and that gain."""
    n = len(y)
    basis, _ = np.linalg.qr(np.column_stack([np.ones(n)] + [u[:, c] for c in chosen]))
    resid = y - basis @ (basis.T @ y)
    q = u - basis @ (basis.T @ u)
    norms = np.sum(q * q, axis=0)
    gain = np.where(norms > 1e-10 * n, (q.T @ resid) ** 2 / np.maximum(norms, 1e-300), 0.0)
    gain[chosen] = 0.0
    best = int(np.argmax(gain))
    return best, float(gain[best])


def _forward(a: np.ndarray, y: np.ndarray, total: float):
    """Forward stepwise selection, each size improved by swaps (a term replaced by the
    column that then lowers the residual most, while that helps); the chosen columns, the
    coefficients and the SSE per model size."""
    u = (a - a.mean(axis=0)) / a.std(axis=0)
    chosen: list[int] = []
    models = []
    for _ in range(MAX_TERMS):
        best, gain = _best_addition(u, y, chosen)
        if gain <= 0:
            break
        chosen.append(best)
        _, sse = _lstsq(a, y, chosen)
        for _ in range(SWAP_PASSES):
            improved = False
            for k in list(chosen):
                rest = [c for c in chosen if c != k]
                new, _ = _best_addition(u, y, rest)
                if new == k or new in rest:
                    continue
                _, trial = _lstsq(a, y, rest + [new])
                if trial < sse * (1 - 1e-9):
                    chosen, sse, improved = rest + [new], trial, True
            if not improved:
                break
        coef, sse = _lstsq(a, y, chosen)
        models.append((list(chosen), coef, sse))
        if sse <= (EXACT ** 2) * total:
            break
    return models


def basis_fit(x: np.ndarray, y: np.ndarray, symbols) -> list[Candidate]:
    """Sparse library regressions of y: the BIC-best size and every size up to it."""
    if x.shape[1] > MAX_VARS or len(y) < 20:
        return []
    a, exprs = _library(x, symbols)
    if a.shape[1] == 0:
        return []
    n = len(y)
    total = float(np.sum((y - y.mean()) ** 2)) or 1.0
    models = _forward(a, y, total)
    if not models:
        return []
    bic = [n * math.log(max(sse, 1e-300 * total) / n) + (len(cols) + 1) * math.log(n)
           for cols, _, sse in models]
    best = int(np.argmin(bic))
    out = []
    size = float(np.std(y)) or 1.0
    for cols, coef, _ in models[:best + 1]:
        terms = [sympy.Float(float(c)) * exprs[k] for c, k in zip(coef[1:], cols, strict=False)
                 if abs(c) * float(np.std(a[:, k])) > NEGLIGIBLE * size]  # round-off terms
        out.append(Candidate(sympy.Float(float(coef[0])) + sympy.Add(*terms),
                             f"basis{len(terms)}"))
    return out
