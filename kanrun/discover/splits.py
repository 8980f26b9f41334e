"""Separable splits of a problem and their pieces (used by search._reduce).

A split says T(y) = sum or product of pieces over disjoint groups of variables. Splits
come from additive models on the data (additive.py: log|y| and y) and from the smooth
surrogate of y, log|y|, y^2, 1/y and sin y (separability.py). Each piece is first fitted by
terminal fits on the split's values; every piece that is not exact is then solved in full
on the real data with the others divided (or subtracted) out.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import sympy

from . import additive, monomial, separability
from .candidate import Candidate, numpy_function
from .search import EXACT_REL, Context, Problem, _exact, _rank, _refit, solve
from .surrogate import fit_surrogate
from .transforms import transforms_for

SPLIT_TRANSFORMS = ("log", "id", "sq", "inv", "sin")


@dataclass
class Split:
    """A separable structure of T(y): kind 'add' (sum of pieces) or 'mul' (product)."""

    transform: object  # transforms.Transform; its forward gives the space of the pieces
    kind: str
    groups: list[list[int]]
    values: list[np.ndarray]  # per group, the piece's values on every row of the problem
    floors: list[float]
    f0: float  # the constant that makes the pieces combine: sum - f0*(K-1), prod / f0^(K-1)
    how: str


def _identity():
    return transforms_for(np.ones(1))[0]


def _additive_splits(p: Problem, ctx: Context) -> list[Split]:
    """Splits from additive models on the data (no surrogate): log|y| and y."""
    out = []
    s = monomial.sign_constant(p.y)
    tries = ([("log", np.log(np.abs(p.y)))] if s else []) + [("id", p.y)]
    for name, t in tries:
        ctx.check()
        groups, parts, resid = additive.additive_groups(p.x, t, logs=name == "log")
        if len(groups) < 2:
            continue
        if name == "log":
            values = [np.exp(v) for v in parts]
            values[0] = s * values[0]
            floors = [resid * float(np.sqrt(np.mean(v ** 2))) for v in values]
            out.append(Split(_identity(), "mul", groups, values, floors, 1.0, "gam:log"))
        else:
            out.append(Split(_identity(), "add", groups, parts, [resid] * len(parts), 0.0,
                             "gam:id"))
    return out


def _surrogate_splits(p: Problem, ctx: Context, depth: int):
    """Splits seen on smooth surrogates of y, log|y|, y^2, 1/y, sin y (lazily)."""
    x_all = p.x[p.train]
    s = monomial.sign_constant(p.y)
    by_name = {t.name: t for t in transforms_for(p.y[p.train])}
    for name in SPLIT_TRANSFORMS:
        if name not in by_name:
            continue
        ctx.check()
        t = by_name[name]
        with np.errstate(all="ignore"):
            ty = t.forward(p.y[p.train])
        if not np.all(np.isfinite(ty)):
            continue
        sur = fit_surrogate(x_all, ty, seed=depth + 1)
        points = separability.interior_points(x_all, 200, ctx.rng)
        for kind in (("add",) if name == "log" else ("add", "mul")):
            matrix = (separability.interactions(sur, points) if kind == "add"
                      else separability.product_interactions(sur, points))
            tol = separability.INTERACTION_TOL if kind == "add" else separability.PRODUCT_TOL
            groups = separability.components(matrix, tol)
            if len(groups) < 2:
                continue
            if kind == "mul":  # the reference: where |f| is largest (factors far from 0)
                reference = points[int(np.argmax(np.abs(sur(points))))]
            else:
                reference = np.median(x_all, axis=0)
            f0 = float(sur(reference[None])[0])
            values = []
            for g in groups:
                xs = np.tile(reference, (len(p.y), 1))
                xs[:, g] = p.x[:, g]
                values.append(sur(xs))
            floors = [sur.holdout_rmse] * len(groups)
            if name == "log":
                values = [s * np.exp(v) for v in values]
                floors = [sur.holdout_rmse * float(np.sqrt(np.mean(v ** 2))) for v in values]
                f0, kind, t = s * math.exp(f0), "mul", _identity()
            yield Split(t, kind, groups, values, floors, f0, f"surrogate:{name}")


def split(p: Problem, ctx: Context, depth: int) -> list[Candidate]:
    """Separable splits of y or of a transform of it, each piece solved recursively."""
    out: list[Candidate] = []
    seen = set()
    for split in itertools.chain(_additive_splits(p, ctx), _surrogate_splits(p, ctx, depth)):
        key = (split.transform.name, split.kind, tuple(map(tuple, split.groups)))
        if key in seen:
            continue
        seen.add(key)
        ctx.note(f"{'  ' * depth}split {split.kind} {split.how}: "
                 + " | ".join(",".join(str(p.symbols[i]) for i in g) for g in split.groups))
        out += _solve_split(split, p, ctx, depth)
        best = _rank(out, p)
        if best and _exact(best[0], p):
            return best
    return out


def _solve_split(split: Split, p: Problem, ctx: Context, depth: int) -> list[Candidate]:
    """Each piece by terminal fits on the split's values; then, worst first, every piece
    that is not exact is solved in full on the real data with the others divided out."""
    pieces, subs = [], []
    for g, values, floor in zip(split.groups, split.values, split.floors, strict=False):
        sub = Problem(p.x[:, g], values, [p.symbols[i] for i in g], floor)
        found = solve(sub, ctx, depth + 1, shallow=True)[:2]
        if not found:
            return []
        pieces.append(found)
        subs.append(sub)
    out = _combine(split, pieces, p, ctx)
    if out and _exact(out[0], p):
        return out
    quality = [c[0].holdout_rmse / (s.scale or 1.0) for c, s in zip(pieces, subs, strict=False)]
    # the most complex piece first: a long formula for one piece is an approximation
    for k in sorted(range(len(pieces)), key=lambda m: (-pieces[m][0].complexity, -quality[m])):
        if quality[k] <= EXACT_REL and len(pieces) > 1:
            continue
        found = _divide_out(split, pieces, k, p, ctx, depth) if len(pieces) > 1 else []
        if not found:
            found = solve(subs[k], ctx, depth + 1)[:2]
        if found:
            pieces[k] = found
        out += _combine(split, pieces, p, ctx)
        best = _rank(out, p)
        if best and _exact(best[0], p):
            return best
    return out


def _divide_out(split, pieces, k, p, ctx, depth) -> list[Candidate]:
    """Piece k solved on the real data with the other pieces divided (subtracted) out."""
    with np.errstate(all="ignore"):
        t = split.transform.forward(p.y)
        others = [numpy_function(c[0].expr, [p.symbols[i] for i in g])(p.x[:, g])
                  for m, (c, g) in enumerate(zip(pieces, split.groups, strict=False)) if m != k]
        mul = split.kind == "mul"
        values = t / np.prod(others, axis=0) if mul else t - np.sum(others, axis=0)
    if not np.all(np.isfinite(values)):
        return []
    g = split.groups[k]
    ctx.note(f"{'  ' * depth}divide out all but {','.join(str(p.symbols[i]) for i in g)}")
    sub = Problem(p.x[:, g], values, [p.symbols[i] for i in g], p.floor)
    found = solve(sub, ctx, depth + 1, shallow=True)
    if found and _exact(found[0], sub):
        return found[:2]
    return solve(sub, ctx, depth + 1)[:2]


def _combine(split: Split, pieces, p, ctx) -> list[Candidate]:
    combos = [[c[0] for c in pieces]]
    for k, options in enumerate(pieces):  # one piece at its second choice
        if len(options) > 1:
            combos.append([options[1] if m == k else c[0] for m, c in enumerate(pieces)])
    raw = []
    f0 = split.f0
    for combo in combos[:4]:
        exprs = [c.expr for c in combo]
        extra = len(exprs) - 1
        if split.kind == "mul":
            inner = sympy.Float(1.0 / f0 ** extra if f0 else 1.0) * sympy.Mul(*exprs)
        else:
            inner = sympy.Float(-extra * f0 if f0 else 1e-3) + sympy.Add(*exprs)
        route = (f"split:{split.kind}:{split.transform.name}[" + ", ".join(c.route for c in combo)
                 + "]")
        raw.append(Candidate(split.transform.inverse(inner), route))
    return _refit(raw, p, ctx, top=4)
