"""Whole-formula candidates from the log-space view of the data: products of powers with
binomial and other factors, inside a few outer functions.

A KAN writes a product as exp of a sum of logs, ``1/sqrt(1 - v^2/c^2)`` as a chain of
edges that rarely come out exact, and ``asin`` of a product as an outer edge on a sum of
logs. In log space such laws are linear: with ``h`` the inverse of an outer function
``f`` (identity, 1 + u, u - 1, asin, acos, atan, tanh, log, exp),

    log|h(y)| = log|c| + sum_i p_i log|x_i| + sum_m q_m log|B_m(x)|

so one least-squares solve per choice of (outer function, up to two factors B_m) gives
every exponent. Factors: ``x_j^e +- x_k^e``, ``x_j^e + x_k^e + x_l^e`` (e = 1, 2),
``1 +- x_j^e``, ``1 +- x_j x_k``, ``exp(x_j)``, ``log(x_j)``, sin and cos of ``x_j`` and
``x_j/2``; a base that keeps one sign on the data gets a real exponent, one that changes
sign an integer one (so do inputs that change sign). The few best choices (by their error
on ``y`` itself) become templates whose constants (the coefficient, every exponent, a
coefficient inside each base, an outer scale and offset) the joint refit and the
snapping then judge. Only ``X, y`` are read.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy

from .refit import ParamBuilder, Template

# outer function f: (name, inverse applied to y, domain test on y, sympy f)
OUTERS = [
    ("id", lambda y: y, lambda y: np.ones_like(y, bool), None),
    ("1+", lambda y: y - 1, lambda y: np.ones_like(y, bool), None),
    ("-1+", lambda y: y + 1, lambda y: np.ones_like(y, bool), None),
    ("asin", np.sin, lambda y: np.abs(y) <= math.pi / 2, sympy.asin),
    ("acos", np.cos, lambda y: (y >= 0) & (y <= math.pi), sympy.acos),
    ("atan", np.tan, lambda y: np.abs(y) < math.pi / 2 * 0.999, sympy.atan),
    ("tanh", np.arctanh, lambda y: np.abs(y) < 0.999999, sympy.tanh),
    ("log", np.exp, lambda y: y < 300, sympy.log),
    ("exp", np.log, lambda y: y > 0, sympy.exp),
]


def _factors(X, inputs):
    """(key, sign, log|base|, build) for every base that keeps one sign on the data:
    ``x_j^e +- x_k^e``, ``x_j^e + x_k^e + x_l^e`` (e = 1, 2) and ``sin``/``cos`` of
    ``x_j`` and ``x_j/2``; ``build(variables, new)`` writes the base (``new`` makes a
    coefficient to refit)."""
    out = []

    def add(key, base, build, signed=False):
        scale = max(np.abs(base).max(), 1e-300)
        for sign in (1, -1):
            if np.all(sign * base > 1e-6 * scale):
                out.append((key, sign, np.log(sign * base), build, None))
                return
        if signed:  # an integer power of a base that changes sign
            out.append((key, 0, np.log(np.maximum(np.abs(base), 1e-12 * scale)), build, base))

    def sum_of(idx, signs, e):
        def build(v, new):
            expr = v[idx[0]] ** e
            for i, sg in zip(idx[1:], signs[1:], strict=False):
                expr = expr + sg * new(1.0) * v[i] ** e
            return expr
        return build

    shapes = [(pair, signs) for pair in itertools.combinations(inputs, 2)
              for signs in ((1, 1), (1, -1))]
    shapes += [(triple, (1, 1, 1)) for triple in itertools.combinations(inputs, 3)]
    for idx, signs in shapes:
        for e in (1, 2):
            base = sum(sg * X[:, i] ** e for i, sg in zip(idx, signs, strict=False))
            add((idx, signs, e), base, sum_of(idx, signs, e))
    for j in inputs:
        for e in (1, 2):
            for sg in (1, -1):
                add(((j,), "1+", sg, e), 1 + sg * X[:, j] ** e,
                    lambda v, new, j=j, sg=sg, e=e: 1 + sg * new(1.0) * v[j] ** e)
        for k in inputs:
            if k > j:
                for sg in (1, -1):
                    add(((j, k), "1+", sg), 1 + sg * X[:, j] * X[:, k],
                        lambda v, new, j=j, k=k, sg=sg: 1 + sg * new(1.0) * v[j] * v[k])
        add(((j,), "exp"), np.exp(X[:, j]), lambda v, new, j=j: sympy.exp(v[j]))
        if np.all(X[:, j] > 0):
            add(((j,), "log"), np.log(X[:, j]), lambda v, new, j=j: sympy.log(v[j]),
                signed=True)
        for name, f, g in (("sin", np.sin, sympy.sin), ("cos", np.cos, sympy.cos)):
            for half in (1, 2):
                add(((j,), name, half), f(X[:, j] / half),
                    lambda v, new, j=j, g=g, half=half: g(v[j] / half), signed=True)
    return out


def _solve(target, logs, extra, inputs, ints):
    """Exponents by least squares in log space; returns (coef, powers, qs) or None."""
    cols = [np.ones(len(target))] + [logs[:, n] for n in range(len(inputs))] + \
        [f[2] for f in extra]
    A = np.stack(cols, 1)
    try:
        coef, *_ = np.linalg.lstsq(A, target, rcond=None)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(coef)):
        return None
    powers = coef[1:1 + len(inputs)].copy()
    for n in ints:
        powers[n] = round(powers[n])
    qs = coef[1 + len(inputs):].copy()
    for m, f in enumerate(extra):
        if f[1] == 0:
            qs[m] = round(qs[m])
    return coef[0], powers, qs


def _value(X, inputs, powers, extra, qs):
    with np.errstate(all="ignore"):
        m = np.ones(len(X))
        for n, i in enumerate(inputs):
            if powers[n] != 0:
                m = m * np.abs(X[:, i]) ** powers[n] * (np.sign(X[:, i]) if
                                                       _odd(powers[n]) else 1.0)
        for f, q in zip(extra, qs, strict=False):
            m = m * np.exp(q * f[2]) * (np.sign(f[4]) if f[1] == 0 and _odd(q) else 1.0)
        return m


def _odd(p) -> bool:
    return float(p).is_integer() and int(p) % 2 == 1


def product_templates(X, y, variables, inputs, top: int = 3, pair_top: int = 2,
                      max_rows: int = 400) -> list[tuple[str, Template]]:
    """The ``top`` best (name, template) of the family above over the columns ``inputs``."""
    X = np.asarray(X, dtype=np.float64)[:max_rows]
    y = np.asarray(y, dtype=np.float64)[:max_rows]
    inputs = list(inputs)
    if not inputs or len(y) < len(inputs) + 10:
        return []
    ints = [n for n, i in enumerate(inputs) if not np.all(X[:, i] > 0)]
    absx = np.abs(X[:, inputs])
    okx = np.all(absx > 1e-6 * np.maximum(absx.max(0), 1e-300), 1)
    logs = np.log(np.where(okx[:, None], absx, 1.0))
    factors = _factors(X, inputs)
    y_scale = float(np.std(y)) or 1.0
    scored, singles = [], []
    for name, inverse, domain, _ in OUTERS:
        if not np.all(domain(y)):
            continue
        with np.errstate(all="ignore"):
            h = inverse(y)
        ah = np.abs(h)
        ok = okx & np.isfinite(h) & (ah > 1e-9 * max(np.nanmax(ah), 1e-300))
        if ok.sum() < len(inputs) + 8:
            continue
        sub = [(f[0], f[1], f[2][ok], f[3], None) for f in factors]
        ctx = (np.log(ah[ok]), logs[ok], inputs, ints, X, h, name, y, y_scale)
        base = _judge(ctx, [], [])
        if base is not None:
            scored.append(base)
        for f, fs in zip(factors, sub, strict=False):
            item = _judge(ctx, [fs], [f])
            if item is not None:
                scored.append(item)
                singles.append((item[0], f, fs, ctx, sub))
    singles.sort(key=lambda t: t[0])
    outers = []  # the best pair_top singles of each of the best 3 outer functions
    for item in singles:
        outers += [] if item[3][6] in outers else [item[3][6]]
    seeds = [t for o in outers[:3] for t in [t for t in singles if t[3][6] == o][:pair_top]]
    for _, f1, s1, ctx, sub in seeds:  # forward selection of a second factor
        for f2, s2 in zip(factors, sub, strict=False):
            if f2[0] != f1[0]:
                item = _judge(ctx, [s1, s2], [f1, f2])
                if item is not None:
                    scored.append(item)
    scored = [s for s in scored if math.isfinite(s[0])]
    scored.sort(key=lambda s: s[0])
    out, seen = [], set()
    for _err, name, c, powers, extra, qs in scored:
        key = (name, tuple(f[:2] for f in extra))
        if key in seen:
            continue
        seen.add(key)
        out.append((f"product:{name}", _template(variables, inputs, ints, c, powers, extra,
                                                  qs, name, X)))
        if len(out) >= top:
            break
    return out


def _judge(ctx, extra, full_extra):
    """(y error, outer, coefficient, powers, factors, factor powers) of one structure."""
    target, logs, inputs, ints, X, h, name, y, y_scale = ctx
    sol = _solve(target, logs, extra, inputs, ints)
    if sol is None:
        return None
    _, powers, qs = sol
    m = _value(X, inputs, powers, full_extra, qs)
    if not np.all(np.isfinite(m)) or not float(m @ m) > 0:
        return None
    c = float(m @ h) / float(m @ m)
    return _outer_error(name, c * m, y, y_scale), name, c, powers, list(full_extra), qs


def _outer_error(name, pred_h, y, y_scale) -> float:
    f = {"id": lambda v: v, "1+": lambda v: 1 + v, "-1+": lambda v: v - 1,
         "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
         "tanh": np.tanh, "log": np.log, "exp": np.exp}[name]
    with np.errstate(all="ignore"):
        pred = f(pred_h)
    r = (pred - y) / y_scale
    if not np.all(np.isfinite(r)):
        return math.inf
    return float(np.sqrt(np.mean(r * r)))


def _template(variables, inputs, ints, c, powers, extra, qs, name, X) -> Template:
    builder = ParamBuilder()
    new = builder.new

    used = {i for f in extra for i in f[0][0]}
    expr = new(c)
    for n, i in enumerate(inputs):
        v = variables[i]
        if n in ints:
            if powers[n] != 0:
                expr = expr * v ** int(powers[n])
        elif abs(powers[n]) > 0.02 or i in used:
            expr = expr * v ** new(powers[n], "power")
    for (_, sign, _, build, _), q in zip(extra, qs, strict=False):
        if sign == 0:
            if q != 0:
                expr = expr * build(variables, new) ** int(q)
            continue
        base = sign * build(variables, new)
        expr = expr * base ** new(q, "power")
    outer = dict((o[0], o[3]) for o in OUTERS)[name]
    if outer is not None:
        expr = new(1.0) * outer(expr)
    expr = expr + new({"1+": 1.0, "-1+": -1.0}.get(name, 0.0))
    return builder.template(expr, variables)


__all__ = ["product_templates", "OUTERS"]
