"""Evaluate a sympy expression on a torch tensor, node by node (no code generation).

`torch_function(expr, variables)` returns f(x) with x of shape (n, len(variables)) and
f(x) of shape (n,), in x's dtype and device. Elementary functions run in torch (and keep
gradients); the special functions of ground-truth strings (Bessel, elliptic, associated
Legendre) are computed by scipy on the CPU in float64, without gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.special
import sympy
import torch


class FormulaEvaluationError(ValueError):
    """An expression that cannot be evaluated (unknown symbol or function, a complex or
    too-large constant, inputs of the wrong shape); the message can be shown as is
    (`kanrun.data` re-raises it as its DatasetError)."""


TorchFn = Callable[[torch.Tensor], torch.Tensor]
_Node = Callable[[torch.Tensor], "torch.Tensor | float"]

_UNARY = {
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tan: torch.tan,
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.Abs: torch.abs,
    sympy.tanh: torch.tanh,
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.asin: torch.asin,
    sympy.acos: torch.acos,
    sympy.atan: torch.atan,
    sympy.atanh: torch.atanh,
    sympy.asinh: torch.asinh,
    sympy.acosh: torch.acosh,
    sympy.sign: torch.sign,
    sympy.erf: torch.erf,
    sympy.cot: lambda x: 1.0 / torch.tan(x),
    sympy.sec: lambda x: 1.0 / torch.cos(x),
    sympy.csc: lambda x: 1.0 / torch.sin(x),
    sympy.Heaviside: lambda x: torch.heaviside(x, torch.full_like(x, 0.5)),
}


def _assoc_legendre(degree, order, x):
    return scipy.special.lpmv(order, degree, x)


def _elliptic_e(*args):
    return scipy.special.ellipe(*args) if len(args) == 1 else scipy.special.ellipeinc(*args)


# sympy special function -> numpy/scipy function with the same argument order
_SCIPY = {
    sympy.besselj: scipy.special.jv,
    sympy.bessely: scipy.special.yv,
    sympy.besselk: scipy.special.kv,
    sympy.besseli: scipy.special.iv,
    sympy.elliptic_f: scipy.special.ellipkinc,
    sympy.elliptic_e: _elliptic_e,
    sympy.elliptic_k: scipy.special.ellipk,
    sympy.assoc_legendre: _assoc_legendre,
    sympy.legendre: lambda degree, x: scipy.special.lpmv(0, degree, x),
}


def torch_function(expr: sympy.Expr, variables: Sequence[str]) -> TorchFn:
    """Compile `expr` into f(x): column i of x holds the variable named variables[i].

    Symbols are matched by name (their assumptions do not matter). Raises FormulaEvaluationError
    for a symbol that is not in `variables` or a function that cannot be evaluated.
    """
    columns = {str(name): i for i, name in enumerate(variables)}
    missing = sorted(str(s) for s in expr.free_symbols if str(s) not in columns)
    if missing:
        raise FormulaEvaluationError(
            f"the expression {expr} uses {', '.join(missing)}, which are not among the "
            f"inputs {', '.join(columns) or '(none)'}"
        )
    node = _compile(sympy.sympify(expr), columns)

    def evaluate(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != len(columns):
            raise FormulaEvaluationError(
                f"expected inputs of shape (n, {len(columns)}) for variables "
                f"{', '.join(columns)}, got {tuple(x.shape)}"
            )
        value = node(x)
        if not isinstance(value, torch.Tensor):
            return torch.full((x.shape[0],), float(value), dtype=x.dtype, device=x.device)
        return value.expand(x.shape[0]) if value.ndim == 0 else value

    return evaluate


def _compile(expr: sympy.Basic, columns: dict[str, int]) -> _Node:
    if expr.is_Symbol:
        index = columns[str(expr)]
        return lambda x: x[:, index]
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol) or not expr.free_symbols:
        value = _constant(expr)
        return lambda x: value
    if expr.is_Add:
        terms = [_compile(arg, columns) for arg in expr.args]
        return lambda x: _sum(term(x) for term in terms)
    if expr.is_Mul:
        factors = [_compile(arg, columns) for arg in expr.args]
        return lambda x: _product(factor(x) for factor in factors)
    if expr.is_Pow:
        return _compile_power(expr, columns)
    function = expr.func
    if function in _UNARY and len(expr.args) == 1:
        torch_fn = _UNARY[function]
        inner = _compile(expr.args[0], columns)
        return lambda x: torch_fn(_as_tensor(inner(x), x))
    if function in _SCIPY:
        scipy_fn = _SCIPY[function]
        args = [_compile(arg, columns) for arg in expr.args]
        return lambda x: _call_scipy(scipy_fn, [arg(x) for arg in args], x)
    raise FormulaEvaluationError(
        f"cannot evaluate the function '{function.__name__}' in {expr}; supported: "
        f"{', '.join(sorted(f.__name__ for f in (*_UNARY, *_SCIPY)))}, powers and arithmetic"
    )


def _compile_power(expr: sympy.Pow, columns: dict[str, int]) -> _Node:
    base_expr, exponent_expr = expr.args
    base = _compile(base_expr, columns)
    if exponent_expr.is_Integer:
        exponent = int(exponent_expr)
        if exponent == -1:
            return lambda x: 1.0 / _as_tensor(base(x), x)
        return lambda x: torch.pow(_as_tensor(base(x), x), exponent)
    if exponent_expr == sympy.Rational(1, 2):
        return lambda x: torch.sqrt(_as_tensor(base(x), x))
    if exponent_expr == sympy.Rational(-1, 2):
        return lambda x: torch.rsqrt(_as_tensor(base(x), x))
    exponent = _compile(exponent_expr, columns)
    return lambda x: torch.pow(_as_tensor(base(x), x), exponent(x))


def _constant(expr: sympy.Basic) -> float:
    try:
        value = complex(sympy.N(expr, 17))
    except OverflowError:
        raise FormulaEvaluationError(f"the constant {expr} is too large for float64") from None
    except (TypeError, ValueError):
        raise FormulaEvaluationError(f"cannot evaluate the constant {expr} as a number") from None
    if value.imag != 0:
        raise FormulaEvaluationError(
            f"the constant {expr} is complex ({value}); only real values work")
    return value.real


def _as_tensor(value: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def _sum(values) -> torch.Tensor | float:
    total = 0.0
    for value in values:
        total = total + value
    return total


def _product(values) -> torch.Tensor | float:
    total = 1.0
    for value in values:
        total = total * value
    return total


def _call_scipy(fn, args: list, like: torch.Tensor) -> torch.Tensor:
    arrays = [
        a.detach().to("cpu", torch.float64).numpy() if isinstance(a, torch.Tensor) else a
        for a in args
    ]
    result = np.asarray(fn(*arrays), dtype=np.float64)
    result = np.broadcast_to(result, (like.shape[0],)).copy()
    return torch.from_numpy(result).to(dtype=like.dtype, device=like.device)
