"""The compiled loops of the NumPy objective (kanrun/kan/_hidden.c) compute what its NumPy
operations compute: loss and every gradient, with and without the penalty, for one or
many hidden layers, short and long knot vectors, float32 and float64."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

import kanrun
from kanrun.kan import hidden_c
from kanrun.kan.fastpath_numpy import NumpyObjective

needs_c = pytest.mark.skipif(not hidden_c.AVAILABLE, reason="the C extension is not built")


def test_the_extension_is_built_where_a_compiler_is():
    if os.environ.get("KANRUN_C") == "0" or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler, or switched off")
    assert hidden_c.AVAILABLE  # make install builds it (setup.py); a silent failure is a bug


def _both(model, x, y, penalty, monkeypatch):
    params = [p for n, p in model.named_parameters() if p.requires_grad and "symbolic" not in n]
    out = []
    for funcs in (hidden_c._FUNCS, None):
        monkeypatch.setattr(hidden_c, "_FUNCS", funcs)
        out.append(NumpyObjective(model, params, penalty=penalty).value_and_grad(x, y))
    return out


@needs_c
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("width,grid", [([2, 5, 1], 5), ([3, 4, 3, 2], 5), ([2, 3, 1], 30)])
@pytest.mark.parametrize("penalized", [False, True])
def test_compiled_loops_equal_the_numpy_operations(dtype, width, grid, penalized, monkeypatch):
    model = kanrun.KAN(width=width, grid=grid, k=3, seed=1, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, width[0], generator=gen, dtype=dtype) * 2.4 - 1.2  # some outside
    y = torch.sin(3 * x.sum(1, keepdim=True)).repeat(1, width[-1])
    model.update_grid(x[:200])  # non-uniform knots, some points beyond them
    (l_c, g_c), (l_np, g_np) = _both(model, x, y, (0.01, 1.0, 2.0) if penalized else None,
                                     monkeypatch)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    assert abs(l_c - l_np) <= tol * abs(l_np)
    assert np.abs(g_c - g_np).max() <= tol * np.abs(g_np).max()
    assert np.abs(g_np).max() > 0


@needs_c
def test_non_finite_inputs_stay_non_finite(monkeypatch):
    model = kanrun.KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    with torch.no_grad():
        model.layers[0].coef[0, 0, 2] = float("nan")  # the hidden layer sees NaN inputs
    x = torch.rand(50, 2, dtype=torch.float64)
    (l_c, g_c), (l_np, _) = _both(model, x, torch.zeros(50, 1, dtype=torch.float64), None,
                                  monkeypatch)
    assert np.isnan(l_c) and np.isnan(l_np) and np.isnan(g_c).any()


@needs_c
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_evaluation_with_frozen_parameters_and_test_loss(dtype, monkeypatch):
    # parameters left out of the fit get no gradient slot (NULL in the compiled call); the
    # test loss (mse without gradients) is the same forward as the loss
    model = kanrun.KAN(width=[3, 4, 1], grid=5, k=3, seed=2, dtype=dtype)
    model.layers[0].scale_base.requires_grad_(False)
    model.layers[1].scale_sp.requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(200, 3, generator=gen, dtype=dtype) * 2 - 1
    y = torch.cos(2 * x.sum(1, keepdim=True))
    model.update_grid(x)
    params = [p for n, p in model.named_parameters() if p.requires_grad and "symbolic" not in n]
    assert len(params) == 4
    out = []
    for funcs in (hidden_c._FUNCS, None):
        monkeypatch.setattr(hidden_c, "_FUNCS", funcs)
        objective = NumpyObjective(model, params, penalty=(0.01, 1.0, 2.0))
        loss, grad = objective.value_and_grad(x, y)
        out.append((loss, grad, objective.mse(x[:70], y[:70])))
    (l_c, g_c, t_c), (l_np, g_np, t_np) = out
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    assert abs(l_c - l_np) <= tol * abs(l_np)
    assert np.abs(g_c - g_np).max() <= tol * np.abs(g_np).max()
    with torch.no_grad():
        expected = float(torch.mean((model(x[:70]) - y[:70]) ** 2))
    assert abs(t_c - t_np) <= tol * t_np
    assert abs(t_c - expected) <= (1e-12 if dtype == torch.float64 else 1e-5) * expected


@needs_c
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_compiled_refit_equals_the_torch_bases(dtype, k, monkeypatch):
    # grid updates refit each spline by least squares; the compiled normal equations must
    # give the coefficients of the dense torch bases (points beyond both grids included)
    from kanrun.kan import spline

    gen = torch.Generator().manual_seed(k)
    x = torch.randn(400, 3, generator=gen, dtype=dtype) * 1.3
    old = spline.extend_grid(torch.sort(torch.rand(3, 6, generator=gen, dtype=dtype) * 4 - 2,
                                        1).values, k)
    new = spline.extend_grid(torch.sort(torch.rand(3, 11, generator=gen, dtype=dtype) * 3
                                        - 1.5, 1).values, k)
    coef = torch.randn(3, 2, old.shape[1] - k - 1, generator=gen, dtype=dtype)
    compiled = spline.refit_coef(x, old, coef, new, k)
    monkeypatch.setattr(hidden_c, "refits", lambda *args: False)
    reference = spline.refit_coef(x, old, coef, new, k)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert float((compiled - reference).abs().max()) <= tol * float(reference.abs().max())


@needs_c
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_compiled_basis_tables_equal_the_torch_ones(dtype, k, monkeypatch):
    # the per-interval polynomial tables of fast_local_basis, on knots with a zero-width
    # interval; the compiled table and torch's must describe the same B-splines
    from kanrun.kan import spline

    gen = torch.Generator().manual_seed(10 + k)
    knots = torch.sort(torch.rand(3, 8, generator=gen, dtype=dtype) * 4 - 2, 1).values
    knots[1, 3] = knots[1, 2]
    grid = spline.extend_grid(knots, k)
    compiled = spline.basis_tables(grid, k)[0]
    monkeypatch.setattr(hidden_c, "refits", lambda *args: False)
    reference = spline.basis_tables(grid, k)[0]
    assert compiled.dtype == reference.dtype and compiled.shape == reference.shape
    scale = float(reference.double().abs().max())
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    assert float((compiled.double() - reference.double()).abs().max()) <= tol * scale
    x = torch.rand(500, 3, generator=gen, dtype=dtype) * 5 - 2.5
    monkeypatch.undo()
    vals, cols, _ = spline.fast_local_basis(x.t().contiguous(), grid, k, False,
                                            spline.basis_tables(grid, k))
    dense = spline.dense_basis(vals, cols, grid.shape[1] - k - 1).permute(2, 0, 1)
    assert float((dense - spline.bspline_basis(x, grid, k)).abs().max()) <= (
        1e-12 if dtype == torch.float64 else 1e-5)
