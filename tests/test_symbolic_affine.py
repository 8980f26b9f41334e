"""The vectorized affine fit c*f(a*x+b)+d: recovery, ranking, domains, degenerate fits."""

import math

import pytest
import torch

from kanrun.kan.symbolic.affine import AffineFitError, fit_affine, polish_affine
from kanrun.kan.symbolic.auto import symbolic_loss
from kanrun.kan.symbolic.library import get_function, resolve_library


def _x(n=600, seed=0, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


CASES = [  # (function, a, b, c, d, x range)
    ("sin", 3.1, 0.2, -0.3, 0.1, (-1, 1)),
    ("x^2", 2.0, -0.5, 0.7, 0.2, (-1, 1)),
    ("exp", 1.3, 0.0, 0.7, -0.1, (-1, 1)),
    ("1/x", 1.0, 1.7, 1.0, 0.0, (-1, 1)),
    ("arctan", 4.0, -1.0, 2.0, 0.5, (-1, 1)),
    ("log", 1.5, 2.0, 0.8, 0.1, (-1, 1)),
    ("gaussian", 1.8, 0.4, -1.2, 0.3, (-1, 1)),
    ("tanh", 2.5, 0.5, 1.1, 0.0, (-1, 1)),
]


def test_fit_recovers_each_function_and_ranks_it_first():
    lib = resolve_library(None)
    xs, ys = [], []
    for k, (name, a, b, c, d, (lo, hi)) in enumerate(CASES):
        x = _x(seed=k, lo=lo, hi=hi)
        xs.append(x)
        ys.append(c * get_function(name).exact(a * x + b) + d)
    x, y = torch.stack(xs), torch.stack(ys)
    fit = fit_affine(x, y, lib)
    assert fit.params.shape == (len(CASES), len(lib), 4)
    comp = torch.tensor([f.complexity for f in lib], dtype=torch.float64)
    for e, (name, *_rest) in enumerate(CASES):
        k = fit.names.index(name)
        assert fit.r2[e, k] > 1 - 1e-6, (name, float(fit.r2[e, k]))
        # weight_simple=0 ranks by r2 only: the true function is among the exact fits
        loss = symbolic_loss(fit.score_r2[e], comp, 0.0)
        assert loss[k] <= loss.min() + 1e-3, (name, fit.names[int(loss.argmin())])
        # polishing reaches the exact parameters' curve
        fn = get_function(name)
        p, r2 = polish_affine(fn, x[e], y[e], fit.params[e, k])
        assert 1 - float(r2[0]) < 1e-12, name
        pred = p[0, 2] * fn.exact(p[0, 0] * x[e] + p[0, 1]) + p[0, 3]
        assert (pred - y[e]).abs().max() < 1e-7 * (1 + y[e].abs().max())


def test_default_scoring_prefers_the_simple_true_function():
    x = _x(800)
    lib = resolve_library(None)
    comp = torch.tensor([f.complexity for f in lib], dtype=torch.float64)
    targets = {"x^2": 0.5 * (x - 0.1) ** 2, "sin": torch.sin(math.pi * x), "x": 3 * x - 1,
               "exp": torch.exp(0.8 * x)}
    fit = fit_affine(torch.stack([x] * 4), torch.stack(list(targets.values())), lib)
    for e, name in enumerate(targets):
        loss = symbolic_loss(fit.score_r2[e], comp, 0.8)
        assert fit.names[int(loss.argmin())] == name


def test_degenerate_fits_do_not_beat_the_real_function():
    """cos(a x) with tiny a imitates x^2 arbitrarily well; the damped r2 prevents the tie."""
    x = _x(800)
    y = (x**2).unsqueeze(0)
    lib = [get_function(n) for n in ("cos", "gaussian", "x^2", "1/x^2")]
    fit = fit_affine(x.unsqueeze(0), y, lib)
    k = fit.names.index("x^2")
    assert fit.score_r2[0, k] == fit.score_r2[0].max()
    assert fit.score_r2[0, fit.names.index("cos")] < fit.score_r2[0, k] - 1e-6


def test_domain_violations_are_rejected_not_clipped():
    x = _x(500)
    y = (torch.relu(x) ** 0.5).unsqueeze(0)  # sqrt of a clipped argument
    fit = fit_affine(x.unsqueeze(0), y, [get_function("sqrt"), get_function("log")])
    a, b = fit.params[0, 0, :2]
    u = a * x + b
    assert float(u.min()) >= 0  # the accepted sqrt fit keeps every argument in the domain
    assert fit.r2[0, 0] < 0.99  # and so cannot reproduce the kink
    # log on data whose best argument would cross zero: only valid (a, b) are reported
    a, b = fit.params[0, 1, :2]
    if torch.isfinite(fit.r2[0, 1]):
        assert float((a * x + b).min()) > 0


def test_constant_and_zero_edges():
    x = _x(300).unsqueeze(0)
    y = torch.full_like(x, 0.25)
    fit = fit_affine(x, y, [get_function("0"), get_function("sin")])
    assert fit.r2[0, 0] == 1.0 and fit.r2[0, 1] == 0.0
    assert fit.params[0, 0, 3] == pytest.approx(0.25)


def test_input_errors():
    sin = [get_function("sin")]
    with pytest.raises(AffineFitError, match="same|both"):
        fit_affine(torch.zeros(2, 10), torch.zeros(2, 9), sin)
    with pytest.raises(AffineFitError, match="NaN"):
        fit_affine(torch.tensor([0.0, 1.0, float("nan")]), torch.zeros(3), sin)
    with pytest.raises(AffineFitError, match="ranges"):
        fit_affine(torch.zeros(10), torch.zeros(10), sin, a_range=(1, -1))
