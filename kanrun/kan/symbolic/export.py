"""Formula export: a fully symbolic KAN -> one sympy expression per output.

The expression mirrors the forward pass: every relevant edge is ``c * f(a * x + b) + d``,
subnodes sum their edges and get the subnode affine map, multiplication nodes multiply
their factors (any arity), nodes get the node affine map. Edges that cannot reach an
output are left out; a relevant edge that is still numeric is an error naming it.

Tidying is bounded in time without signals or threads: only linear-time passes run on
large expressions (drop constants that round to zero, fold sin/cos phases into
[-pi/2, pi/2], pull constants out of ``exp``, round to ``digits`` decimals), and
``sympy.simplify`` is tried only on small expressions while the ``simplify_seconds``
budget lasts. With ``digits=None`` and ``simplify_seconds=0``
the expression equals the model to floating-point precision.
"""

from __future__ import annotations

import json
import math

import numpy as np
import sympy
import torch

from kanrun.common import clock
from kanrun.common.metrics import rmse
from kanrun.common.parse import parse_formula

from .library import get_function

SIMPLIFY_MAX_OPS = 20  # sympy.simplify is only tried below this many operations
FORMAT = "kanrun.formula"


class FormulaError(ValueError):
    """The model cannot be written as a formula yet, or a formula input is malformed."""


def make_variables(n: int, var_names=None) -> list[sympy.Symbol]:
    if var_names is None:
        return [sympy.Symbol(f"x_{i + 1}") for i in range(n)]
    names = list(var_names)
    if len(names) != n:
        raise FormulaError(f"var_names needs {n} names (one per input), got {len(names)}")
    return [v if isinstance(v, sympy.Symbol) else sympy.Symbol(str(v)) for v in names]


def _relevant(model):
    """Per layer, the live edges whose subnode reaches an output, and the numeric ones."""
    live_nodes = [True] * model.width_in[-1]
    relevant = [None] * model.depth
    for li in range(model.depth - 1, -1, -1):
        layer = model.layers[li]
        n_sum, arity = model.width[li + 1][0], model.mult_arity[li + 1]
        owner = list(range(n_sum)) + [n_sum + k for k, a in enumerate(arity) for _ in range(a)]
        sub_live = torch.tensor([live_nodes[owner[j]] for j in range(layer.out_dim)])
        live = ((layer.mask != 0) | (layer.symbolic.mask != 0)).cpu() & sub_live[None, :]
        relevant[li] = live
        live_nodes = live.any(1).tolist()
    numeric = [(li, i, j) for li in range(model.depth)
               for i, j in ((model.layers[li].mask.cpu() != 0) & relevant[li]).nonzero().tolist()]
    return relevant, numeric


def _num(v) -> sympy.Float:
    return sympy.Float(float(v))


def _affine(expr, scale, bias):
    s, b = float(scale), float(bias)
    if s != 1.0:
        expr = _num(s) * expr
    if b != 0.0:
        expr = expr + _num(b)
    return expr


def model_expressions(model, variables) -> list[sympy.Expr]:
    """The model's outputs as raw sympy expressions (full-precision Floats)."""
    relevant, numeric = _relevant(model)
    if numeric:
        shown = ", ".join(f"({li},{i},{j})" for li, i, j in numeric[:12])
        more = f" and {len(numeric) - 12} more" if len(numeric) > 12 else ""
        raise FormulaError(
            f"edges {shown}{more} (layer, in, out) are still numeric; make them symbolic "
            "first (model.auto_symbolic(x=...) or model.fix_symbolic(l, i, j, name)) or "
            "prune them")
    nodes = list(variables)
    for li, layer in enumerate(model.layers):
        aff = layer.symbolic.affine.detach().cpu().tolist()
        subs = []
        for j in range(layer.out_dim):
            total = sympy.Integer(0)
            for i in range(layer.in_dim):
                if not relevant[li][i, j]:
                    continue
                a, b, c, d = aff[i][j]
                fn = get_function(layer.symbolic.names[i][j])
                arg = _affine(nodes[i], a, b)
                term = sympy.Integer(0) if fn.name == "0" else _affine(fn.sympy(arg), c, 0.0)
                total = total + term + (_num(d) if d != 0.0 else 0)
            subs.append(_affine(total, model.subnode_scale[li][j], model.subnode_bias[li][j]))
        n_sum = model.width[li + 1][0]
        nxt, pos = subs[:n_sum], n_sum
        for a in model.mult_arity[li + 1]:
            nxt.append(sympy.Mul(*subs[pos:pos + a]))
            pos += a
        nodes = [_affine(e, model.node_scale[li][k], model.node_bias[li][k])
                 for k, e in enumerate(nxt)]
    return nodes


