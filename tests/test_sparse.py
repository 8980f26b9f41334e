"""The sparse layer (kanrun.kan.sparse, _sparse_layer.h) against the general GEMM path."""

import pytest
import torch

import kanrun
from kanrun.kan import fused, sparse

pytestmark = pytest.mark.skipif(not sparse.available(),
                                reason="the sparse layer needs the extension and AVX-512")


@pytest.fixture
def counted(monkeypatch):
    """Counts the sparse forwards; the fused path off so that the reference is the plain one."""
    calls = []
    real = sparse.forward

    def forward(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(sparse, "forward", forward)
    monkeypatch.setitem(fused._state, "enabled", False)
    return calls


def _compare(model, x, monkeypatch, calls, grads):
    monkeypatch.setitem(sparse._state, "enabled", True)
    ours = grads(model, x)
    used = len(calls)
    monkeypatch.setitem(sparse._state, "enabled", False)
    ref = grads(model, x)
    assert len(calls) == used  # the reference did not take the sparse path
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        scale = float(b.abs().max())
        assert scale > 0
        assert float((a - b).abs().max()) <= 2e-5 * scale
    return used


@pytest.mark.parametrize("k,grid", [(2, 4), (3, 5), (4, 7), (5, 10)])
@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_layer_gives_the_general_paths_numbers(k, grid, threads, counted, monkeypatch,
                                                     model_grads):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    model = kanrun.KAN(width=[24, 40, 19], grid=grid, k=k, seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(333, 24, generator=gen) * 2.6 - 1.3  # some points beyond the grid
    x[0, :] = 50.0  # far outside: no B-spline at all, only silu
    x[1, :] = -1.0  # on the first grid knot
    used = _compare(model, x, monkeypatch, counted, model_grads)
    assert used == 2  # both layers (24 x 40 and 40 x 19 edges)


def test_masked_edges_and_a_single_thread_share_of_few_points(counted, monkeypatch,
                                                             model_grads):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)  # more threads than needed
    model = kanrun.KAN(width=[40, 33], grid=5, k=3, seed=0)
    with torch.no_grad():
        model.layers[0].mask[::3] = 0.0
    x = torch.rand(1000, 40) * 2 - 1
    _compare(model, x, monkeypatch, counted, model_grads)
    _, _, *grads = model_grads(model, x)
    coef_grad = grads[0]
    assert float(coef_grad[::3].abs().max()) == 0.0  # removed edges learn nothing
    assert float(coef_grad[1::3].abs().max()) > 0.0


def test_non_uniform_knots_and_float64_keep_the_gemm_path(counted, monkeypatch):
    model = kanrun.KAN(width=[24, 40], grid=5, k=3, seed=0)
    x = torch.rand(600, 24) ** 3 * 2 - 1
    model(x)
    assert len(counted) == 1
    model.update_grid(x)  # adaptive knots: no longer equally spaced
    model(x)
    assert len(counted) == 1
    model64 = kanrun.KAN(width=[24, 40], grid=5, k=3, seed=0).double()
    model64(x.double())
    assert len(counted) == 1
