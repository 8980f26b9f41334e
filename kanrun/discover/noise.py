"""The noise floor: how closely any formula can fit this data.

The gamma test: for the k nearest neighbours of each point, half the mean squared
difference of the outputs grows linearly with the mean squared distance; its value at
distance zero is the noise variance. Noiseless data gives ~0 (clipped at 0).
"""

from __future__ import annotations

import numpy as np

K_NEIGHBOURS = 8
MAX_POINTS = 800


def noise_floor(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """Estimated standard deviation of the noise in ``y`` (units of y, >= 0)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) > MAX_POINTS:
        keep = np.random.default_rng(seed).choice(len(x), MAX_POINTS, replace=False)
        x, y = x[keep], y[keep]
    span = np.ptp(x, axis=0)
    u = x / np.where(span > 0, span, 1.0)
    d2 = np.sum((u[:, None] - u[None]) ** 2, axis=2)
    np.fill_diagonal(d2, np.inf)
    k = min(K_NEIGHBOURS, len(x) - 1)
    nearest = np.argsort(d2, axis=1)[:, :k]
    rows = np.arange(len(x))[:, None]
    delta = d2[rows, nearest]
    gamma = 0.5 * (y[nearest] - y[:, None]) ** 2
    dm, gm = delta.mean(axis=0), gamma.mean(axis=0)
    slope, intercept = np.polyfit(dm, gm, 1)
    return float(np.sqrt(max(intercept, 0.0)))


def estimate_noise(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """The smaller of the gamma test and the holdout RMSE of a smooth surrogate (each
    overestimates in its own way: the gamma test where the law is steep, the surrogate
    where it is hard to fit)."""
    from .surrogate import fit_surrogate

    floor = noise_floor(x, y, seed=seed)
    if floor > 0:
        floor = min(floor, fit_surrogate(x, y, seed=seed).holdout_rmse)
    return floor
