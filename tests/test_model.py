"""The KAN model: shapes, gradients, multiplication nodes, grids, checkpoints."""

import copy
import pickle

import pytest
import torch
from torch.func import functional_call

from kanrun import KAN, create_dataset
from kanrun.kan import CheckpointError, KANConfigError


def hellokan(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def data64():
    return create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0,
                          dtype=torch.float64)


def rmse(model, x, y):
    with torch.no_grad():
        return float(((model(x) - y) ** 2).mean().sqrt())


def test_shapes_and_parameter_layout():
    m = KAN(width=[3, [4, 2], 2], grid=5, k=3, seed=0)
    assert m.width == [[3, 0], [4, 2], [2, 0]]
    assert m.width_subnodes == [3, 8, 2]
    assert [layer.coef.shape for layer in m.layers] == [(3, 8, 8), (6, 2, 8)]
    assert m(torch.zeros(7, 3)).shape == (7, 2)
    with pytest.raises(KANConfigError, match="input must have shape"):
        m(torch.zeros(7, 2))


@pytest.mark.parametrize("width", [[2, 5, 1], [2, [3, 2], 1], [3, [0, 2], [2, 1], 1]])
@pytest.mark.parametrize("base_fun", ["silu", "tanh"])
def test_gradients_match_finite_differences(width, base_fun):
    m = KAN(width=width, grid=4, k=3, seed=1, dtype=torch.float64, base_fun=base_fun)
    x = (torch.rand(12, width[0], dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: m(v), (x,))
    names = [n for n, p in m.named_parameters() if p.requires_grad and "symbolic" not in n]
    params = dict(m.named_parameters())
    vals = tuple(params[n].detach().clone().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(
        lambda *v: functional_call(m, dict(zip(names, v, strict=True)), (x.detach(),)), vals)


def test_multiplication_nodes_multiply_their_factors():
    m = KAN(width=[2, [1, 2], 1], grid=3, k=3, seed=0, mult_arity=[[], [2, 3], []],
            dtype=torch.float64)
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    sub = m.layers[0](x)  # (50, 1 + 2 + 3)
    nodes = torch.stack([sub[:, 0], sub[:, 1] * sub[:, 2], sub[:, 3] * sub[:, 4] * sub[:, 5]], 1)
    expected = m.layers[1](nodes)
    assert torch.allclose(m(x), expected, atol=1e-14)


def test_forward_edges_sums_to_forward():
    m = KAN(width=[2, [3, 1], 2], grid=5, k=3, seed=2, dtype=torch.float64)
    x = torch.rand(40, 2, dtype=torch.float64) * 2 - 1
    y, records = m.forward_edges(x)
    assert torch.allclose(y, m(x), atol=1e-13)
    assert records[0]["edges"].shape == (40, 2, 5)


def test_initialization_follows_pykan_scales():
    m = KAN(width=[4, 3], grid=5, k=3, seed=0, noise_scale=0.3, scale_base_mu=0.0,
            scale_base_sigma=1.0, dtype=torch.float64)
    layer = m.layers[0]
    assert torch.allclose(layer.scale_sp, torch.full((4, 3), 0.5, dtype=torch.float64))
    assert layer.scale_base.abs().max() <= 0.5  # sigma * U(-1, 1) / sqrt(in)
    assert layer.knots.shape == (4, 5 + 2 * 3 + 1)
    assert torch.allclose(layer.knots[:, 3], torch.full((4,), -1.0, dtype=torch.float64))
    spline_vals = layer.spline_values(torch.linspace(-1, 1, 50, dtype=torch.float64)
                                      .unsqueeze(1).expand(50, 4))
    assert 0 < spline_vals.abs().max() < 0.3 / 5  # noise_scale / grid


def test_dtype_device_and_mode_are_plain_torch(data64):
    m = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in m.parameters())
    assert all(b.dtype == torch.float64 for b in m.buffers())
    x = data64["test_input"][:20]
    out_train = m.train()(x)
    out_eval = m.eval()(x)
    assert torch.equal(out_train, out_eval)
    m32 = KAN(width=[2, 3, 1], grid=5, k=3, seed=0).to(torch.float64)
    assert torch.allclose(m32(x), m(x), atol=1e-6)


def test_update_grid_moves_knots_to_the_data_and_keeps_the_function(data64):
    """From the initial uniform grid to the data's percentiles, nothing is lost."""
    m = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64, grid_range=(-2, 2))
    x, y = data64["train_input"], data64["train_label"]
    before = rmse(m, x, y)
    m.update_grid(x)
    knots = m.layers[0].interior_knots()
    assert torch.allclose(knots[:, 0], x.min(0).values) and torch.allclose(knots[:, -1],
                                                                          x.max(0).values)
    assert abs(rmse(m, x, y) - before) <= 1e-3 * before
    # a trained first layer (fixed inputs) re-gridded on its data keeps its curves
    m.fit(data64, steps=5)
    layer = m.layers[0]
    curves = layer(x)
    layer.update_grid(x * 0.9)
    assert (layer(x * 0.9) - m.layers[0](x * 0.9)).abs().max() == 0
    inside = (x.abs() < 0.85).all(1)
    assert (layer(x)[inside] - curves[inside]).abs().max() < 0.01 * curves.std()


