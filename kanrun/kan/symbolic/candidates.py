"""A few candidate functions per edge, not one.

For every live edge of a model, :func:`edge_candidates` fits each library function
``c * f(a x + b) + d`` to the edge's sampled activation (the batched grid search of
:func:`~.affine.fit_affine`), refines the best ones by Levenberg-Marquardt
(:func:`~.affine.polish_affine`), adds a free power law ``c * (s x + b)^p + d`` fitted from
several starting exponents with ``p`` then snapped to a simple rational, and keeps the
``topk`` best by a mild complexity-weighted score. "Keep the spline" is always listed last
(``Candidate.name == "spline"``) so a caller can see what giving up on the edge costs.

A candidate is plain data: the function name (or ``"pow"`` with ``power``), its affine
parameters, r2 on the edge samples and a complexity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
from scipy.optimize import least_squares

from ..attribution import edge_records
from .affine import fit_affine, polish_affine
from .library import get_function, resolve_library

SPLINE = "spline"
POWER = "pow"
POWER_COMPLEXITY = 3.0
SPLINE_COMPLEXITY = 20.0
# exponents a free power law snaps to, and the library names of those the model can hold
SIMPLE_POWERS = sorted({float(Fraction(n, m)) for m in (1, 2, 3, 4) for n in range(-12, 13)
                        if n != 0 and abs(Fraction(n, m)) <= 4})
LIBRARY_POWERS = {1.0: "x", 2.0: "x^2", 3.0: "x^3", 4.0: "x^4", 5.0: "x^5", -1.0: "1/x",
                  -2.0: "1/x^2", -3.0: "1/x^3", -4.0: "1/x^4", -5.0: "1/x^5", 0.5: "sqrt",
                  1.5: "x^1.5", -0.5: "1/sqrt(x)"}


@dataclass
class Candidate:
    """One way to write an edge: ``c * f(a x + b) + d`` (``f = (.)^power`` for ``"pow"``)."""

    name: str
    params: tuple  # (a, b, c, d)
    r2: float
    complexity: float
    power: float | None = None

    @property
    def library_name(self) -> str | None:
        """The registered function this candidate is (None for splines, odd powers)."""
        if self.name == POWER:
            return LIBRARY_POWERS.get(float(self.power))
        return None if self.name == SPLINE else self.name

    def as_dict(self) -> dict:
        return {"function": self.name, "params": [float(v) for v in self.params],
                "r2": float(self.r2), "complexity": float(self.complexity),
                "power": self.power}


@dataclass
class EdgeCandidates:
    """The candidates of edge (layer, i, j), best first; ``x`` and ``y`` are its samples."""

    edge: tuple
    candidates: list = field(default_factory=list)
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    @property
    def uncertainty(self) -> float:
        """How close the runner-up is: 1 when tied, ~0 when the best is far ahead."""
        real = [c for c in self.candidates if c.name != SPLINE]
        if len(real) < 2:
            return 0.0
        l0, l1 = (math.log10(max(1 - c.r2, 1e-16)) for c in real[:2])
        return float(math.exp(-abs(l1 - l0)))


def score(r2: float, complexity: float, weight: float = 0.05) -> float:
    """Lower is better: log10 of the unexplained variance plus ``weight`` per complexity."""
    if not math.isfinite(r2):
        return math.inf
    return math.log10(max(1.0 - r2, 1e-14)) + weight * complexity


def _r2(y, pred) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    res = float(((y - pred) ** 2).sum())
    return 1.0 - res / ss if ss > 0 else (1.0 if res == 0 else 0.0)


def _linear_cd(fu, y):
    A = np.stack([fu, np.ones_like(fu)], 1)
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    return sol


def _power_values(x, s, b, p):
    u = s * x + b
    with np.errstate(all="ignore"):
        return np.where(u > 0, np.abs(u) ** p, np.nan)


def fit_power(x, y, starts=(-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0)) -> Candidate | None:
    """Best ``c * (s x + b)^p + d`` from several starting exponents, ``p`` snapped to the
    nearest simple rational when that keeps r2 (refit with ``p`` fixed)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if y.std() <= 1e-14 * (1 + abs(y).max()):
        return None
    span = float(x.max() - x.min()) or 1.0
    best = None
    for s in (1.0, -1.0):
        low = float((s * x).min())
        b0 = 0.0 if low > 0.05 * span else -low + 0.1 * span

        def resid(theta, s=s):
            fu = _power_values(x, s, theta[0], theta[1])
            if not np.all(np.isfinite(fu)):
                return np.full_like(y, 1e6 * (abs(y).max() + 1))
            c, d = _linear_cd(fu, y)
            return c * fu + d - y

        for p0 in starts:
            try:
                sol = least_squares(resid, [b0, p0], method="trf", max_nfev=60,
                                    bounds=([-np.inf, -6.0], [np.inf, 6.0]))
            except (ValueError, np.linalg.LinAlgError, FloatingPointError):
                continue
            cost = float(sol.cost)
            if math.isfinite(cost) and (best is None or cost < best[0]):
                best = (cost, s, float(sol.x[0]), float(sol.x[1]))
    if best is None:
        return None
    _, s, b, p = best
    r2 = _r2(y, y + resid_power(x, y, s, b, p))
    snapped = min(SIMPLE_POWERS, key=lambda q: abs(q - p))
    try:
        sol = least_squares(lambda t: resid_power(x, y, s, t[0], snapped), [b], method="trf",
                            max_nfev=60)
        r2s = _r2(y, y + resid_power(x, y, s, float(sol.x[0]), snapped))
    except (ValueError, np.linalg.LinAlgError):
        r2s = -math.inf
    if r2s >= r2 - 10 * max(1 - r2, 1e-12):
        p, b, r2 = snapped, float(sol.x[0]), r2s
    fu = _power_values(x, s, b, p)
    if not np.all(np.isfinite(fu)):
        return None
    c, d = _linear_cd(fu, y)
    return Candidate(POWER, (s, b, float(c), float(d)), r2, POWER_COMPLEXITY, float(p))