# ------------------------------------------------------------------------- tidying
def chop(expr, digits: int):
    """Replace Floats that round to zero at ``digits`` decimals by 0."""
    tol = 0.5 * 10.0 ** (-digits)
    reps = {f: sympy.Integer(0) for f in expr.atoms(sympy.Float) if abs(float(f)) < tol}
    return expr.xreplace(reps) if reps else expr


def round_floats(expr, digits: int):
    """Round Floats to ``digits`` decimals; whole numbers become Integers."""
    reps = {}
    for f in expr.atoms(sympy.Float):
        v = round(float(f), digits)
        reps[f] = sympy.Integer(int(v)) if v == int(v) else sympy.Float(v)
    return expr.xreplace(reps) if reps else expr


def pull_exp_constants(expr):
    """exp(k + rest) -> exp(k) * exp(rest) for numeric k (merges into the coefficient)."""
    def split(node):
        arg = node.args[0]
        if isinstance(arg, sympy.Add):
            const, rest = arg.as_coeff_Add()
            if const != 0 and rest != 0:
                return sympy.exp(const) * sympy.exp(rest)
        return node
    return expr.replace(lambda n: isinstance(n, sympy.exp), split)


PHASE_SNAP = 1e-3  # a folded phase this close to +-pi/2 turns cos into sin and back


def fold_phases(expr):
    """sin(u + k) and cos(u + k) with numeric k: k into [-pi/2, pi/2] (sign flips per pi);
    a phase within PHASE_SNAP of +-pi/2 swaps the function (cos(u - pi/2) = sin(u))."""
    def fold(node):
        const, rest = node.args[0].as_coeff_Add()
        if const == 0 or not const.is_Float or rest == 0:
            return node
        turns = round(float(const) / math.pi)
        phase = float(const) - turns * math.pi
        sign = -1 if turns % 2 else 1
        if abs(abs(phase) - math.pi / 2) < PHASE_SNAP:
            # cos(u + s pi/2) = -s sin(u), sin(u + s pi/2) = s cos(u)   (s = +-1)
            s = 1 if phase > 0 else -1
            if isinstance(node, sympy.cos):
                return -s * sign * sympy.sin(rest)
            return s * sign * sympy.cos(rest)
        if turns == 0:
            return node
        return sign * type(node)(rest + sympy.Float(phase))
    return expr.replace(lambda n: isinstance(n, (sympy.sin, sympy.cos)), fold)


def tidy(expr, digits: int | None = 4, simplify_seconds: float = 5.0):
    """Bounded clean-up: chop, pull exp constants, round; simplify small expressions."""
    deadline = clock.deadline(simplify_seconds)
    if digits is not None:
        expr = chop(expr, digits)
    if simplify_seconds > 0:
        expr = pull_exp_constants(fold_phases(expr))
    if digits is not None:
        for _ in range(2):  # products of rounded numbers are rounded again
            expr = round_floats(chop(expr, digits), digits)
    if (simplify_seconds > 0 and clock.now() < deadline
            and sympy.count_ops(expr) <= SIMPLIFY_MAX_OPS):
        # bounded: on a few expressions sympy's factoring runs for hours
        simpler = clock.bounded(sympy.simplify, expr, deadline)
        if (simpler is not None and sympy.count_ops(simpler) < sympy.count_ops(expr)
                and not simpler.has(sympy.I)):
            expr = round_floats(simpler, digits) if digits is not None else simpler
    return expr


def symbolic_formula(model, var_names=None, digits: int | None = 4,
                     simplify_seconds: float = 5.0) -> list[sympy.Expr]:
    """One sympy expression per output of a fully symbolic ``model``.

    ``digits``: decimals kept in constants (None keeps full precision);
    ``simplify_seconds``: time budget for tidying (0 returns the raw expression).
    """
    variables = make_variables(model.width_in[0], var_names)
    return [tidy(e, digits, simplify_seconds) for e in model_expressions(model, variables)]


