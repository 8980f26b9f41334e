"""A smooth surrogate of the data: Gaussian-kernel ridge regression with exact derivatives.

It stands in for the unknown law wherever the search needs values or derivatives at points
the data does not have: mixed second derivatives for the separability tests, and the
values of one factor with the other variables held fixed. Inputs are scaled to the unit
box, the length scale and ridge are chosen on a holdout, and the fit is one Cholesky solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_POINTS = 900
LENGTHS = (0.2, 0.35, 0.6, 1.0, 1.6)
RIDGES = (1e-10, 1e-6, 1e-3)


@dataclass
class Surrogate:
    centers: np.ndarray  # (m, d) in unit-box coordinates
    alpha: np.ndarray  # (m,)
    low: np.ndarray
    span: np.ndarray
    length: float
    y_shift: float
    y_scale: float
    holdout_rmse: float  # in the units of y
    log_inputs: np.ndarray | None = None  # columns modelled in log(x) (positive, wide)
    linear: np.ndarray | None = None  # (1 + d,): the linear mean in unit coordinates

    def _kernel(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diff = u[:, None, :] - self.centers[None, :, :]  # (p, m, d)
        k = np.exp(-0.5 * np.sum(diff * diff, axis=2) / self.length**2)
        return k, diff

    def _unit(self, x: np.ndarray) -> np.ndarray:
        return (_warp(np.asarray(x, dtype=np.float64), self.log_inputs) - self.low) / self.span

    def _chain(self, x: np.ndarray) -> np.ndarray:
        """d u_i / d x_i (u: the unit-box coordinate)."""
        x = np.asarray(x, dtype=np.float64)
        du = np.ones_like(x)
        if self.log_inputs is not None:
            du[:, self.log_inputs] = 1.0 / x[:, self.log_inputs]
        return du / self.span

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = []
        u = self._unit(x)
        for start in range(0, len(u), 512):
            k, _ = self._kernel(u[start:start + 512])
            out.append(k @ self.alpha + self.linear[0] + u[start:start + 512] @ self.linear[1:])
        return self.y_shift + self.y_scale * np.concatenate(out)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """(p, d): df/dx_i in the units of x."""
        k, diff = self._kernel(self._unit(x))
        grad = -np.einsum("pm,pmd,m->pd", k, diff, self.alpha) / self.length**2
        grad = grad + self.linear[1:]
        return self.y_scale * grad * self._chain(x)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """(p, d, d): d2f/dx_i dx_j in the units of x."""
        k, diff = self._kernel(self._unit(x))
        l2 = self.length**2
        outer = np.einsum("pm,pmi,pmj,m->pij", k, diff, diff, self.alpha) / l2**2
        diag = np.einsum("pm,m->p", k, self.alpha) / l2
        h = outer - diag[:, None, None] * np.eye(x.shape[1])[None]
        du = self._chain(x)
        h = h * du[:, :, None] * du[:, None, :]
        if self.log_inputs is not None:  # second derivative of u = log x: -1/x^2
            g = (-np.einsum("pm,pmd,m->pd", k, diff, self.alpha) / l2
                 + self.linear[1:]) / self.span
            x = np.asarray(x, dtype=np.float64)
            for i in np.flatnonzero(self.log_inputs):
                h[:, i, i] -= g[:, i] / x[:, i] ** 2
        return self.y_scale * h


def _solve(k: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray | None:
    try:
        chol = np.linalg.cholesky(k + ridge * np.eye(len(k)))
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(chol.T, np.linalg.solve(chol, y))


def _warp(x: np.ndarray, log_inputs) -> np.ndarray:
    if log_inputs is None or not np.any(log_inputs):
        return x
    out = x.copy()
    out[:, log_inputs] = np.log(x[:, log_inputs])
    return out


def fit_surrogate(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Surrogate:
    """Fit on up to MAX_POINTS rows, in x and (for positive inputs that span a wide ratio)
    in log x; the input space, length scale and ridge are chosen on a 20 % holdout."""
    x = np.asarray(x, dtype=np.float64)
    wide = np.all(x > 0, axis=0) & (x.max(axis=0) > 3 * x.min(axis=0))
    best = _fit(x, y, seed, None)
    if np.any(wide):
        warped = _fit(x, y, seed, wide)
        if warped.holdout_rmse < best.holdout_rmse:
            best = warped
    return best


def _fit(x: np.ndarray, y: np.ndarray, seed: int, log_inputs) -> Surrogate:
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_hold = max(20, len(x) // 5)
    hold, train = order[:n_hold], order[n_hold:n_hold + MAX_POINTS]
    x = _warp(x, log_inputs)
    low = x.min(axis=0)
    span = np.where(x.max(axis=0) > low, x.max(axis=0) - low, 1.0)
    u = (x - low) / span
    y_shift = float(np.mean(y[train]))
    y_scale = float(np.std(y[train])) or 1.0
    t = (y[train] - y_shift) / y_scale
    design = np.column_stack([np.ones(len(train)), u[train]])
    linear, *_ = np.linalg.lstsq(design, t, rcond=None)
    t = t - design @ linear
    mean_hold = y_shift + y_scale * (np.column_stack([np.ones(len(hold)), u[hold]]) @ linear)
    d2 = np.sum((u[train][:, None] - u[train][None]) ** 2, axis=2)
    d2_hold = np.sum((u[hold][:, None] - u[train][None]) ** 2, axis=2)
    best = None
    for length in LENGTHS:
        k = np.exp(-0.5 * d2 / length**2)
        k_hold = np.exp(-0.5 * d2_hold / length**2)
        for ridge in RIDGES:
            alpha = _solve(k, t, ridge)
            if alpha is None:
                continue
            pred = mean_hold + y_scale * (k_hold @ alpha)
            err = float(np.sqrt(np.mean((pred - y[hold]) ** 2)))
            if np.isfinite(err) and (best is None or err < best[0]):
                best = (err, length, alpha)
    if best is None:
        raise ValueError("the surrogate could not be fitted (singular kernel at every setting)")
    err, length, alpha = best
    return Surrogate(centers=u[train], alpha=alpha, low=low, span=span, length=length,
                     y_shift=y_shift, y_scale=y_scale, holdout_rmse=err,
                     log_inputs=log_inputs, linear=linear)
