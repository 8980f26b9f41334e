"""The strict exactness check: relative error of a formula against the truth on fresh
points (for the final `recovered` columns only; discovery never calls it)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import sympy
import torch

from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.parse import parse_formula
from kanrun.data.sampling import generator, uniform

FRESH_STREAM = 17  # a stream no dataset draws from
STRICT_TOLERANCE = 1e-6


def relative_error(formula: sympy.Expr | str, truth: sympy.Expr | str,
                   ranges: Mapping[str, Sequence[float]], n_points: int = 10000,
                   seed: int = 0) -> float | None:
    """max |formula - truth| / rms(truth) over ``n_points`` fresh uniform points in
    ``ranges`` (None when either cannot be evaluated there)."""
    names = list(ranges)
    try:
        f_expr = parse_formula(formula, names, allow_special=True) if isinstance(formula, str) \
            else sympy.sympify(formula)
        t_expr = parse_formula(truth, names, allow_special=True) if isinstance(truth, str) \
            else sympy.sympify(truth)
        rename = {s: sympy.Symbol(s.name) for s in f_expr.free_symbols}
        f_expr = f_expr.xreplace(rename)
        t_expr = t_expr.xreplace({s: sympy.Symbol(s.name) for s in t_expr.free_symbols})
        x = uniform(n_points, [tuple(map(float, ranges[n])) for n in names],
                    generator(seed, FRESH_STREAM)).to(torch.float64)
        f = torch_function(f_expr, names)(x)
        t = torch_function(t_expr, names)(x)
    except (DatasetError, TypeError, ValueError, RuntimeError, sympy.SympifyError):
        return None
    finite = torch.isfinite(t)
    if int(finite.sum()) < n_points // 2:
        return None
    f, t = f[finite], t[finite]
    scale = float(torch.sqrt(torch.mean(t * t)))
    error = float(torch.max(torch.abs(f - t)))
    if not math.isfinite(error):
        return math.inf
    return error / scale if scale > 0 else error
