"""The symbolic function registry: pykan's set, safe torch versions, sympy twins, domains."""

import math

import numpy as np
import pytest
import sympy
import torch

from kanrun.kan.symbolic.library import (
    SymbolicLibraryError,
    UnknownFunctionError,
    default_library,
    function_names,
    get_function,
    register_function,
    unregister_function,
)

# pykan 0.2.8 SYMBOLIC_LIB complexities
PYKAN_COMPLEXITY = {
    "x": 1, "x^2": 2, "x^3": 3, "x^4": 3, "x^5": 3, "1/x": 2, "1/x^2": 2, "1/x^3": 3,
    "1/x^4": 4, "1/x^5": 5, "sqrt": 2, "x^0.5": 2, "x^1.5": 4, "1/sqrt(x)": 2, "1/x^0.5": 2,
    "exp": 2, "log": 2, "abs": 3, "sin": 2, "cos": 2, "tan": 3, "tanh": 3, "sgn": 3,
    "arcsin": 4, "arccos": 4, "arctan": 4, "arctanh": 4, "0": 0, "gaussian": 3,
}

# inside each function's domain (and away from tan's poles)
DOMAIN = {"sqrt": (0.05, 3), "x^0.5": (0.05, 3), "x^1.5": (0.05, 3), "1/sqrt(x)": (0.05, 3),
          "1/x^0.5": (0.05, 3), "log": (0.05, 3), "arcsin": (-0.95, 0.95),
          "arccos": (-0.95, 0.95), "arctanh": (-0.95, 0.95), "tan": (-1.4, 1.4)}
for _n in ("1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5"):
    DOMAIN[_n] = (0.2, 3)


def _points(name, n=200):
    lo, hi = DOMAIN.get(name, (-3, 3))
    return torch.linspace(lo, hi, n, dtype=torch.float64)


def test_pykan_functions_and_complexities():
    for name, c in PYKAN_COMPLEXITY.items():
        assert get_function(name).complexity == c, name
    assert set(PYKAN_COMPLEXITY) <= set(function_names())
    lib = default_library()
    assert "x^0.5" not in lib and "1/x^0.5" not in lib  # aliases are searched once
    assert "sqrt" in lib and "gaussian" in lib and len(lib) == len(PYKAN_COMPLEXITY) - 2


@pytest.mark.parametrize("name", list(PYKAN_COMPLEXITY))
def test_torch_sympy_and_safe_versions_agree_in_domain(name):
    fn = get_function(name)
    x = _points(name)
    exact = fn.exact(x)
    safe = fn.torch(x)
    assert torch.isfinite(exact).all()
    torch.testing.assert_close(safe, exact, rtol=1e-14, atol=1e-14)
    s = sympy.Symbol("s")
    f_np = sympy.lambdify(s, fn.sympy(s), modules="numpy")
    with np.errstate(all="ignore"):
        ref = np.broadcast_to(np.asarray(f_np(x.numpy()), dtype=np.float64), x.shape)
    np.testing.assert_allclose(ref, exact.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(PYKAN_COMPLEXITY))
def test_safe_versions_are_finite_with_finite_gradients_everywhere(name):
    special = [0.0, -0.0, 1.0, -1.0, math.pi / 2, -math.pi / 2, 1e-300, -1e-300, 800.0,
               -800.0, 1 - 1e-17, 2.0, -5.0]
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(special, dtype=dtype, requires_grad=True)
        y = get_function(name).torch(x)
        assert torch.isfinite(y).all(), (name, dtype, y)
        if name == "0":
            assert not y.requires_grad and (y == 0).all()
            continue
        (g,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(g).all(), (name, dtype, g)


@pytest.mark.parametrize("name", [n for n in PYKAN_COMPLEXITY if n != "0"])
def test_canonical_parameters_keep_the_function(name):
    fn = get_function(name)
    g = torch.Generator().manual_seed(hash(name) % 1000)
    lo, hi = DOMAIN.get(name, (-2, 2))
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    for _ in range(5):
        a = (torch.rand((), generator=g, dtype=torch.float64) + 0.3) * (
            1 if torch.rand((), generator=g) < 0.5 else -1)
        # choose b so that a*x + b spans the middle of the domain
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * 0.8
        a = a / a.abs() * min(float(a.abs()), half)
        b = torch.tensor(mid, dtype=torch.float64)
        p = torch.stack([a, b, torch.tensor(1.7, dtype=torch.float64),
                         torch.tensor(-0.4, dtype=torch.float64)])
        q = fn.canonicalize(p)
        y_p = p[2] * fn.exact(p[0] * x + p[1]) + p[3]
        y_q = q[2] * fn.exact(q[0] * x + q[1]) + q[3]
        torch.testing.assert_close(y_q, y_p, rtol=1e-11, atol=1e-11)
    if name == "exp":
        assert float(fn.canonicalize(torch.tensor([2.0, 1.0, 3.0, 0.0]))[1]) == 0.0
    if name in ("sin", "cos", "tan"):  # phases folded into [-pi/2, pi/2], a >= 0
        for b0 in (2.5, -4.0, 7.0):
            p = torch.tensor([-1.3, b0, 0.8, 0.1], dtype=torch.float64)
            q = fn.canonicalize(p)
            assert q[0] > 0 and abs(float(q[1])) <= math.pi / 2 + 1e-12
            torch.testing.assert_close(q[2] * fn.exact(q[0] * x + q[1]) + q[3],
                                       p[2] * fn.exact(p[0] * x + p[1]) + p[3])


def test_domains():
    t = torch.tensor
    assert get_function("log").domain(t([0.1, -1.0]), t([2.0, 1.0])).tolist() == [True, False]
    assert get_function("1/x").domain(t([-2.0, -2.0]), t([-0.5, 0.5])).tolist() == [True, False]
    tan = get_function("tan").domain
    assert tan(t([-1.5, 1.0, 2.0]), t([1.5, 2.0, 4.0])).tolist() == [True, False, True]
    assert get_function("arcsin").domain(t([-1.0]), t([1.0])).tolist() == [True]
    assert get_function("arctanh").domain(t([-1.0]), t([0.5])).tolist() == [False]
    assert get_function("sin").domain is None


def test_register_function_and_errors():
    try:
        fn = register_function("cosh", torch.cosh, sympy.cosh, 3)
        assert get_function("cosh") is fn and "cosh" in default_library()
        assert float(fn.torch(torch.tensor(0.0))) == 1.0
        with pytest.raises(SymbolicLibraryError, match="already registered"):
            register_function("cosh", torch.cosh, sympy.cosh, 3)
        register_function("cosh", torch.cosh, sympy.cosh, 4, overwrite=True)
        assert get_function("cosh").complexity == 4
    finally:
        unregister_function("cosh")
    assert "cosh" not in function_names()
    with pytest.raises(SymbolicLibraryError, match="complexity"):
        register_function("bad", torch.sin, sympy.sin, -1)
    with pytest.raises(SymbolicLibraryError, match="probe"):
        register_function("bad", lambda x: x.foo(), sympy.sin, 1)
    with pytest.raises(SymbolicLibraryError, match="sympy expression"):
        register_function("bad", torch.sin, lambda x: 3.0, 1)
    with pytest.raises(SymbolicLibraryError, match="built-in"):
        unregister_function("sin")
    with pytest.raises(SymbolicLibraryError, match="built-in"):
        register_function("x", torch.sin, sympy.sin, 1, overwrite=True)
    with pytest.raises(UnknownFunctionError, match="unknown symbolic function 'sinh'"):
        get_function("sinh")
