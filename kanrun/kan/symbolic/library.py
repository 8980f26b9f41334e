"""Registry of symbolic functions: name, torch and sympy versions, complexity, domain.

Every entry has two torch versions:

* ``exact`` - the plain function (NaN / inf outside its domain); the affine fit uses it
  so that a candidate whose argument leaves the domain is rejected, never bent to fit.
* ``torch`` - a singularity-safe version used by the model: equal to ``exact`` wherever
  that is finite, finite (with finite gradients) everywhere else, so training with a
  symbolic edge never produces NaN. The formula therefore equals the model wherever the
  formula is real and finite.

``domain(lo, hi)`` says whether arguments filling the interval ``[lo, hi]`` stay on one
continuous branch (no pole, no square root of a negative number); it is vectorized over
tensors of intervals. Complexities follow pykan 0.2.8 (``SYMBOLIC_LIB``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy
import torch


class UnknownFunctionError(KeyError):
    """A symbolic function name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SymbolicLibraryError(ValueError):
    """A function could not be registered (bad name, callable or complexity)."""


@dataclass(frozen=True)
class SymbolicFunction:
    name: str
    torch: Callable  # singularity-safe, used by the model
    sympy: Callable
    complexity: float
    exact: Callable  # plain, used for fitting (NaN / inf outside the domain)
    domain: Callable | None = None  # (lo, hi) tensors -> bool tensor
    alias_of: str | None = None  # same function as another entry (skipped by default)
    canonical: Callable | None = None  # (..., 4) params -> same function, tidier params

    def canonicalize(self, params: torch.Tensor) -> torch.Tensor:
        """Equivalent (a, b, c, d) with the function's symmetries removed (e.g. exp: b = 0)."""
        return params if self.canonical is None else self.canonical(params)


_REGISTRY: dict[str, SymbolicFunction] = {}


# ----------------------------------------------------------------------------- helpers
def _eps(x: torch.Tensor) -> float:
    """Smallest |argument| kept for poles: powers up to 1/x^5 and their gradients stay finite."""
    return torch.finfo(x.dtype).max ** (-1.0 / 8.0) if x.is_floating_point() else 1e-30


def _away_from_zero(x: torch.Tensor) -> torch.Tensor:
    eps = _eps(x)
    return torch.where(x.abs() < eps, torch.where(x >= 0, eps, -eps), x)


def _int_power(x: torch.Tensor, n: int) -> torch.Tensor:
    """x**n for n in 1..5 by squaring (several times faster than ``pow`` for n = 4, 5)."""
    if n in (1, 3):
        return x if n == 1 else x**3
    sq = torch.square(x)
    if n == 2:
        return sq
    quad = torch.square(sq)
    return quad if n == 4 else quad * x


def _power(n: int) -> Callable:
    return lambda x: _int_power(x, n)


def _exact_inv_power(n: int) -> Callable:
    return lambda x: torch.reciprocal(_int_power(x, n))


def _inv_power(n: int) -> Callable:
    def fn(x):
        return torch.reciprocal(_int_power(_away_from_zero(x), n))
    return fn


def _safe_sqrt(x):
    return torch.sqrt(torch.clamp(x, min=_eps(x)))


def _safe_pow15(x):
    return torch.clamp(x, min=0.0) ** 1.5


def _safe_rsqrt(x):
    return torch.rsqrt(torch.clamp(x, min=_eps(x)))


def _safe_log(x):
    return torch.log(torch.clamp(x, min=_eps(x)))


def _safe_exp(x):
    return torch.exp(torch.clamp(x, max=math.log(torch.finfo(x.dtype).max) - 1.0))


def _safe_tan(x):
    c = torch.cos(x)
    eps = _eps(x)
    c = torch.where(c.abs() < eps, torch.where(c >= 0, eps, -eps), c)
    return torch.sin(x) / c


def _inside_unit(x, fn, edge_value):
    """fn(x) for |x| < 1, ``edge_value * sign(x)`` (or a callable of x) outside."""
    inside = x.abs() < 1
    val = fn(torch.where(inside, x, torch.zeros_like(x)))
    return torch.where(inside, val, edge_value(x))


