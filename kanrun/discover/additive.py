"""Separability tests by additive models, fitted by linear least squares on the data.

t = c + sum over groups G of f_G(x_G), each f_G a polynomial in the (warped, scaled)
variables of G. A pair (i, j) interacts when adding the tensor terms of (i, j) to the
all-singletons model cuts its residual sharply; the groups are the connected components.
On t = log|y| with log-warped positive inputs, monomial factors are fitted exactly, so
multiplicative separability is seen without any surrogate.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.polynomial import legendre

from .separability import components

DEGREE_1D = 6
DEGREE_2D = 5
PAIR_GAIN = 0.6  # the pair interacts when its terms leave < 60 % of the residual
EXACT = 1e-9
EXPLAINED = 0.1  # a split is believed when the grouped model leaves < 10 % of std(t)


def warp(x: np.ndarray, logs: bool) -> np.ndarray:
    """Inputs in [-1, 1]; positive columns spanning a ratio > 3 first in log (if ``logs``)."""
    out = np.array(x, dtype=np.float64)
    if logs:
        wide = np.all(out > 0, axis=0) & (out.max(axis=0) > 3 * out.min(axis=0))
        out[:, wide] = np.log(out[:, wide])
    low, high = out.min(axis=0), out.max(axis=0)
    return 2 * (out - low) / np.where(high > low, high - low, 1.0) - 1


def _basis1(u: np.ndarray, degree: int) -> np.ndarray:
    return legendre.legvander(u, degree)[:, 1:]


def _group_basis(u: np.ndarray, group, degree: int) -> np.ndarray:
    if len(group) == 1:
        return _basis1(u[:, group[0]], degree)
    cols = []
    per = [legendre.legvander(u[:, i], degree) for i in group]
    for powers in itertools.product(range(degree + 1), repeat=len(group)):
        if 0 < sum(powers) <= degree:
            col = np.ones(len(u))
            for v, p in zip(per, powers, strict=False):
                col = col * v[:, p]
            cols.append(col)
    return np.column_stack(cols)


def group_fit(u: np.ndarray, t: np.ndarray, groups) -> tuple[float, list[np.ndarray]]:
    """RMS residual of the grouped additive model and each group's fitted values."""
    blocks = []
    for g in groups:
        degree = DEGREE_1D if len(g) == 1 else max(2, DEGREE_2D - len(g) + 2)
        blocks.append(_group_basis(u, g, degree))
    design = np.hstack([np.ones((len(t), 1)), *blocks])
    coef, *_ = np.linalg.lstsq(design, t, rcond=None)
    resid = float(np.sqrt(np.mean((design @ coef - t) ** 2)))
    parts, start = [], 1
    for b in blocks:
        parts.append(b @ coef[start:start + b.shape[1]])
        start += b.shape[1]
    parts[0] = parts[0] + coef[0]
    return resid, parts


def additive_groups(x: np.ndarray, t: np.ndarray, logs: bool):
    """(groups, group values, residual) of the additive model of ``t``; one group = no split."""
    u = warp(x, logs)
    d = x.shape[1]
    singles = [[i] for i in range(d)]
    base, _ = group_fit(u, t, singles)
    scale = float(np.std(t)) or 1.0
    matrix = np.zeros((d, d))
    if base > EXACT * scale:
        for i, j in itertools.combinations(range(d), 2):
            rest = [[k] for k in range(d) if k not in (i, j)]
            with_pair, _ = group_fit(u, t, rest + [[i, j]])
            matrix[i, j] = matrix[j, i] = 1.0 if with_pair < PAIR_GAIN * base else 0.0
    groups = components(matrix, 0.5)
    resid, parts = group_fit(u, t, groups)
    if resid > EXPLAINED * scale:
        return [list(range(d))], [t], resid
    return groups, parts, resid
