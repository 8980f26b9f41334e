"""CPU-time-bounded simplification that keeps the simplest form equal to the original.

Inputs that are positive on the data are treated as positive symbols (so
``exp(2*log(x))`` becomes ``x**2`` and ``sqrt(x**2)`` becomes ``x``); every rewrite is
checked numerically on sample points and dropped when it changes a value.
``sympy.simplify`` only runs on small expressions without decimals (it can stall for
minutes on a few decimal constants); the other rewrites are bounded by size.
"""

from __future__ import annotations

import numpy as np
import sympy

from kanrun.common import clock

from .export import pull_exp_constants
from .pareto import complexity

SIMPLIFY_MAX_OPS = 25  # sympy.simplify only below this many operations
REWRITE_MAX_OPS = 80  # factor_terms / cancel only below this many


def _values(expr, variables, X):
    fn = sympy.lambdify(variables, expr, modules="numpy")
    with np.errstate(all="ignore"):
        out = np.asarray(fn(*X.T), dtype=np.complex128)
    return np.broadcast_to(out, (X.shape[0],))


def same_values(a, b, variables, X, rtol: float = 1e-9) -> bool:
    """``a`` and ``b`` agree (relatively) on the rows of ``X`` where ``a`` is finite."""
    try:
        va, vb = _values(a, variables, X), _values(b, variables, X)
    except (TypeError, ValueError, NameError, ZeroDivisionError, OverflowError):
        return False
    ok = np.isfinite(va)
    if not ok.any():
        return False
    scale = np.max(np.abs(va[ok])) + 1e-300
    return bool(np.all(np.abs(va[ok] - vb[ok]) <= rtol * scale))


def _positive_symbols(variables, X):
    reps, back = {}, {}
    for k, v in enumerate(variables):
        if X.shape[0] and np.all(X[:, k] > 0):
            p = sympy.Symbol(v.name, positive=True)
            reps[v], back[p] = p, v
    return reps, back


def _pull_exp(expr):
    return pull_exp_constants(expr)


MAX_EXPAND_POWER = 8  # expanding (a + b)**n for a larger integer n can take minutes


def _big_power(expr) -> bool:
    """A sum raised to an integer power above MAX_EXPAND_POWER (or a power of a power with
    such an exponent), which expand / powsimp / simplify would multiply out."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Pow) and node.exp.is_number:
            e = abs(float(node.exp))
            if e > MAX_EXPAND_POWER and (node.base.is_Add or node.base.is_Pow):
                return True
    return False


def simplify_bounded(expr, variables, X, seconds: float = 2.0):
    """The simplest of a few rewrites of ``expr`` that evaluate to the same values on X."""
    deadline = clock.deadline(seconds)
    X = np.asarray(X, dtype=np.float64)
    reps, back = _positive_symbols(variables, X)
    pos = expr.xreplace(reps)
    forms = [pos]
    steps = [
        lambda e: sympy.powsimp(sympy.expand_log(e, force=True), force=True),
        lambda e: sympy.expand(e),
        _pull_exp,
        lambda e: sympy.powsimp(sympy.expand(e), force=True),
    ]
    if sympy.count_ops(pos) <= REWRITE_MAX_OPS:
        steps += [sympy.factor_terms, sympy.cancel]
    for step in steps:
        if clock.now() > deadline:
            break
        for base in list(forms[-2:]):
            if sympy.count_ops(base) > 4 * REWRITE_MAX_OPS or _big_power(base):
                continue
            form = clock.bounded(step, base, deadline)
            if form is not None:
                forms.append(form)
    best = min(forms, key=complexity)
    if (clock.now() < deadline and sympy.count_ops(best) <= SIMPLIFY_MAX_OPS
            and not _big_power(best)
            and not best.atoms(sympy.Float)):  # simplify can stall on decimals
        form = clock.bounded(sympy.simplify, best, deadline)
        if form is not None:
            forms.append(form)
    pos_vars = [reps.get(v, v) for v in variables]
    ok = [f.xreplace(back) for f in sorted(forms, key=complexity)
          if not f.has(sympy.I) and same_values(pos, f, pos_vars, X)]
    return ok[0] if ok else expr


__all__ = ["simplify_bounded", "same_values"]