def _safe_arcsin(x):
    return _inside_unit(x, torch.arcsin, lambda v: torch.sign(v) * (math.pi / 2))


def _safe_arccos(x):
    return _inside_unit(x, torch.arccos, lambda v: (1 - torch.sign(v)) * (math.pi / 2))


def _safe_arctanh(x):
    big = lambda v: torch.sign(v) * math.atanh(1 - torch.finfo(v.dtype).eps)  # noqa: E731
    return _inside_unit(x, torch.arctanh, big)


# domains: vectorized over interval tensors
def _not_containing_zero(lo, hi):
    return (lo > 0) | (hi < 0)


def _nonnegative(lo, hi):
    return lo >= 0


def _positive(lo, hi):
    return lo > 0


def _unit_closed(lo, hi):
    return (lo >= -1) & (hi <= 1)


def _unit_open(lo, hi):
    return (lo > -1) & (hi < 1)


def _no_tan_pole(lo, hi):
    k = torch.ceil((lo - math.pi / 2) / math.pi)  # first pole at or above lo
    return math.pi / 2 + k * math.pi > hi


# canonical parameters: the same c * f(a x + b) + d with fewer arbitrary choices
def _unbind(p):
    return p[..., 0], p[..., 1], p[..., 2], p[..., 3]


def _where_a(p, new):
    """``new`` (a list of 4 tensors) where a != 0, the original parameters elsewhere."""
    return torch.where((p[..., 0] != 0)[..., None], torch.stack(new, -1), p)


def _safe_a(a):
    return torch.where(a != 0, a, torch.ones_like(a))


def _canon_power(n):
    """(a x + b)^n = a^n (x + b/a)^n for integer n (also negative)."""
    def canon(p):
        a, b, c, d = _unbind(p)
        a1 = _safe_a(a)
        return _where_a(p, [torch.ones_like(a), b / a1, c * a1**n, d])
    return canon


def _canon_real_power(q):
    """(a x + b)^q = |a|^q (sign(a) x + b/|a|)^q on the domain a x + b >= 0."""
    def canon(p):
        a, b, c, d = _unbind(p)
        m = _safe_a(a).abs()
        return _where_a(p, [torch.sign(a), b / m, c * m**q, d])
    return canon


def _canon_log(p):
    a, b, c, d = _unbind(p)
    m = _safe_a(a).abs()
    return _where_a(p, [torch.sign(a), b / m, c, d + c * torch.log(m)])


def _canon_linear(p):
    a, b, c, d = _unbind(p)
    return torch.stack([torch.ones_like(a), torch.zeros_like(b), c * a, d + c * b], -1)


def _canon_exp(p):
    a, b, c, d = _unbind(p)
    return torch.stack([a, torch.zeros_like(b), c * torch.exp(b), d], -1)


def _canon_abs(p):
    a, b, c, d = _unbind(p)
    a1 = _safe_a(a)
    return _where_a(p, [torch.ones_like(a), b / a1, c * a1.abs(), d])


def _canon_sign(p):
    a, b, c, d = _unbind(p)
    a1 = _safe_a(a)
    return _where_a(p, [torch.ones_like(a), b / a1, c * torch.sign(a1), d])


def _flip(a):
    return torch.where(a < 0, -torch.ones_like(a), torch.ones_like(a))


def _canon_odd(p):
    """f(-u) = -f(u): make a >= 0."""
    a, b, c, d = _unbind(p)
    s = _flip(a)
    return torch.stack([a * s, b * s, c * s, d], -1)


def _canon_even(p):
    """f(-u) = f(u): make a >= 0."""
    a, b, c, d = _unbind(p)
    s = _flip(a)
    return torch.stack([a * s, b * s, c, d], -1)


def _canon_arccos(p):
    """arccos(-u) = pi - arccos(u): make a >= 0."""
    a, b, c, d = _unbind(p)
    return torch.where((a < 0)[..., None], torch.stack([-a, -b, -c, d + c * math.pi], -1), p)


