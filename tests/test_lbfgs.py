"""L-BFGS: the same iterates as torch.optim.LBFGS, and the cheap direction and closure forms."""

import numpy as np
import pytest
import torch

from kanrun.kan.lbfgs import LBFGS


def _problem():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(30, 12, generator=gen, dtype=torch.float64)
    b = torch.randn(30, generator=gen, dtype=torch.float64)

    def f(p):
        return torch.nn.functional.softplus(a @ p - b).sum() + 0.01 * (p**4).sum()

    return f


@pytest.mark.parametrize("history_size", [3, 10])
def test_iterates_match_torch_lbfgs(history_size):
    f = _problem()
    ours = torch.nn.Parameter(torch.zeros(12, dtype=torch.float64))
    ref = torch.nn.Parameter(torch.zeros(12, dtype=torch.float64))
    opt = LBFGS([ours], max_iter=5, history_size=history_size, tolerance_grad=1e-32,
                tolerance_change=1e-32)
    torch_opt = torch.optim.LBFGS([ref], max_iter=5, history_size=history_size,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-32,
                                  tolerance_change=1e-32)
    counts = [0, 0]

    def closure():
        counts[0] += 1
        return f(ours)

    def torch_closure():
        counts[1] += 1
        torch_opt.zero_grad()
        loss = f(ref)
        loss.backward()
        return loss

    for _ in range(6):  # 30 iterations: the history wraps around
        opt.step(closure)
        torch_opt.step(torch_closure)
        assert counts[0] == counts[1]
        with torch.no_grad():
            assert abs(float(f(ours) - f(ref))) <= 1e-14 * abs(float(f(ref)))
        # near the minimum the line search compares losses one ulp apart, so the dot
        # products' rounding (compiled loops here, BLAS in torch) can move an iterate ~1e-11
        assert float((ours - ref).detach().abs().max()) <= 1e-10
    opt.close()


def _two_loop(g, pairs, gamma):
    q = -g.copy()
    alphas = []
    for s, y in reversed(pairs):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q -= a * y
    q *= gamma
    for (s, y), a in zip(pairs, reversed(alphas), strict=True):
        q += (a - (y @ q) / (y @ s)) * s
    return q


def test_direction_is_the_two_loop_recursion():
    rng = np.random.default_rng(0)
    n, m = 40, 5
    opt = LBFGS([torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))], history_size=m)
    pairs = []
    for _ in range(2 * m + 1):
        s = rng.normal(size=n)
        y = s * rng.uniform(0.5, 2.0, size=n) + 0.1 * rng.normal(size=n)
        opt._push(s, y, float(y @ s))
        pairs = (pairs + [(s, y)])[-m:]
        g = rng.normal(size=n)
        expected = _two_loop(g, pairs, float(y @ s) / float(y @ y))
        assert np.allclose(opt._direction(g), expected, rtol=1e-12, atol=1e-12)
    opt.close()


def test_closure_may_return_numpy_loss_and_gradient():
    target = np.linspace(-1.0, 1.0, 7)
    p = torch.nn.Parameter(torch.zeros(7, dtype=torch.float32))
    opt = LBFGS([p], max_iter=20, tolerance_grad=1e-12, tolerance_change=1e-12)
    view = p.detach().numpy()  # p's storage is the optimizer's flat vector

    def closure():
        diff = view.astype(np.float64) - target
        return float(diff @ diff), 2 * diff

    opt.step(closure)
    assert np.abs(p.detach().numpy() - target).max() < 1e-6
    opt.close()
    assert np.abs(p.detach().numpy() - target).max() < 1e-6  # values kept after release
