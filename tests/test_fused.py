"""The fused layer of large layers (kanrun.kan.fused) against the general path."""

import pytest
import torch

import kanrun
from kanrun.kan import fused, spline


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_cardinal_pieces_are_the_b_spline_and_its_slope(k):
    # one B-spline on the integer knots 0..k+1 is N_k itself
    v = torch.linspace(-0.7, k + 1.7, 4001, dtype=torch.float64)
    knots = torch.arange(k + 2, dtype=torch.float64).view(1, -1)
    ref, ref_slope = spline.basis_with_derivative(v.view(-1, 1), knots, k)
    pieces = fused._symmetric_pieces(k)
    val = fused._cardinal(v, k, pieces, False)
    slope = fused._cardinal(v, k, pieces, True)
    assert float((val - ref[:, 0, 0]).abs().max()) < 1e-14
    assert float((slope - ref_slope[:, 0, 0]).abs().max()) < 1e-13
    assert float(ref[:, 0, 0].max()) > 0.3  # the comparison saw the bump


@pytest.fixture
def small_threshold(monkeypatch):
    """The fused path for test-sized layers, and a fresh module state."""
    monkeypatch.setattr(fused, "MIN_EDGES", 64)
    monkeypatch.setattr(fused, "MIN_ENTRIES", 1024)
    monkeypatch.setitem(fused._state, "enabled", True)
    monkeypatch.setitem(fused._state, "compiled", {})


def test_fused_layer_gives_the_general_paths_numbers(small_threshold, model_grads):
    model = kanrun.KAN(width=[12, 16, 5], grid=5, k=3, seed=1, dtype=torch.float64)
    x = torch.rand(200, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = x * 2.6 - 1.3  # some points outside the grid range [-1, 1]
    got = model_grads(model, x)
    assert any(key[0] == "features" and key[4] for key in fused._state["compiled"])
    fused._state["enabled"] = False
    ref = model_grads(model, x)
    assert len(got) == len(ref) == 2 + 6
    for a, b in zip(got, ref, strict=True):
        assert float((a - b).abs().max()) <= 1e-12 * (1 + float(b.abs().max()))
    assert float(ref[1].abs().max()) > 1e-3  # the input gradient is not trivially zero


def test_a_grid_update_leaves_the_fused_path(small_threshold):
    model = kanrun.KAN(width=[12, 16, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    x = torch.randn(300, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    model.update_grid(x)  # percentile knots: no longer equally spaced
    assert all(layer.tables()[3] is None for layer in model.layers)
    with torch.no_grad():
        model(x)
    assert fused._state["compiled"] == {}


def test_without_a_working_compiler_the_layer_falls_back(small_threshold, monkeypatch):
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("no C compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    model = kanrun.KAN(width=[12, 16, 1], grid=5, k=3, seed=2, dtype=torch.float64)
    x = torch.rand(100, 12, dtype=torch.float64) * 2 - 1
    with pytest.warns(RuntimeWarning, match="fused B-spline layer is off"):
        y = model(x)
    assert fused._state["enabled"] is False
    with torch.no_grad():
        assert torch.allclose(y, model(x), rtol=0, atol=0)