def resid_power(x, y, s, b, p):
    fu = _power_values(x, s, b, p)
    if not np.all(np.isfinite(fu)):
        return np.full_like(y, 1e6 * (abs(y).max() + 1))
    c, d = _linear_cd(fu, y)
    return c * fu + d - y


def _samples(records, li, i, j, n_max: int):
    x = records[li]["input"][:, i].detach().to(torch.float64).cpu()
    y = records[li]["edges"][:, i, j].detach().to(torch.float64).cpu()
    if x.shape[0] > n_max:
        idx = torch.linspace(0, x.shape[0] - 1, n_max).round().long()
        order = torch.argsort(x)[idx]
        x, y = x[order], y[order]
    return x, y


def live_edges(model) -> list[tuple]:
    """(layer, in, out) of every edge that is numeric or symbolic (not removed)."""
    out = []
    for li, layer in enumerate(model.layers):
        live = (layer.mask != 0) | (layer.symbolic.mask != 0)
        out += [(li, i, j) for i, j in live.nonzero().tolist()]
    return out


def edge_candidates(model, x, lib=None, topk: int = 4, edges=None, powers: bool = True,
                    linear: bool = True,
                    weight: float = 0.05, n_max: int = 512, a_range=(-10, 10),
                    b_range=(-10, 10)) -> list[EdgeCandidates]:
    """Candidates for each edge in ``edges`` (default: every live edge) on inputs ``x``.

    An edge that is already symbolic lists its current function first (r2 from its own
    values), then the alternatives fitted to those values. With ``linear`` the line
    ``c x + d`` is always offered (a near-linear edge is often exact once the next
    layer's function absorbs the bend).
    """
    fns = [f for f in resolve_library(lib) if f.name != "0"]
    if linear and all(f.name != "x" for f in fns):
        fns.append(get_function("x"))
    records = edge_records(model, x)
    edges = live_edges(model) if edges is None else list(edges)
    if not edges:
        return []
    samples = [_samples(records, li, i, j, n_max) for li, i, j in edges]
    xs = torch.stack([s[0] for s in samples])
    ys = torch.stack([s[1] for s in samples])
    fit = fit_affine(xs, ys, fns, a_range=tuple(map(float, a_range)),
                     b_range=tuple(map(float, b_range)))
    keep = max(2, int(topk))
    per_edge: list[list[Candidate]] = [[] for _ in edges]
    for k, fn in enumerate(fns):
        rows = [e for e in range(len(edges)) if math.isfinite(float(fit.score_r2[e, k]))]
        if not rows:
            continue
        params, r2 = polish_affine(fn, xs[rows], ys[rows], fit.params[rows, k])
        for n, e in enumerate(rows):
            if math.isfinite(float(r2[n])):
                per_edge[e].append(Candidate(fn.name, tuple(float(v) for v in params[n]),
                                             float(r2[n]), fn.complexity))
    out = []
    for e, (li, i, j) in enumerate(edges):
        cands = per_edge[e]
        xe, ye = xs[e].numpy(), ys[e].numpy()
        if powers:
            pw = fit_power(xe, ye)
            if pw is not None:
                cands.append(pw)
        cands = sorted(cands, key=lambda c: score(c.r2, c.complexity, weight))
        cands = _distinct(cands)[:keep]
        current = _current(model, li, i, j, xe, ye)
        if current is not None:
            cands = [current] + [c for c in cands if c.name != current.name][: keep - 1]
        if linear and not any(c.library_name == "x" for c in cands):
            line = next((c for c in per_edge[e] if c.name == "x"), None)
            if line is not None:  # a near-linear edge the next layer can bend: judged whole
                cands.append(line)
        cands.append(Candidate(SPLINE, (1.0, 0.0, 1.0, 0.0), 1.0, SPLINE_COMPLEXITY))
        out.append(EdgeCandidates((li, i, j), cands, xe, ye))
    return out


def _distinct(cands):
    """Drop a power law that is a library function already listed (same exponent)."""
    names, out = set(), []
    for c in cands:
        key = c.library_name or (c.name, c.power)
        if key in names:
            continue
        names.add(key)
        out.append(c)
    return out


def _current(model, li, i, j, x, y) -> Candidate | None:
    sym = model.layers[li].symbolic
    if not sym.is_symbolic(i, j) or model.layers[li].mask[i, j] != 0:
        return None
    name = sym.names[i][j]
    params = tuple(float(v) for v in sym.affine[i, j].detach().cpu())
    fn = get_function(name)
    a, b, c, d = params
    with torch.no_grad():
        pred = c * fn.exact(torch.as_tensor(a * x + b)).numpy() + d
    r2 = _r2(y, pred) if np.all(np.isfinite(pred)) else 1.0
    return Candidate(name, params, r2, fn.complexity)


__all__ = ["Candidate", "EdgeCandidates", "edge_candidates", "fit_power", "live_edges",
           "score", "SPLINE", "POWER", "LIBRARY_POWERS"]