def _canon_period(period, symmetry, antiperiodic=False):
    """Make a >= 0 (odd or even symmetry), then b into [-period/2, period/2].

    ``antiperiodic``: f(u + period) = -f(u) (sin and cos with period pi), so c flips sign
    for every odd multiple of the period removed from b.
    """
    def canon(p):
        p = symmetry(p)
        a, b, c, d = _unbind(p)
        k = torch.round(b / period)
        if antiperiodic:
            c = c * (1 - 2 * torch.remainder(k, 2))
        return torch.stack([a, b - period * k, c, d], -1)
    return canon


# ----------------------------------------------------------------------------- registry
def _check_entry(name, torch_fn, sympy_fn, complexity):
    if not isinstance(name, str) or not name.strip():
        raise SymbolicLibraryError(f"a function name must be a non-empty string, got {name!r}")
    if not callable(torch_fn) or not callable(sympy_fn):
        raise SymbolicLibraryError(
            f"function {name!r}: torch_fn and sympy_fn must be callables of one argument")
    if not isinstance(complexity, (int, float)) or not math.isfinite(complexity) or complexity < 0:
        raise SymbolicLibraryError(
            f"function {name!r}: complexity must be a finite number >= 0, got {complexity!r}")


def register_function(name: str, torch_fn: Callable, sympy_fn: Callable, complexity: float,
                      safe_fn: Callable | None = None, domain: Callable | None = None,
                      overwrite: bool = False) -> SymbolicFunction:
    """Add ``name`` to the library so that fitting and formulas can use it.

    ``torch_fn`` maps a tensor elementwise (NaN / inf outside its domain is fine: such
    fits are rejected); ``sympy_fn`` maps a sympy expression to one; ``safe_fn`` (default
    ``torch_fn``) is what the model evaluates and should be finite everywhere;
    ``domain(lo, hi)`` optionally says which argument intervals are allowed.
    """
    _check_entry(name, torch_fn, sympy_fn, complexity)
    if name in _BUILTIN:
        raise SymbolicLibraryError(f"{name!r} is a built-in function; register yours under "
                                   "another name")
    if name in _REGISTRY and not overwrite:
        raise SymbolicLibraryError(
            f"function {name!r} is already registered; pass overwrite=True to replace it")
    probe = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    try:
        out = torch_fn(probe)
        expr = sympy_fn(sympy.Symbol("x"))
    except Exception as err:  # the user's callables may raise anything
        raise SymbolicLibraryError(
            f"function {name!r} failed on a probe input: {err}; torch_fn must take a tensor "
            "and sympy_fn a sympy expression") from err
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise SymbolicLibraryError(
            f"function {name!r}: torch_fn must return a tensor of its input's shape")
    if not isinstance(expr, sympy.Basic):
        raise SymbolicLibraryError(f"function {name!r}: sympy_fn must return a sympy expression")
    entry = SymbolicFunction(name, safe_fn or torch_fn, sympy_fn, float(complexity), torch_fn,
                             domain)
    _REGISTRY[name] = entry
    return entry


def unregister_function(name: str) -> None:
    """Remove a function added with :func:`register_function`."""
    if name in _BUILTIN:
        raise SymbolicLibraryError(f"{name!r} is a built-in function and cannot be removed")
    _REGISTRY.pop(name, None)


def get_function(name: str) -> SymbolicFunction:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFunctionError(
            f"unknown symbolic function {name!r}; known: {sorted(_REGISTRY)} "
            "(add your own with kanrun.kan.symbolic.register_function)") from None


def function_names() -> list[str]:
    """All registered names, built-ins first in pykan's order."""
    return list(_REGISTRY)


def default_library() -> list[str]:
    """Names searched by auto-symbolic when ``lib`` is None: everything except aliases."""
    return [name for name, fn in _REGISTRY.items() if fn.alias_of is None]


def resolve_library(lib) -> list[SymbolicFunction]:
    """``None`` -> the default library; otherwise the listed names (unknown ones raise)."""
    names = default_library() if lib is None else list(lib)
    if not names:
        raise SymbolicLibraryError("the function library is empty; pass at least one name")
    return [get_function(n) for n in dict.fromkeys(names)]


