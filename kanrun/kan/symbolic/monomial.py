"""A whole-formula candidate beside the network's own structure: a product of powers.

``c * prod_i (x_i + b_i)^p_i + d`` over the inputs the pruned network still uses. A KAN
writes such a product as exp of a sum of logs, or as differences of squares, and its
edges rarely come out exact; this template lets the joint refit and the snapping judge
the product directly. Exponents start from a log-linear regression of log|y| on
log|x_i|; inputs that change sign keep an integer exponent and no shift (a fractional
power of a negative number is not real).
"""

from __future__ import annotations

import numpy as np

from .refit import ParamBuilder, Template


def monomial_template(X, y, variables, inputs) -> Template | None:
    """The product-of-powers template over the columns ``inputs`` (None if y ~ 0)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not inputs:
        return None
    ay = np.abs(y)
    cols = [np.abs(X[:, i]) for i in inputs]
    tiny = 1e-6 * max(ay.max(), 1e-300)
    ok = ay > tiny
    for c in cols:
        ok &= c > 1e-6 * max(c.max(), 1e-300)
    if ok.sum() < len(inputs) + 5:
        return None
    A = np.stack([np.ones(ok.sum())] + [np.log(c[ok]) for c in cols], 1)
    coef, *_ = np.linalg.lstsq(A, np.log(ay[ok]), rcond=None)
    sign = 1.0 if np.median(y) >= 0 else -1.0
    builder = ParamBuilder()
    new = builder.new

    expr = new(sign * np.exp(coef[0]))
    for k, i in enumerate(inputs):
        p = float(coef[k + 1])
        v = variables[i]
        if np.all(X[:, i] > 0):
            expr = expr * (v + new(0.0)) ** new(p, "power")
        else:
            n = int(round(p))
            if n != 0:
                expr = expr * v ** n
    expr = expr + new(0.0)
    return builder.template(expr, variables)


__all__ = ["monomial_template"]
