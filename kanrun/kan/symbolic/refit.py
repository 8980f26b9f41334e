"""A whole formula with free constants, and its joint float64 refit.

:func:`build_template` turns one choice of candidate per edge into a sympy expression of
the model's inputs whose constants are symbols ``k0, k1, ...`` (with starting values from
the per-edge fits). Each edge contributes ``c * f(a u + b)`` with only the parameters its
function can use without redundancy (``x`` has only ``c``; integer powers fix ``a = 1``;
``exp`` drops ``b``; real powers and ``log`` fix ``a = +-1``); the ``d`` of all edges
into a node become one bias per node.

:func:`refit` fits all free constants at once to the data by Levenberg-Marquardt
(``scipy.optimize.least_squares``) on a numpy function built from the expression, from
the given start; non-finite residuals are replaced by a large value so steps that leave a
function's domain are rejected.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import sympy
from scipy.optimize import least_squares

from kanrun.common.metrics import rmse as common_rmse

from .candidates import POWER, SPLINE
from .library import get_function

INT_POWERS = {"x^2", "x^3", "x^4", "x^5", "1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5"}
SIGNED = {"sqrt", "x^1.5", "1/sqrt(x)", "log", "abs", "sgn"}
BAD = 1e6  # residual used where the formula is not finite


class TemplateError(ValueError):
    """A choice that cannot be written as a formula (a spline edge that matters)."""


@dataclass
class Template:
    """A formula with free constants ``params`` (sympy Symbols) starting at ``values``."""

    expr: sympy.Expr
    variables: list
    params: list
    values: np.ndarray
    kinds: list  # per parameter: "power" (an exponent) or "coef"

    def substitute(self, values=None, exact: dict | None = None) -> sympy.Expr:
        """The expression with numbers in place of the parameters (``exact``: sympy ones)."""
        values = self.values if values is None else values
        reps = {p: sympy.Float(float(v), 17) for p, v in zip(self.params, values, strict=False)}
        if exact:
            reps.update(exact)
        return self.expr.xreplace(reps)


class ParamBuilder:
    """Makes a template's free constants ``k0, k1, ...`` with their start values."""

    def __init__(self):
        self.params, self.values, self.kinds = [], [], []

    def new(self, value, kind="coef"):
        """A new constant starting at ``value`` (kind "coef" or "power")."""
        sym = sympy.Symbol(f"k{len(self.params)}")
        self.params.append(sym)
        self.values.append(float(value))
        self.kinds.append(kind)
        return sym

    def template(self, expr, variables) -> Template:
        return Template(expr, list(variables), self.params, np.array(self.values), self.kinds)


def _absorb(cand):
    """(scale, shift) that the node feeding this edge can take over: the edge then reads
    ``u' = scale * u + shift`` with its inner affine map fixed (None: nothing to take)."""
    a, b, c, d = cand.params
    name = cand.name
    if name in (SPLINE, "0"):
        return None
    if name == "x":
        return c * a, 0.0
    if name in INT_POWERS:
        return 1.0, b
    if name in SIGNED or name == POWER:
        return (1.0 if a > 0 else -1.0), b
    if name == "exp":
        return a, (math.log(abs(c)) if c != 0 else 0.0)
    return a, b


def _edge_term(builder, cand, u, absorbed: bool = False):
    """(term, d) for one edge: the sympy term with fresh parameters, and its offset d.

    ``absorbed``: the input node already holds this edge's inner affine map (see _absorb).
    """
    a, b, c, d = cand.params
    name = cand.name
    if name == SPLINE:
        raise TemplateError("a spline edge has no formula")
    if name == "0":
        return sympy.Integer(0), d
    if absorbed:
        if name == "x":
            return u, d + c * b
        if name == "exp":
            return (1 if c > 0 else -1) * sympy.exp(u), d
        if name == POWER:
            return builder.new(c) * u ** builder.new(cand.power, "power"), d
        return builder.new(c) * get_function(name).sympy(u), d
    if name == POWER:
        base = (u if a > 0 else -u) + builder.new(b)
        return builder.new(c) * base ** builder.new(cand.power, "power"), d
    fn = get_function(name)
    if name == "x":
        return builder.new(c * a) * u, d + c * b
    if name in INT_POWERS:
        return builder.new(c) * fn.sympy(u + builder.new(b)), d
    if name in SIGNED:
        return builder.new(c) * fn.sympy((u if a > 0 else -u) + builder.new(b)), d
    if name == "exp":
        return builder.new(c * math.exp(b)) * sympy.exp(builder.new(a) * u), d
    return builder.new(c) * fn.sympy(builder.new(a) * u + builder.new(b)), d


def _absorptions(model, choice, relevant):
    """Hidden sum nodes (layer, node) with one outgoing edge whose inner map they take."""
    out = {}
    for li in range(1, model.depth):
        n_sum = model.width[li][0]
        for i in range(n_sum):
            edges = [e for e in relevant if e[0] == li and e[1] == i]
            if len(edges) != 1:
                continue
            plain = (float(model.subnode_scale[li - 1][i]) == 1.0
                     and float(model.node_scale[li - 1][i]) == 1.0
                     and float(model.node_bias[li - 1][i]) == 0.0)
            spec = _absorb(choice[edges[0]])
            if plain and spec is not None and spec[0] != 0:
                out[(li, i)] = spec
    return out


