"""Affine fit of sampled edge activations: y ~ c * f(a * x + b) + d.

The hot path of auto-symbolic. For every (edge, function) pair:

1. a coarse grid over (a, b) in ``a_range x b_range`` scored by r2 (``c, d`` are linear, so
   for fixed (a, b) the best r2 is the squared correlation of f(a x + b) with y);
2. the best few local maxima of that grid are zoomed into (grid refinement, pykan's
   ``fit_params`` idea) until the cell is tiny;
3. ``c, d`` by least squares on up to ``n_final`` samples, r2 reported there.

Everything is batched over edges and grid cells; only the elementwise function itself is
applied once per library entry. Candidates whose argument leaves the function's domain
(``SymbolicFunction.domain``) or makes it non-finite are rejected, never clipped into shape.

Ranking uses ``score_r2 = r2 * var_f / (var_f + delta * (var_f + mean_f^2))``: pykan damps
r2 for nearly-constant f(a x + b) (its ``+1e-4``); this scale-free version keeps degenerate
fits such as ``cos(0.001 x)`` imitating ``x^2`` from tying with the real thing.
:func:`polish_affine` then refines chosen fits by Levenberg-Marquardt on all four parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .library import SymbolicFunction

DEGENERACY = 1e-8
_CHUNK = 2_000_000  # elements of one (edges x cells x samples) block


class AffineFitError(ValueError):
    """Bad inputs to the affine fit (shapes, ranges, grid sizes)."""


@dataclass
class AffineFit:
    """Fits of every function to every edge: ``params[e, f] = (a, b, c, d)``.

    ``r2`` is the coefficient of determination (NaN where no valid fit exists) and
    ``score_r2`` the degeneracy-damped r2 used for ranking (-inf where invalid).
    """

    names: list[str]
    params: torch.Tensor  # (E, F, 4)
    r2: torch.Tensor  # (E, F)
    score_r2: torch.Tensor  # (E, F)


def _subsample(x: torch.Tensor, y: torch.Tensor, m: int):
    """Sort each row by x and keep ``m`` rows evenly spaced in rank (both ends included)."""
    order = torch.argsort(x, dim=1)
    n = x.shape[1]
    if n > m:
        pos = torch.linspace(0, n - 1, m, dtype=torch.float64, device=x.device).round().long()
        order = order[:, pos]
    return x.gather(1, order), y.gather(1, order)


def _r2_scores(fu: torch.Tensor, yc: torch.Tensor, syy: torch.Tensor):
    """Squared correlation of f-values with centered y, and its damped version.

    ``fu`` (..., m); ``yc`` broadcastable to it; ``syy`` the matching sum of yc^2.
    Two-pass (centered) formulas: used where accuracy near r2 = 1 matters.
    """
    m = fu.shape[-1]
    fm = fu.mean(-1, keepdim=True)
    fc = fu - fm
    sff = (fc * fc).sum(-1)
    sfy = (fc * yc).sum(-1)
    total = sff + fm.squeeze(-1) ** 2 * m
    return _finish_scores(sff, sfy, total, syy)


def _finish_scores(sff, sfy, total, syy):
    r2 = sfy**2 / (sff * syy)
    ok = torch.isfinite(r2) & (sff > 1e-12 * total)
    score = r2 * sff / (sff + DEGENERACY * total)
    return torch.where(ok, r2, torch.nan), torch.where(ok, score, -torch.inf)


def _grid_scores(fu: torch.Tensor, ones_yc: torch.Tensor, syy: torch.Tensor):
    """Damped r2 of f-values (E, G, m) against ``ones_yc`` (E, m, 2) = [1, centered y].

    One-pass sums (a matmul and a dot product): the grid search's hot loop.
    """
    m = fu.shape[-1]
    sums = fu @ ones_yc  # (E, G, 2): sum f, sum f * yc
    total = torch.linalg.vecdot(fu, fu)
    sff = total - sums[..., 0] ** 2 / m
    return _finish_scores(sff, sums[..., 1], total, syy[:, None])[1]


def _domain_ok(fn: SymbolicFunction, a, b, xmin, xmax):
    if fn.domain is None:
        return torch.ones_like(a + b, dtype=torch.bool)
    u1, u2 = a * xmin + b, a * xmax + b
    return fn.domain(torch.minimum(u1, u2), torch.maximum(u1, u2))


def _coarse(fns, xs, ones_yc, syy, xmin, xmax, a, b):
    """Damped r2 on the (a, b) grid for every function: (F, E, Na, Nb)."""
    E, m = xs.shape
    na, nb = len(a), len(b)
    out = torch.empty(len(fns), E, na, nb, dtype=xs.dtype, device=xs.device)
    step = max(1, _CHUNK // (na * nb * m))
    for s in range(0, E, step):
        sl = slice(s, s + step)
        e = xs[sl].shape[0]
        u = torch.addcmul(b[None, None, :, None], a[None, :, None, None], xs[sl, None, None, :])
        for k, fn in enumerate(fns):
            sc = _grid_scores(fn.exact(u).view(e, na * nb, m), ones_yc[sl], syy[sl])
            ok = _domain_ok(fn, a[None, :, None], b[None, None, :], xmin[sl, None, None],
                            xmax[sl, None, None])
            out[k, sl] = torch.where(ok, sc.view(e, na, nb), -torch.inf)
    return out


def _zoom(fn, score, xs, ones_yc, syy, xmin, xmax, a, b, zoom_grid, zoom_steps, peaks):
    """Refine the best local maxima of one function's coarse map: best (a, b) per edge."""
    E, m = xs.shape
    na, nb = score.shape[1:]
    pooled = F.max_pool2d(score.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)
    key = torch.where((score >= pooled) & torch.isfinite(score), score, -torch.inf)
    best, flat = key.flatten(1).topk(min(peaks, na * nb), dim=1)
    ac, bc = a[flat // nb], b[flat % nb]
    ha = float(a[1] - a[0]) if na > 1 else 1.0
    hb = float(b[1] - b[0]) if nb > 1 else 1.0
    offs = torch.linspace(-1.0, 1.0, zoom_grid, device=xs.device, dtype=xs.dtype)
    K = ac.shape[1]
    for _ in range(zoom_steps):
        az = ac[..., None] + ha * offs  # (E, K, Nz)
        bz = bc[..., None] + hb * offs
        u = torch.addcmul(bz[..., None, :, None], az[..., :, None, None],
                          xs[:, None, None, None, :])
        sc = _grid_scores(fn.exact(u).view(E, K * zoom_grid**2, m), ones_yc, syy)
        ok = _domain_ok(fn, az[..., :, None], bz[..., None, :], xmin[:, None, None, None],
                        xmax[:, None, None, None])
        sc = torch.where(ok, sc.view(ok.shape), -torch.inf).flatten(2)  # (E, K, Nz*Nz)
        val, idx = sc.max(-1)
        better = val > best
        ac = torch.where(better, az.gather(-1, (idx // zoom_grid)[..., None]).squeeze(-1), ac)
        bc = torch.where(better, bz.gather(-1, (idx % zoom_grid)[..., None]).squeeze(-1), bc)
        best = torch.maximum(best, val)
        ha, hb = 2 * ha / (zoom_grid - 1), 2 * hb / (zoom_grid - 1)
    pick = best.argmax(1, keepdim=True)
    return ac.gather(1, pick).squeeze(1), bc.gather(1, pick).squeeze(1)


def linear_cd(fn: SymbolicFunction, x, y, a, b):
    """Least-squares (c, d), r2 and damped r2 for fixed (a, b); all per row of x, y (E, n)."""
    fu = fn.exact(a[:, None] * x + b[:, None])
    ym = y.mean(1, keepdim=True)
    yc = y - ym
    syy = (yc * yc).sum(1)
    r2, score = _r2_scores(fu, yc, syy)
    fm = fu.mean(1, keepdim=True)
    fc = fu - fm
    c = (fc * yc).sum(1) / (fc * fc).sum(1)
    d = ym.squeeze(1) - c * fm.squeeze(1)
    ok = _domain_ok(fn, a, b, x.min(1).values, x.max(1).values) & torch.isfinite(c + d)
    c, d = torch.where(ok, c, 0.0), torch.where(ok, d, ym.squeeze(1))
    return c, d, torch.where(ok, r2, torch.nan), torch.where(ok, score, -torch.inf)


def fit_affine(x, y, functions: list[SymbolicFunction], a_range=(-10.0, 10.0),
               b_range=(-10.0, 10.0), grid: int = 41, zoom_grid: int = 11, zoom_steps: int = 4,
               peaks: int = 3, n_search: int = 64, n_final: int = 1024) -> AffineFit:
    """Fit every function in ``functions`` to every row of ``x, y`` (E, n) (or 1-D pairs).

    Computations run in float64 on the inputs' device.
    """
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    if x.dim() == 1:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.shape != y.shape or x.dim() != 2 or x.shape[1] < 3:
        raise AffineFitError(
            f"x and y must both be (edges, samples) with >= 3 samples, got {tuple(x.shape)} "
            f"and {tuple(y.shape)}")
    if grid < 3 or zoom_grid < 3 or zoom_grid % 2 == 0:
        raise AffineFitError("grid must be >= 3 and zoom_grid odd and >= 3")
    if not (a_range[1] > a_range[0] and b_range[1] > b_range[0]):
        raise AffineFitError(f"ranges must be (low, high), got {a_range} and {b_range}")
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise AffineFitError("the sampled activations contain NaN or inf; check the model")
    E = x.shape[0]
    xf, yf = _subsample(x, y, n_final)
    xs, ys = _subsample(xf, yf, n_search)
    xmin, xmax = xf[:, 0], xf[:, -1]
    yc = ys - ys.mean(1, keepdim=True)
    syy = (yc * yc).sum(1)
    const = (yf.std(1) <= 1e-12 * (1 + yf.abs().max(1).values))
    syy = torch.where(syy > 0, syy, torch.ones_like(syy))
    ones_yc = torch.stack([torch.ones_like(yc), yc], -1)  # (E, m, 2)
    ymean = yf.mean(1)
    n_fn = len(functions)
    params = torch.zeros(E, n_fn, 4, dtype=torch.float64, device=x.device)
    r2 = torch.full((E, n_fn), torch.nan, dtype=torch.float64, device=x.device)
    score = torch.full((E, n_fn), -torch.inf, dtype=torch.float64, device=x.device)
    ones, zeros = torch.ones(E, dtype=x.dtype, device=x.device), torch.zeros_like(ymean)
    dev = x.device
    a_grid = torch.linspace(a_range[0], a_range[1], grid, device=dev, dtype=torch.float64)
    b_grid = torch.linspace(b_range[0], b_range[1], grid, device=dev, dtype=torch.float64)
    searched = [fn for fn in functions if fn.name not in ("0", "x")]
    coarse = _coarse(searched, xs, ones_yc, syy, xmin, xmax, a_grid, b_grid)
    for k, fn in enumerate(functions):
        if fn.name == "0":
            params[:, k] = torch.stack([ones, zeros, ones, ymean], 1)
            r2[:, k] = torch.where(const, 1.0, 0.0)
            score[:, k] = r2[:, k]
            continue
        if fn.name == "x":
            a, b = ones, zeros
        else:
            a, b = _zoom(fn, coarse[searched.index(fn)], xs, ones_yc, syy, xmin, xmax,
                         a_grid, b_grid, zoom_grid, zoom_steps, peaks)
        c, d, r2k, sk = linear_cd(fn, xf, yf, a, b)
        params[:, k] = torch.stack([a, b, c, d], 1)
        valid = torch.isfinite(sk) | (const & torch.isfinite(c + d))
        if fn.domain is not None:
            valid &= _domain_ok(fn, a, b, xmin, xmax)
        r2[:, k] = torch.where(valid, torch.where(const, 0.0, r2k), torch.nan)
        score[:, k] = torch.where(valid, torch.where(const, 0.0, sk), -torch.inf)
    return AffineFit([fn.name for fn in functions], params, r2, score)


def _values(fn: SymbolicFunction, x, p, with_grad: bool):
    a, b = p[:, 0:1], p[:, 1:2]
    u = (a * x + b).detach()
    if not with_grad:
        return fn.exact(u), None
    with torch.enable_grad():
        u.requires_grad_(True)
        fu = fn.exact(u)
        if not fu.requires_grad:
            return fu.detach(), torch.zeros_like(u)
        (fp,) = torch.autograd.grad(fu.sum(), u)
    return fu.detach(), fp


def _ssr(fn, x, y, p):
    fu, _ = _values(fn, x, p, False)
    res = ((p[:, 2:3] * fu + p[:, 3:4] - y) ** 2).sum(1)
    ok = _domain_ok(fn, p[:, 0], p[:, 1], x.min(1).values, x.max(1).values) & torch.isfinite(res)
    return torch.where(ok, res, torch.inf)


def polish_affine(fn: SymbolicFunction, x, y, params, iters: int = 30, n_max: int = 1024):
    """Levenberg-Marquardt on (a, b, c, d) from ``params`` (E, 4) for rows of x, y (E, n).

    Steps that leave the domain or do not lower the squared error are rejected, so the
    result is never worse than the start. Returns (params, r2) in float64, the parameters
    in the function's canonical form (e.g. ``b = 0`` for exp).
    """
    x = torch.as_tensor(x).detach().to(torch.float64)
    y = torch.as_tensor(y).detach().to(torch.float64)
    if x.dim() == 1:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    x, y = _subsample(x, y, n_max)
    p = torch.as_tensor(params, dtype=torch.float64, device=x.device).reshape(-1, 4).clone()
    loss = _ssr(fn, x, y, p)
    lam = torch.full_like(loss, 1e-3)
    if fn.name not in ("0", "x"):
        eye = torch.eye(4, dtype=x.dtype, device=x.device)
        for _ in range(iters):
            fu, fp = _values(fn, x, p, True)
            c = p[:, 2:3]
            r = c * fu + p[:, 3:4] - y
            J = torch.stack([c * fp * x, c * fp, fu, torch.ones_like(fu)], -1)  # (E, n, 4)
            JtJ = J.transpose(1, 2) @ J
            g = (J.transpose(1, 2) @ r.unsqueeze(-1)).squeeze(-1)
            diag = JtJ.diagonal(dim1=1, dim2=2)
            damp = lam[:, None] * (diag + 1e-12 * diag.amax(1, keepdim=True) + 1e-300)
            step, info = torch.linalg.solve_ex(JtJ + damp.unsqueeze(-1) * eye, -g)
            cand = p + torch.where(torch.isfinite(step), step, 0.0)
            new = _ssr(fn, x, y, cand)
            acc = (new < loss) & (info == 0)
            p = torch.where(acc[:, None], cand, p)
            loss = torch.where(acc, new, loss)
            lam = torch.where(acc, lam * 0.3, lam * 10).clamp(1e-12, 1e12)
            if bool((lam >= 1e12).all()):
                break
    yc = y - y.mean(1, keepdim=True)
    r2 = 1 - loss / (yc * yc).sum(1)
    return fn.canonicalize(p), r2


__all__ = ["AffineFit", "AffineFitError", "fit_affine", "polish_affine", "linear_cd"]