def _builtin(name, exact, safe, sym, complexity, domain=None, alias_of=None, canonical=None):
    _REGISTRY[name] = SymbolicFunction(name, safe, sym, float(complexity), exact, domain, alias_of,
                                       canonical)


def _sympy_power(n):
    return lambda x: x**n


_builtin("x", lambda x: x, lambda x: x, lambda x: x, 1, canonical=_canon_linear)
for _n, _c in ((2, 2), (3, 3), (4, 3), (5, 3)):
    _builtin(f"x^{_n}", _power(_n), _power(_n), _sympy_power(_n), _c,
             canonical=_canon_power(_n))
for _n, _c in ((1, 2), (2, 2), (3, 3), (4, 4), (5, 5)):
    _builtin("1/x" if _n == 1 else f"1/x^{_n}", _exact_inv_power(_n), _inv_power(_n),
             _sympy_power(-_n), _c, _not_containing_zero,
             canonical=_canon_power(-_n))
_builtin("sqrt", torch.sqrt, _safe_sqrt, sympy.sqrt, 2, _nonnegative,
         canonical=_canon_real_power(0.5))
_builtin("x^0.5", torch.sqrt, _safe_sqrt, sympy.sqrt, 2, _nonnegative, alias_of="sqrt",
         canonical=_canon_real_power(0.5))
_builtin("x^1.5", lambda x: torch.sqrt(x) ** 3, _safe_pow15, lambda x: sympy.sqrt(x) ** 3, 4,
         _nonnegative, canonical=_canon_real_power(1.5))
_builtin("1/sqrt(x)", torch.rsqrt, _safe_rsqrt, lambda x: 1 / sympy.sqrt(x), 2, _positive,
         canonical=_canon_real_power(-0.5))
_builtin("1/x^0.5", torch.rsqrt, _safe_rsqrt, lambda x: 1 / sympy.sqrt(x), 2, _positive,
         alias_of="1/sqrt(x)", canonical=_canon_real_power(-0.5))
_builtin("exp", torch.exp, _safe_exp, sympy.exp, 2, canonical=_canon_exp)
_builtin("log", torch.log, _safe_log, sympy.log, 2, _positive, canonical=_canon_log)
_builtin("abs", torch.abs, torch.abs, sympy.Abs, 3, canonical=_canon_abs)
_builtin("sin", torch.sin, torch.sin, sympy.sin, 2,
         canonical=_canon_period(math.pi, _canon_odd, antiperiodic=True))
_builtin("cos", torch.cos, torch.cos, sympy.cos, 2,
         canonical=_canon_period(math.pi, _canon_even, antiperiodic=True))
_builtin("tan", torch.tan, _safe_tan, sympy.tan, 3, _no_tan_pole,
         canonical=_canon_period(math.pi, _canon_odd))
_builtin("tanh", torch.tanh, torch.tanh, sympy.tanh, 3, canonical=_canon_odd)
_builtin("sgn", torch.sign, torch.sign, sympy.sign, 3, canonical=_canon_sign)
_builtin("arcsin", torch.arcsin, _safe_arcsin, sympy.asin, 4, _unit_closed, canonical=_canon_odd)
_builtin("arccos", torch.arccos, _safe_arccos, sympy.acos, 4, _unit_closed,
         canonical=_canon_arccos)
_builtin("arctan", torch.arctan, torch.arctan, sympy.atan, 4, canonical=_canon_odd)
_builtin("arctanh", torch.arctanh, _safe_arctanh, sympy.atanh, 4, _unit_open,
         canonical=_canon_odd)
_builtin("0", torch.zeros_like, torch.zeros_like, lambda x: sympy.Integer(0), 0)
_builtin("gaussian", lambda x: torch.exp(-(x**2)), lambda x: torch.exp(-(x**2)),
         lambda x: sympy.exp(-(x**2)), 3, canonical=_canon_even)

_BUILTIN = frozenset(_REGISTRY)

__all__ = [
    "SymbolicFunction", "UnknownFunctionError", "SymbolicLibraryError", "register_function",
    "unregister_function", "get_function", "function_names", "default_library",
    "resolve_library",
]