# ------------------------------------------------------------------------- text forms
def _out_names(exprs, out_names):
    names = list(out_names) if out_names is not None else [f"y_{k + 1}" for k in range(len(exprs))]
    if len(names) != len(exprs):
        raise FormulaError(f"out_names needs {len(exprs)} names, got {len(names)}")
    return names


def formula_text(exprs, out_names=None) -> str:
    """``y_1 = ...`` lines."""
    names = _out_names(exprs, out_names)
    return "\n".join(f"{n} = {sympy.sstr(e)}" for n, e in zip(names, exprs, strict=True))


def formula_latex(exprs, out_names=None) -> str:
    """One LaTeX equation per line."""
    names = _out_names(exprs, out_names)
    return "\n".join(f"{sympy.latex(sympy.Symbol(n))} = {sympy.latex(e)}"
                     for n, e in zip(names, exprs, strict=True))


def formula_json(exprs, var_names=None, out_names=None) -> str:
    """JSON with the variables and, per output, the expression string and its LaTeX."""
    variables = _variables_of(exprs, var_names)
    blob = {"format": FORMAT, "version": 1, "variables": [str(v) for v in variables],
            "outputs": [{"name": n, "expr": sympy.sstr(e), "latex": sympy.latex(e)}
                        for n, e in zip(_out_names(exprs, out_names), exprs, strict=True)]}
    return json.dumps(blob, indent=2)


def formula_from_json(text: str):
    """Read :func:`formula_json` output back: ``(exprs, variables)``.

    Parsed with kanrun's whitelist parser (never ``eval``), so untrusted files are safe.
    """
    try:
        blob = json.loads(text)
        names = [str(v) for v in blob["variables"]]
        strings = [str(o["expr"]) for o in blob["outputs"]]
    except (ValueError, KeyError, TypeError) as err:
        raise FormulaError(f"not a kanrun formula JSON: {err}") from err
    variables = [sympy.Symbol(n) for n in names]
    exprs = []
    for s in strings:
        e = parse_formula(s, names)
        real = {sympy.Symbol(n, real=True): v for n, v in zip(names, variables, strict=True)}
        exprs.append(e.xreplace(real))
    return exprs, variables


def _variables_of(exprs, var_names):
    if var_names is not None:
        return [v if isinstance(v, sympy.Symbol) else sympy.Symbol(str(v)) for v in var_names]
    symbols = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    return sorted(symbols, key=lambda s: (len(s.name), s.name))


# ------------------------------------------------------------------------- evaluation
def evaluate_formula(exprs, x, var_names=None) -> torch.Tensor:
    """Evaluate the formulas on rows of ``x`` (n, n_vars) in float64 -> (n, n_outputs).

    ``var_names`` gives the column order (default x_1..x_n).
    """
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if x.dim() != 2:
        raise FormulaError(f"x must be (n, n_vars), got shape {tuple(x.shape)}")
    variables = make_variables(x.shape[1], var_names)
    fn = sympy.lambdify(variables, list(exprs), modules="numpy")
    cols = [x[:, k].numpy() for k in range(x.shape[1])]
    with np.errstate(all="ignore"):
        outs = fn(*cols)
    n = x.shape[0]
    cols = [np.broadcast_to(np.asarray(o, dtype=np.float64), (n,)).copy() for o in outs]
    return torch.stack([torch.from_numpy(c) for c in cols], 1)


def formula_rmse(exprs, x, y, var_names=None) -> list[float]:
    """Root-mean-square error of each formula against the columns of ``y``."""
    pred = evaluate_formula(exprs, x, var_names)
    y = torch.as_tensor(y).detach().to("cpu", torch.float64).reshape(pred.shape[0], -1)
    if y.shape[1] != pred.shape[1]:
        raise FormulaError(f"y has {y.shape[1]} columns but there are {pred.shape[1]} formulas")
    return [rmse(pred[:, k], y[:, k]) for k in range(y.shape[1])]


__all__ = ["FormulaError", "symbolic_formula", "model_expressions", "tidy", "chop", "fold_phases",
           "round_floats", "pull_exp_constants", "formula_text", "formula_latex",
           "formula_json", "formula_from_json", "evaluate_formula", "formula_rmse",
           "make_variables"]
