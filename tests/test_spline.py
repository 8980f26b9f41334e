"""B-spline basis against scipy, derivatives, partition of unity, least squares."""

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanrun.kan import spline


def _random_grid(in_dim, num, k, seed):
    gen = torch.Generator().manual_seed(seed)
    inner = torch.sort(torch.rand(in_dim, num + 1, generator=gen, dtype=torch.float64) * 2 - 1,
                       dim=1).values
    return spline.extend_grid(inner, k)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_basis_and_derivative_match_scipy_on_nonuniform_grids(k):
    grid = _random_grid(3, 7, k, seed=k)
    gen = torch.Generator().manual_seed(100 + k)
    x = torch.rand(400, 3, generator=gen, dtype=torch.float64) * 3 - 1.5  # beyond the grid too
    basis, deriv = spline.basis_with_derivative(x, grid, k)
    tables = spline.basis_tables(grid, k)
    vals, cols, dloc = spline.fast_local_basis(x.t().contiguous(), grid, k, True, tables)
    fast = spline.dense_basis(vals, cols, grid.shape[1] - k - 1).permute(2, 0, 1)
    fast_d = spline.dense_basis(dloc, cols, grid.shape[1] - k - 1).permute(2, 0, 1)
    for i in range(3):
        t = grid[i].numpy()
        for j in range(grid.shape[1] - k - 1):
            element = BSpline.basis_element(t[j : j + k + 2], extrapolate=False)
            ref = np.nan_to_num(element(x[:, i].numpy()))
            dref = np.nan_to_num(element.derivative()(x[:, i].numpy()))
            assert np.abs(basis[:, i, j].numpy() - ref).max() < 1e-12
            assert np.abs(fast[:, i, j].numpy() - ref).max() < 1e-10
            assert np.abs(deriv[:, i, j].numpy() - dref).max() < 1e-9
            assert np.abs(fast_d[:, i, j].numpy() - dref).max() < 1e-8


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_partition_of_unity_inside_the_grid_and_zero_outside(k):
    grid = _random_grid(4, 6, k, seed=7)
    lo, hi = grid[:, k], grid[:, -k - 1]
    u = torch.rand(1000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = lo + (hi - lo) * u * 0.999999
    total = spline.bspline_basis(x, grid, k).sum(-1)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-13)
    far = torch.full((5, 4), 10.0, dtype=torch.float64)
    assert spline.bspline_basis(far, grid, k).abs().max() == 0


def test_basis_gradcheck():
    grid = _random_grid(3, 5, 3, seed=3)
    x = (torch.rand(15, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
         - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: spline.bspline_basis(v, grid, 3), (x,))


def test_float32_basis_close_to_float64():
    grid = _random_grid(2, 9, 3, seed=5)
    x = torch.rand(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 2 - 1
    b64 = spline.bspline_basis(x, grid, 3)
    b32 = spline.bspline_basis(x.float(), grid.float(), 3)
    assert (b64 - b32.double()).abs().max() < 2e-6


def test_curve_to_coef_recovers_a_spline_exactly():
    grid = _random_grid(2, 8, 3, seed=9)
    coef = torch.randn(2, 3, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = spline.sample_points(spline.interior(grid, 3), 5)
    y = torch.einsum("mip,iop->mio", spline.bspline_basis(x, grid, 3), coef)
    fitted = spline.curve_to_coef(x, y, grid, 3)
    lo, hi = grid[:, 3], grid[:, -4]
    fresh = lo + (hi - lo) * torch.rand(500, 2, dtype=torch.float64)
    basis = spline.bspline_basis(fresh, grid, 3)
    exact = torch.einsum("mip,iop->mio", basis, coef)
    approx = torch.einsum("mip,iop->mio", basis, fitted)
    assert (exact - approx).abs().max() < 1e-7
    assert (fitted - coef)[..., 2:-2].abs().max() < 1e-6


def test_refit_on_a_superset_grid_is_exact():
    """Knot insertion: a spline on G intervals is exactly a spline on 2G (same range)."""
    inner = torch.linspace(-1, 1, 6, dtype=torch.float64).expand(2, 6)
    old = spline.extend_grid(inner, 3)
    new = spline.extend_grid(torch.linspace(-1, 1, 11, dtype=torch.float64).expand(2, 11), 3)
    coef = torch.randn(2, 1, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pts = spline.sample_points(torch.linspace(-1, 1, 11, dtype=torch.float64).expand(2, 11), 5)
    new_coef = spline.refit_coef(pts, old, coef, new, 3)
    x = torch.rand(500, 2, dtype=torch.float64) * 2 - 1
    a = torch.einsum("mip,iop->mio", spline.bspline_basis(x, old, 3), coef)
    b = torch.einsum("mip,iop->mio", spline.bspline_basis(x, new, 3), new_coef)
    assert (a - b).abs().max() < 1e-8


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("num", [1, 5, 12])
def test_uniform_closed_form_matches_de_boor_and_the_tables(k, num):
    """On equally spaced knots fast_local_basis takes the closed form; its values and slopes
    are de Boor's to 1e-12 in float64 (closer than the tables', whose k = 5 polynomials
    carry ~1e-13), also at the knots themselves and far outside the grid."""
    lo = torch.tensor([[-1.0], [0.0], [-3.0]], dtype=torch.float64)
    span = torch.tensor([[2.0], [0.7], [10.0]], dtype=torch.float64)
    knots = lo + span * torch.linspace(0, 1, num + 1, dtype=torch.float64)
    grid = spline.extend_grid(knots, k)
    tables = spline.basis_tables(grid, k)
    assert (tables[3] is not None) == (k >= 2 and grid.shape[1] - 1 >= 2 * k + 1)
    gen = torch.Generator().manual_seed(k * 100 + num)
    u = torch.rand(3, 500, generator=gen, dtype=torch.float64) * 1.6 - 0.3  # beyond too
    xt = torch.cat([lo + span * u, grid, grid[:, :1] - 1e3, grid[:, -1:] + 1e3], 1)
    nb = grid.shape[1] - k - 1
    ref, dref = (b.permute(1, 2, 0) for b in spline.basis_with_derivative(xt.t(), grid, k))
    for path, tol in ((tables, 1e-12), ((*tables[:3], None), 1e-11)):
        vals, cols, deriv = spline.fast_local_basis(xt, grid, k, True, path)
        assert (spline.dense_basis(vals, cols, nb) - ref).abs().max() <= tol
        slopes = spline.dense_basis(deriv, cols, nb)
        assert (slopes - dref).abs().max() <= tol * dref.abs().max()


def test_uniform_closed_form_is_not_used_on_moved_knots():
    grid = spline.extend_grid(spline.uniform_grid(2, 5, (-1, 1), dtype=torch.float64), 3)
    assert spline.basis_tables(grid, 3)[3] is not None
    moved = grid.clone()
    moved[1, 5] += 1e-6
    assert spline.basis_tables(moved, 3)[3] is None
    assert spline.basis_tables(grid.float(), 3)[3] is not None  # float32 knots: rounding
    nearly = grid.clone()
    nearly[1, 5] += 1e-3  # within bfloat16's rounding, yet no uniform grid
    assert spline.basis_tables(nearly.to(torch.bfloat16), 3)[3] is None
