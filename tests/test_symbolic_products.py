"""The log-space whole-formula candidates: products of powers with binomial factors."""

import numpy as np
import sympy

from kanrun.kan.symbolic.products import product_templates
from kanrun.kan.symbolic.refit import compile_expr, refit
from kanrun.kan.symbolic.snap import snap_constants


def _exact(f, ranges, n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges], 1)
    y = f(*X.T)
    v = sympy.symbols(f"x0:{X.shape[1]}")
    tpl = product_templates(X[:400], y[:400], list(v), range(X.shape[1]))[0][1]
    fn = compile_expr(tpl.expr, list(v), tpl.params)
    theta, _ = refit(fn, X[:400], y[:400], tpl.values)
    snap = snap_constants(fn, X[:400], y[:400], X[400:], y[400:], theta, tpl.kinds)
    expr = tpl.substitute(snap.theta, {tpl.params[k]: e for k, e in snap.exact.items()})
    return sympy.simplify(expr), v, snap.val_rmse


def _same(e1, e2, v, ranges):
    rng = np.random.default_rng(1)
    X = [rng.uniform(lo, hi, 50) for lo, hi in ranges]
    f1, f2 = sympy.lambdify(v, e1), sympy.lambdify(v, e2)
    return np.allclose(f1(*X), f2(*X), rtol=1e-13, atol=0)


def test_a_binomial_factor_comes_out_with_exact_exponents():
    expr, (m, u, c), err = _exact(lambda m, u, c: m / np.sqrt(1 - u**2 / c**2),
                                  [[0.1, 1], [0, 1], [1, 2]])
    assert err < 1e-12
    assert not expr.atoms(sympy.Float)  # every constant exact
    assert _same(expr, m * c / sympy.sqrt(c**2 - u**2), (m, u, c), [[0.1, 1], [0, 1], [1, 2]])


def test_an_outer_asin_of_a_product_is_found():
    expr, (a, b, c), err = _exact(lambda a, b, c: np.arcsin(a / (b * c)),
                                  [[-1, 1], [1, 1.5], [1, 1.5]])
    assert err < 1e-12
    assert expr == sympy.asin(a / (b * c))


def test_a_sum_of_three_squares_under_a_root():
    expr, (m, a, b, c), err = _exact(lambda m, a, b, c: 2 * m * np.sqrt(a**2 + b**2 + c**2),
                                     [[0.1, 1]] * 4)
    assert err < 1e-12
    assert not expr.atoms(sympy.Float)
    assert _same(expr, 2 * m * sympy.sqrt(a**2 + b**2 + c**2), (m, a, b, c), [[0.1, 1]] * 4)


def test_no_templates_from_too_few_rows():
    X = np.ones((5, 3))
    assert product_templates(X, X[:, 0], list(sympy.symbols("a b c")), range(3)) == []


def test_float32_labels_loosen_the_snapping_floor_to_their_precision():
    import torch

    from kanrun.kan.symbolic.search import _precision

    y = torch.linspace(1.0, 2.0, 100, dtype=torch.float64)
    assert _precision(y) == 1e-10
    # 8 float32 epsilons of the labels' rms, relative to their spread (rms 1.53, std 0.29)
    assert abs(_precision(y.float()) - 8 * 2**-23 * 1.5275 / 0.2916) < 2e-8


def test_no_expansion_of_a_sum_to_a_large_power_and_no_snapping_of_huge_exponents():
    from kanrun.kan.symbolic.simplify import _big_power
    from kanrun.kan.symbolic.snap import simple_values

    x, y = sympy.symbols("x y")
    assert _big_power(x * (x + y) ** 643) and not _big_power((x + y) ** 3 * x**20)
    assert simple_values(643.2, "power") == []
    assert -0.5 in [v.value for v in simple_values(-0.4999, "power")]


def test_a_stalling_rewrite_is_cut_off_and_an_outer_time_limit_stays_in_charge():
    import time

    import pytest

    from kanrun.common import clock
    from kanrun.common.clock import TimeUp as _TimeUp
    from kanrun.common.clock import bounded as _bounded
    from kanrun.common.clock import time_limit as _time_limit

    def stall(e):  # busy: it uses CPU time
        end = clock.now() + 3.0
        while clock.now() < end:
            pass
        return e

    t0 = clock.now()
    assert _bounded(stall, 1, clock.deadline(0.2)) is None
    assert clock.now() - t0 < 1.0
    with pytest.raises(_TimeUp), _time_limit(0.5):
        _bounded(stall, 1, clock.deadline(10.0))  # the outer 0.5 s limit ends it
    assert clock.now() - t0 < 2.0

    def wait(e):  # idle: a busy machine's wall time, no CPU time of ours
        time.sleep(0.4)
        return e

    # the limits count CPU seconds, so waiting longer than them on the wall clock is no
    # reason to stop (a wall-clock limit would return None / raise here)
    assert _bounded(wait, 7, clock.deadline(0.2)) == 7
    with _time_limit(0.2):
        assert wait(8) == 8
