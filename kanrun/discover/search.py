"""The discovery driver: from (x, y) to the simplest formula that fits as well as the data
allows, within a time budget.

A problem is data over some columns (each column a variable or, after a symmetry
reduction, an expression of variables). Solving it:

1. terminal fits on every applicable transform T of y (monomials from a log-linear
   regression, sparse polynomials, rational functions, one-variable library forms),
   sparse regressions on a library of basis functions (one to three inputs),
   each undone (T^-1), refitted jointly on the data and scored on a holdout;
2. unless one is already at the noise floor: a smooth surrogate of y, unused inputs
   dropped, one symmetry reduction (x_i - x_j, x_i / x_j, ...), and additive
   separability of y, log|y|, y^2 and 1/y; each separable problem is split into
   smaller ones (solved recursively on values of the surrogate) whose formulas are
   recombined and refitted on the real data.

Candidates are ranked by description length on the holdout (:func:`candidate.score`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy

from kanrun.common.clock import now as clock

from . import basis, fit1d, linear, monomial, separability, snap
from .candidate import Candidate, rmse, score
from .noise import estimate_noise
from .surrogate import fit_surrogate
from .transforms import transforms_for

log = logging.getLogger("kanrun.discover")

MAX_DEPTH = 4
REFIT_TOP = 6
EXACT_REL = 1e-7
LIBRARY_TRANSFORMS = ("id", "inv", "log", "sq", "sqrt")
POLY_DEGREE = {1: 5, 2: 4, 3: 3, 4: 3}  # the largest polynomial degree by number of inputs


class _OutOfTime(Exception):
    pass


@dataclass
class Context:
    deadline: float
    rng: np.random.Generator
    progress: Callable[[str], None] | None = None
    top: object = None  # the top-level Problem
    pool: list = field(default_factory=list)  # every candidate of the top problem so far
    explored: int = 0

    def check(self) -> None:
        if clock() > self.deadline:
            raise _OutOfTime()

    def note(self, message: str) -> None:
        log.debug(message)
        if self.progress is not None:
            self.progress(message)


@dataclass
class Problem:
    x: np.ndarray
    y: np.ndarray
    symbols: list[sympy.Symbol]
    floor: float  # noise floor of y (units of y)
    train: np.ndarray = field(init=False)
    hold: np.ndarray = field(init=False)

    def split(self, rng: np.random.Generator) -> None:
        order = rng.permutation(len(self.y))
        n_hold = max(10, len(self.y) // 4)
        self.hold, self.train = order[:n_hold], order[n_hold:]

    @property
    def scale(self) -> float:
        return float(np.std(self.y)) or float(np.mean(np.abs(self.y))) or 1.0


def _evaluate(cand: Candidate, p: Problem) -> Candidate:
    cand.train_rmse = rmse(cand.expr, p.symbols, p.x[p.train], p.y[p.train])
    cand.holdout_rmse = rmse(cand.expr, p.symbols, p.x[p.hold], p.y[p.hold])
    return cand


def _rank(cands: list[Candidate], p: Problem) -> list[Candidate]:
    n = len(p.hold)
    good = [c for c in cands if math.isfinite(c.holdout_rmse)]
    return sorted(good, key=lambda c: score(c, n, p.scale, p.floor))


def _refit(cands: list[Candidate], p: Problem, ctx: Context, top: int = REFIT_TOP):
    """Rank, refit the best ``top`` jointly on the training rows, rank again."""
    ranked = _rank([_evaluate(c, p) for c in cands], p)[:top]
    out = []
    for c in ranked:
        ctx.check()
        expr = snap.refit(c.expr, p.symbols, p.x[p.train], p.y[p.train])
        out.append(_evaluate(Candidate(expr, c.route), p))
    ranked = _rank(out + ranked, p)
    if p is ctx.top:  # kept, so that running out of time loses nothing found
        ctx.pool = _rank(ctx.pool + ranked, p)[:50]
    return ranked


def _terminals(p: Problem, ctx: Context) -> list[Candidate]:
    x, y = p.x[p.train], p.y[p.train]
    raw: list[Candidate] = [Candidate(sympy.Float(float(np.mean(y))), "constant")]
    for t in transforms_for(y):
        ctx.check()
        with np.errstate(all="ignore"):
            ty = t.forward(y)
        if not np.all(np.isfinite(ty)):
            continue
        fits = monomial.monomial_fit(x, ty, p.symbols)
        fits += linear.polynomial_fit(x, ty, p.symbols, degree=POLY_DEGREE.get(x.shape[1], 2))
        fits += linear.rational_fit(x, ty, p.symbols)
        fits += basis.basis_fit(x, ty, p.symbols)
        for f in fits:
            raw.append(Candidate(t.inverse(f.expr), f"{t.name}:{f.route}"))
    ranked = _refit(raw, p, ctx)
    if x.shape[1] > 1 or (ranked and _exact(ranked[0], p)):
        return ranked
    library = []
    for t in transforms_for(y):
        if t.name not in LIBRARY_TRANSFORMS:
            continue
        ctx.check()
        with np.errstate(all="ignore"):
            ty = t.forward(y)
        if np.all(np.isfinite(ty)):
            library += [Candidate(t.inverse(f.expr), f"{t.name}:{f.route}")
                        for f in fit1d.library_fit(x[:, 0], ty, p.symbols[0])]
    return _rank(ranked + _refit(library, p, ctx), p)


def _exact(c: Candidate, p: Problem) -> bool:
    return c.holdout_rmse <= max(EXACT_REL * p.scale, 0.9 * p.floor)


def solve(p: Problem, ctx: Context, depth: int = 0, shallow: bool = False) -> list[Candidate]:
    """Candidates for problem ``p`` (over p.symbols), best first; ``shallow``: terminal
    fits only."""
    p.split(ctx.rng)
    ctx.explored += 1
    cands = _terminals(p, ctx)
    if cands and _exact(cands[0], p):
        return cands
    if shallow or p.x.shape[1] < 2 or depth >= MAX_DEPTH:
        return cands
    try:
        cands = _rank(cands + _reduce(p, ctx, depth), p)
    except _OutOfTime:
        if depth == 0:
            return _rank(cands + ctx.pool, p)
        raise
    return cands


def _reduce(p: Problem, ctx: Context, depth: int) -> list[Candidate]:
    ctx.check()
    x = p.x[p.train]
    sur = fit_surrogate(x, p.y[p.train], seed=depth)
    points = separability.interior_points(x, 200, ctx.rng)
    unused = separability.unused_inputs(sur, points)
    if unused and len(unused) < p.x.shape[1]:
        keep = [i for i in range(p.x.shape[1]) if i not in unused]
        ctx.note(f"{'  ' * depth}drop unused {[str(p.symbols[i]) for i in unused]}")
        sub = Problem(p.x[:, keep], p.y, [p.symbols[i] for i in keep], p.floor)
        return [_evaluate(c, p) for c in solve(sub, ctx, depth + 1)[:3]]
    out: list[Candidate] = []
    for _, kind, i, j in separability.symmetries(sur, points, x)[:1]:
        ctx.note(f"{'  ' * depth}symmetry {kind}({p.symbols[i]}, {p.symbols[j]})")
        out += _symmetric(p, ctx, depth, kind, i, j)
        best = _rank(out, p)
        if best and _exact(best[0], p):
            return best
    from .splits import split

    out += split(p, ctx, depth)
    return out


def _symmetric(p, ctx, depth, kind, i, j) -> list[Candidate]:
    a, b = p.x[:, i], p.x[:, j]
    z = {"minus": a - b, "plus": a + b, "div": a / b, "mul": a * b}[kind]
    si, sj = p.symbols[i], p.symbols[j]
    zexpr = {"minus": si - sj, "plus": si + sj, "div": si / sj, "mul": si * sj}[kind]
    zsym = sympy.Symbol(f"_z{depth}_{i}_{j}")
    rest = [k for k in range(p.x.shape[1]) if k not in (i, j)]
    sub = Problem(np.column_stack([p.x[:, rest], z]), p.y,
                  [p.symbols[k] for k in rest] + [zsym], p.floor)
    found = solve(sub, ctx, depth + 1)[:3]
    return _refit([Candidate(c.expr.xreplace({zsym: zexpr}), f"sym:{kind}>{c.route}")
                   for c in found], p, ctx, top=3)


KAN_MIN_SECONDS = 10.0
SIGN_SHARE = 0.95  # a law of one sign, its values near 0 pushed across by noise


def _clean_sign(x: np.ndarray, y: np.ndarray):
    """Rows kept for the search: all of them, unless y has one sign on >= 95 % of the rows
    and the others are near 0 (noise pushed them across); then only the rows clearly of
    that sign, so that log|y|, 1/y and the monomial fits apply. Refits and scores use them."""
    if monomial.sign_constant(y) != 0:
        return x, y
    rms = float(np.sqrt(np.mean(y * y))) or 1.0
    for s in (1.0, -1.0):
        share = float(np.mean(s * y > 0))
        wrong = s * y <= 0
        if share >= SIGN_SHARE and float(np.max(np.abs(y[wrong]), initial=0.0)) < 0.1 * rms:
            keep = s * y > 0.02 * rms
            return x[keep], y[keep]
    return x, y


def _kan_candidates(p: Problem, ctx: Context, floor: float) -> list[Candidate]:
    """The KAN route (structure.py) with the time left, when there is enough of it."""
    from .structure import kan_formula

    if ctx.deadline - clock() < KAN_MIN_SECONDS:
        return []
    ctx.note("kan route: smallest fitting network, auto_symbolic")
    target = max(floor, 1e-3 * p.scale)
    expr = kan_formula(p.x, p.y, p.symbols, p.train, p.hold, target, ctx.deadline)
    if expr is None:
        return []
    cand = Candidate(snap.refit(expr, p.symbols, p.x[p.train], p.y[p.train]), "kan")
    return [_evaluate(cand, p)]


@dataclass
class Discovery:
    expr: sympy.Expr
    candidates: list[Candidate]
    noise: float
    seconds: float
    out_of_time: bool
    explored: int


def discover(x: np.ndarray, y: np.ndarray, names: list[str], budget: float = 60.0,
             seed: int = 0, progress: Callable[[str], None] | None = None,
             snap_constants: bool = True, kan_route: bool = False) -> Discovery:
    """The simplest formula over ``names`` that fits (x, y) to the noise floor."""
    start = clock()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    symbols = [sympy.Symbol(n, real=True) for n in names]
    floor = estimate_noise(x, y, seed=seed)
    x, y = _clean_sign(x, y)
    ctx = Context(deadline=start + budget, rng=np.random.default_rng(seed), progress=progress)
    # The estimate is reported, not used to choose: a steep noiseless law can look noisy to
    # it. At the top the holdout error itself ranks the candidates.
    problem = Problem(x, y, symbols, 0.0)
    ctx.top = problem
    out_of_time = False
    try:
        cands = solve(problem, ctx)
    except _OutOfTime:
        cands, out_of_time = list(ctx.pool), True
    if clock() > ctx.deadline:
        out_of_time = True
    if kan_route and not (cands and _exact(cands[0], problem)):
        cands = _rank(cands + _kan_candidates(problem, ctx, floor), problem)
    if not cands:
        cands = [Candidate(sympy.Float(float(np.mean(y))), "constant")]
    best = cands[0]
    expr = best.expr
    tidy = snap.refit(snap.normalize_sums(expr), symbols, x[problem.train], y[problem.train])
    allowed = best.holdout_rmse * 1.001 + 1e-12 * problem.scale
    if rmse(tidy, symbols, x[problem.hold], y[problem.hold]) <= allowed:
        expr = tidy
    if snap_constants:
        expr = snap.snap(expr, symbols, x[problem.train], y[problem.train],
                         x[problem.hold], y[problem.hold], rmse,
                         deadline=ctx.deadline + 0.25 * budget)
    return Discovery(expr=expr, candidates=cands, noise=floor,
                     seconds=clock() - start, out_of_time=out_of_time,
                     explored=ctx.explored)
