"""Was the ground truth recovered? The SRBench symbolic-solution criterion.

A formula recovers the truth when, after rounding the constants of BOTH to 3 decimals,
`truth - formula` is a constant or `truth / formula` is a nonzero constant. Two roundings
are tried, and either one proving the match counts:

- SRBench's own: every floating-point literal is rounded (one below 1e-4 becomes 0);
  exact numbers (integers, rationals such as 1/3, pi) are kept exactly. An exact
  `3/(3 - a*n)` thus matches a truth written `1/(1 - a*n/3)`.
- Rounding whole numeric subexpressions (below), so that `3.1416` inside a function
  matches `pi` and constants grouped differently still round alike.

Rounding: each maximal numeric subexpression (pi, sqrt(2)/(2*sqrt(pi)), -1/2, 3.14159) is
evaluated and rounded to a 3-decimal exact rational, so pi and 3.1416 both become 3.142
and x**0.5 becomes sqrt(x); integers are kept. As in SRBench, a constant below 0.0005
rounds to 0 and its term disappears.

Deciding "constant": first cheap sympy canonicalizations of the difference and ratio
(expand, cancel, expand_trig, powsimp; trigsimp for small expressions), skipped for large
expressions so the check stays fast. If none proves it, the rounded expressions are
evaluated at `n_points` seeded random points (each variable uniform in its range from
`variables`, else [0.5, 2]) and the difference or ratio counts as constant when its spread
stays, at every point, within `tolerance` (1e-9) of the values' size there. The numeric
step decides the answer when sympy cannot. The tolerance is far above float64 rounding
(~1e-15) yet small enough to see a term of relative size 1e-9 at some point (x**2 + x vs
x**2, (x+1)**20 + x vs (x+1)**20); a smaller term is invisible to this check.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import sympy
import torch

from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.parse import parse_formula
from kanrun.data.sampling import check_range, generator, uniform

DEFAULT_RANGE = (0.5, 2.0)
MAX_SYMBOLIC_OPS = 150
MAX_TRIGSIMP_OPS = 40
MAX_EXPAND_POWER = 6
SRBENCH_ZERO = 1e-4

Variables = Sequence[str] | Mapping[str, Sequence[float]] | None


def recovered(
    formula: sympy.Expr | str,
    truth: sympy.Expr | str,
    variables: Variables = None,
    *,
    decimals: int = 3,
    n_points: int = 200,
    tolerance: float = 1e-9,
    seed: int = 0,
) -> bool:
    """True when `formula` equals `truth` up to an additive or a multiplicative constant.

    Args:
        formula, truth: sympy expressions or strings (parsed with parse_formula, special
            functions allowed). Symbols are matched by name.
        variables: names the strings may use (None: any name), or a mapping name ->
            [low, high] that also sets where the numeric check samples.
        decimals: constants of both expressions are rounded to this many decimals.
    """
    names = None if variables is None else [str(name) for name in variables]
    ranges = {}
    if isinstance(variables, Mapping):
        ranges = {
            str(name): check_range(f"range of {name}", value) for name, value in variables.items()
        }
    truth_expr = _as_expr(truth, names)
    formula_expr = _as_expr(formula, names)
    pairs = [(truth_expr, formula_expr)]
    if _small(truth_expr) and _small(formula_expr):
        # Rounding expanded forms too: constants grouped differently in the two (e.g.
        # q*(4*pi*a - b)/(4*pi) vs q*a - 0.0796*q*b) otherwise round to different values.
        pairs.append((sympy.expand(truth_expr), sympy.expand(formula_expr)))
    rounded = [(round_floats(t, decimals), round_floats(f, decimals)) for t, f in pairs[:1]]
    rounded += [(round_constants(t, decimals), round_constants(f, decimals)) for t, f in pairs]
    # The numeric test decides whenever it can (it is fast and bounded); sympy's
    # canonicalizations, which can take minutes on some expressions, only settle the cases
    # it cannot evaluate.
    verdicts = [_numerically_constant(t, f, ranges, n_points, tolerance, seed)
                for t, f in rounded]
    if any(v is True for v in verdicts):
        return True
    if all(v is False for v in verdicts):
        return False
    return any(_symbolically_matches(t, f) for t, f in rounded)


def _symbolically_matches(truth: sympy.Expr, formula: sympy.Expr) -> bool:
    if _symbolically_constant(truth - formula):
        return True
    if formula == 0:
        return False
    ratio = truth / formula
    return ratio != 0 and _symbolically_constant(ratio)


def _small(expr: sympy.Expr) -> bool:
    return sympy.count_ops(expr) <= MAX_SYMBOLIC_OPS and not _has_large_power(expr)


def round_floats(expr: sympy.Expr, decimals: int = 3) -> sympy.Expr:
    """SRBench's rounding: each Float literal to `decimals` decimals, one below 1e-4 to 0;
    exact numbers (integers, rationals, pi) are left as they are."""
    scale = 10**decimals
    replacements = {}
    for atom in expr.atoms(sympy.Float):
        value = float(atom)
        rounded = 0 if abs(value) < SRBENCH_ZERO else round(value * scale)
        replacements[atom] = sympy.Rational(rounded, scale)
    return expr.xreplace(replacements) if replacements else expr


def round_constants(expr: sympy.Expr, decimals: int = 3) -> sympy.Expr:
    """Evaluate each maximal numeric subexpression and round it to `decimals` decimals."""
    if not expr.free_symbols:
        return _round_number(expr, decimals)
    if expr.is_Add or expr.is_Mul:
        numeric = [arg for arg in expr.args if not arg.free_symbols]
        symbolic = [round_constants(arg, decimals) for arg in expr.args if arg.free_symbols]
        parts = symbolic
        if numeric:
            parts = [_round_number(expr.func(*numeric), decimals), *symbolic]
        return expr.func(*parts)
    if not expr.args:
        return expr
    return expr.func(*[round_constants(arg, decimals) for arg in expr.args])


def _round_number(expr: sympy.Expr, decimals: int) -> sympy.Expr:
    if expr.is_Integer:
        return expr
    try:
        value = complex(sympy.N(expr, 20))
    except (TypeError, ValueError):
        return expr
    if value.imag != 0 or value.real != value.real or abs(value.real) == float("inf"):
        return expr
    scale = 10**decimals
    return sympy.Rational(round(value.real * scale), scale)


def _as_expr(value: sympy.Expr | str, names: list[str] | None) -> sympy.Expr:
    if isinstance(value, str):
        expr = parse_formula(value, names, allow_special=True)
    elif isinstance(value, (sympy.Basic, int, float)):
        expr = sympy.sympify(value)
    else:
        raise DatasetError(
            f"recovered() takes sympy expressions or formula strings, got {type(value).__name__}"
        )
    return expr.xreplace({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})


def _symbolically_constant(expr: sympy.Expr) -> bool:
    """True when cheap canonicalizations leave no free symbols (never slow; may miss)."""
    if not expr.free_symbols:
        return not expr.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)
    operations = sympy.count_ops(expr)
    if operations > MAX_SYMBOLIC_OPS:
        return False
    transforms = [sympy.cancel, sympy.powsimp]
    if not _has_large_power(expr):
        transforms = [
            sympy.expand,
            sympy.cancel,
            lambda e: sympy.expand(sympy.expand_trig(e)),
            sympy.powsimp,
        ]
    if operations <= MAX_TRIGSIMP_OPS:
        transforms.append(sympy.trigsimp)
    for transform in transforms:
        try:
            candidate = transform(expr)
        except (TypeError, ValueError, NotImplementedError, RecursionError):
            continue
        if not candidate.free_symbols:
            return not candidate.has(sympy.nan, sympy.zoo)
    return False


def _has_large_power(expr: sympy.Expr) -> bool:
    for power in expr.atoms(sympy.Pow):
        exponent = power.exp
        if exponent.is_Number and abs(float(exponent)) > MAX_EXPAND_POWER:
            return True
    return False


def _numerically_constant(
    truth: sympy.Expr,
    formula: sympy.Expr,
    ranges: dict[str, tuple[float, float]],
    n_points: int,
    tolerance: float,
    seed: int,
) -> bool | None:
    """True/False when the difference or the ratio is (not) constant on random points;
    None when too few points can be evaluated to tell."""
    names = sorted({s.name for s in truth.free_symbols | formula.free_symbols})
    box = [ranges.get(name, DEFAULT_RANGE) for name in names]
    x = uniform(n_points, box, generator(seed, 0))
    try:
        t = torch_function(truth, names)(x)
        f = torch_function(formula, names)(x)
    except DatasetError as error:
        message = f"recovered(): cannot evaluate numerically ({error})"
        warnings.warn(message, stacklevel=2)
        return None
    finite = torch.isfinite(t) & torch.isfinite(f)
    enough = max(10, n_points // 4)
    if int(finite.sum()) < enough:
        return None
    t, f = t[finite], f[finite]
    scale = float(torch.maximum(t.abs().max(), f.abs().max()))
    if scale == 0.0:
        return True
    difference = t - f
    allowed = tolerance * (t.abs() + f.abs()) + 1e-12 * scale
    if bool(((difference - difference.median()).abs() <= allowed).all()):
        return True
    usable = (f.abs() > 1e-8 * scale) & (t.abs() > 1e-8 * scale)
    if int(usable.sum()) < enough:
        return False
    ratio = t[usable] / f[usable]
    middle = ratio.median()
    return bool(((ratio - middle).abs() <= tolerance * middle.abs()).all())