def build_template(model, choice: dict, relevant_edges, variables, output: int = 0) -> Template:
    """The formula of ``model`` with edge (l, i, j) written as ``choice[(l, i, j)]``.

    ``relevant_edges``: the edges that reach an output (others are left out). Scales and
    shifts that a hidden node and its single outgoing edge could both carry are kept once.
    """
    builder = ParamBuilder()
    relevant = set(relevant_edges)
    absorb = _absorptions(model, choice, relevant)
    nodes = list(variables)
    for li, layer in enumerate(model.layers):
        subs = []
        for j in range(layer.out_dim):
            scale_in, shift = absorb.get((li + 1, j), (1.0, 0.0))
            total, offset, used = sympy.Integer(0), 0.0, False
            for i in range(layer.in_dim):
                if (li, i, j) not in relevant:
                    continue
                cand = choice[(li, i, j)]
                if scale_in != 1.0:
                    a, b, c, d = cand.params
                    cand = replace(cand, params=(a, b, c * scale_in, d * scale_in))
                term, d = _edge_term(builder, cand, nodes[i], (li, i) in absorb)
                total, offset, used = total + term, offset + d, True
            scale = float(model.subnode_scale[li][j])
            bias = float(model.subnode_bias[li][j])
            if used:
                total = (total if scale == 1.0 else scale * total) + builder.new(
                    scale * offset + bias * scale_in + shift)
            else:
                total = sympy.Float(bias) if bias else sympy.Integer(0)
            subs.append(total)
        n_sum = model.width[li + 1][0]
        nxt, pos = subs[:n_sum], n_sum
        for arity in model.mult_arity[li + 1]:
            nxt.append(sympy.Mul(*subs[pos:pos + arity]))
            pos += arity
        nodes = []
        for k, e in enumerate(nxt):
            s, b = float(model.node_scale[li][k]), float(model.node_bias[li][k])
            nodes.append(e if (s == 1.0 and b == 0.0) else s * e + b)
    return Template(nodes[output], list(variables),
                    builder.params, np.array(builder.values, dtype=np.float64), builder.kinds)


class Compiled:
    """``f(X, theta) -> (n,)`` of an expression, and its Jacobian in ``theta`` (n, k)."""

    def __init__(self, expr, variables, params, jacobian: bool = True):
        self.n_params = len(params)
        args = [*variables, *params]
        self.fn = sympy.lambdify(args, expr, modules="numpy", cse=True)
        self.jac_fn = None
        if jacobian and params:
            grads = [sympy.diff(expr, p) for p in params]
            if not any(g.has(sympy.Derivative, sympy.Subs) for g in grads):
                self.jac_fn = sympy.lambdify(args, grads, modules="numpy", cse=True)

    @staticmethod
    def _real(out, n):
        out = np.asarray(out)
        if np.iscomplexobj(out):
            out = np.where(np.abs(out.imag) > 0, np.nan, out.real)
        return np.broadcast_to(out.astype(np.float64, copy=False), (n,))

    def __call__(self, X, theta):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._real(self.fn(*X.T, *theta), X.shape[0])

    def jacobian(self, X, theta):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cols = self.jac_fn(*X.T, *theta)
        return np.stack([self._real(c, X.shape[0]) for c in cols], 1)


def compile_expr(expr, variables, params, jacobian: bool = True) -> Compiled:
    """A numpy function ``f(X, theta) -> (n,)`` of the expression (with its Jacobian)."""
    return Compiled(expr, variables, params, jacobian)


def rmse(pred, y) -> float:
    """The RMSE, inf where it is not finite."""
    value = common_rmse(pred, y)
    return value if math.isfinite(value) else math.inf


def refit(fn, X, y, start, free=None, max_nfev: int = 200):
    """Least-squares constants: ``theta`` with ``theta[~free]`` kept at ``start``.

    Returns (theta, train rmse). Never worse than the start.
    """
    start = np.asarray(start, dtype=np.float64)
    free = np.ones(len(start), bool) if free is None else np.asarray(free, bool)
    scale = float(np.std(y)) or 1.0

    def full(t):
        theta = start.copy()
        theta[free] = t
        return theta

    def resid(t):
        with np.errstate(all="ignore"):
            r = (fn(X, full(t)) - y) / scale
        return np.where(np.isfinite(r), r, BAD)

    jac = "2-point"
    if getattr(fn, "jac_fn", None) is not None:
        def jac(t):
            with np.errstate(all="ignore"):
                J = fn.jacobian(X, full(t))[:, free] / scale
            return np.where(np.isfinite(J), J, 0.0)

    base = rmse(fn(X, start), y)
    n_free = int(free.sum())
    if n_free == 0:
        return start, base
    method = "lm" if len(y) >= n_free else "trf"
    try:
        sol = least_squares(resid, start[free], jac=jac, method=method, max_nfev=max_nfev,
                            xtol=1e-15, ftol=1e-15, gtol=1e-15)
        theta = full(sol.x)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return start, base
    err = rmse(fn(X, theta), y)
    return (theta, err) if err <= base or not math.isfinite(base) else (start, base)


__all__ = ["Template", "TemplateError", "build_template", "compile_expr", "refit", "rmse"]