def test_refine_keeps_the_function_from_5_to_100(data64):
    m = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    m.fit(data64, steps=15)
    x, y = data64["train_input"], data64["train_label"]
    for grid in [10, 20, 50, 100]:
        before = rmse(m, x, y)
        m = m.refine(grid, x=x)
        assert m.grid == grid and m.layers[0].n_intervals == grid
        after = rmse(m, x, y)
        assert abs(after - before) <= 0.01 * before, (grid, before, after)
        m.fit(data64, steps=2)


def test_refine_to_a_very_fine_grid_stays_finite(data64):
    """G=500 from 1000 samples: the regularized least squares must not diverge."""
    m = KAN(width=[2, 1, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    m.fit(data64, steps=10)
    x, y = data64["train_input"], data64["train_label"]
    before = rmse(m, x, y)
    fine = m.refine(500, x=x)
    assert abs(rmse(fine, x, y) - before) <= 0.01 * before
    test_before = rmse(m, data64["test_input"], data64["test_label"])
    test_after = rmse(fine, data64["test_input"], data64["test_label"])
    assert abs(test_after - test_before) < 0.1 * test_before


def test_save_load_round_trip(tmp_path, data64):
    m = KAN(width=[2, [3, 1], 1], grid=5, k=3, seed=3, dtype=torch.float64)
    m.fit(data64, steps=3)
    m = m.refine(8, x=data64["train_input"])
    path = tmp_path / "model.pt"
    m.save(path)
    loaded = KAN.load(path)
    x = data64["test_input"]
    assert torch.equal(loaded(x), m(x))
    assert loaded.config == m.config
    assert list(tmp_path.iterdir()) == [path]


def test_load_rejects_files_that_are_not_checkpoints(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": "kanrun.KAN", "x": Evil()}))
    with pytest.raises(CheckpointError, match="not a readable kanrun checkpoint"):
        KAN.load(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a kanrun KAN checkpoint"):
        KAN.load(other)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        KAN.load(tmp_path / "missing.pt")


def test_bad_width_and_settings_have_clear_errors():
    with pytest.raises(KANConfigError, match="at least two"):
        KAN(width=[3])
    with pytest.raises(KANConfigError, match="multiplication"):
        KAN(width=[[2, 1], 1])
    with pytest.raises(ValueError, match="base_fun"):
        KAN(width=[2, 1], base_fun="nope")
    with pytest.raises(ValueError, match="grid"):
        KAN(width=[2, 1], grid=0)


def test_update_grid_with_labels_keeps_the_rmse_within_one_percent(data64):
    """A coarse hidden layer re-knotted mid-training cannot keep its curve exactly (the
    plain update raises the RMSE here by ~2.7x); given labels, the update moves the knots
    only as far as keeps the RMSE within 1% (fit does so with grid_update_tolerance)."""
    x, y = data64["train_input"], data64["train_label"]
    trained = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    trained.update_grid(x)
    trained.fit(data64, steps=5, update_grid=False)
    before = rmse(trained, x, y)
    plain = copy.deepcopy(trained)
    assert plain.update_grid(x) == 1.0
    assert rmse(plain, x, y) > 1.5 * before  # what the issue is about
    kept = copy.deepcopy(trained)
    moved = kept.update_grid(x, y, tolerance=0.01)
    assert moved in (0.0, 0.25)
    assert rmse(kept, x, y) <= 1.01 * before
    # a tolerance the full move satisfies lets the knots go all the way
    loose = copy.deepcopy(trained)
    assert loose.update_grid(x, y, tolerance=10.0) == 1.0
    assert torch.equal(loose.layers[1].knots, plain.layers[1].knots)


def test_fit_can_keep_the_loss_at_every_grid_update(data64):
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    moves = []
    original = KAN.update_grid

    def spy(self, *args, **kwargs):
        moves.append(original(self, *args, **kwargs))
        return moves[-1]

    KAN.update_grid = spy
    try:
        history = model.fit(data64, steps=20, grid_update_tolerance=0.01)
    finally:
        KAN.update_grid = original
    assert len(moves) == 4 and set(moves) <= {0.0, 0.25, 1.0}  # every 5 steps up to 20
    assert history["test_loss"][-1] < 1e-2


def test_cached_and_uncached_forward_agree_to_the_last_bit():
    # fit evaluates the first layer from cached inputs; the model it returns does not
    x = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1)) * 4 - 2
    model = KAN(width=[3, 4, 2], grid=5, k=3, seed=0)
    with torch.no_grad():
        plain = model(x)
        model.cache_inputs(True)
        try:
            cached = model(x)
        finally:
            model.cache_inputs(False)
    assert torch.equal(plain, cached)
