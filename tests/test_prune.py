"""Attribution scores and pruning: numbers against pykan 0.2.8 and exact equivalence."""

import copy

import pytest
import torch

import kanrun
from kanrun import KAN
from kanrun.kan.attribution import AttributionError, activation_scales, attribute
from kanrun.kan.prune import (
    PruneError,
    dead_nodes_removed,
    mask_nodes,
    prune_edge,
    prune_node,
    subset_model,
)


def _rand_model(width, seed=0, dtype=torch.float64, **kw):
    """A model with random, non-trivial splines, scales and affine maps."""
    m = KAN(width, grid=4, k=3, noise_scale=1.0, seed=seed, dtype=dtype, **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in m.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=g, dtype=dtype))
        for p in [*m.subnode_scale, *m.node_scale]:
            p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g, dtype=dtype))
        for p in [*m.subnode_bias, *m.node_bias]:
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=dtype))
    return m


def _x(n, d, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1


def _pykan_copy(model, width, mult_arity=2):
    """pykan's MultKAN with exactly our weights (float32, no files written)."""
    from kan import KAN as PyKAN

    pk = PyKAN(width=width, grid=model.grid, k=model.k, mult_arity=mult_arity, seed=0,
               auto_save=False)
    with torch.no_grad():
        for ours, theirs in zip(model.layers, pk.act_fun, strict=True):
            for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                getattr(theirs, name).data = getattr(ours, name).detach().float().clone()
        for li in range(model.depth):
            pk.subnode_scale[li].data = model.subnode_scale[li].detach().float().clone()
            pk.subnode_bias[li].data = model.subnode_bias[li].detach().float().clone()
            pk.node_scale[li].data = model.node_scale[li].detach().float().clone()
            pk.node_bias[li].data = model.node_bias[li].detach().float().clone()
    return pk


@pytest.mark.parametrize("width,arity", [([3, 4, 2], 2),
                                         ([2, [2, 2], [1, 1], 1], [[], [2, 3], [2], []])])
def test_attribution_matches_pykan(width, arity):
    m = _rand_model(width, dtype=torch.float32, mult_arity=arity)
    x = _x(300, m.width_in[0], dtype=torch.float32)
    pk = _pykan_copy(m, width, arity)
    y_pk = pk(x)
    assert torch.allclose(m(x), y_pk, rtol=1e-4, atol=1e-5)  # same network
    pk.attribute()
    ours = attribute(m, x)
    for li in range(m.depth):
        torch.testing.assert_close(ours.edge_scores[li], pk.edge_scores[li].t(), rtol=2e-4,
                                   atol=1e-6)
    for li in range(m.depth + 1):
        torch.testing.assert_close(ours.node_scores[li], pk.node_scores[li], rtol=2e-4, atol=1e-6)


def test_activation_scales_definitions():
    m = _rand_model([2, 3, 1])
    x = _x(500, 2)
    scales = activation_scales(m, x)
    phi = m.layers[0].edge_values(x)
    torch.testing.assert_close(scales[0]["mean_abs"], phi.abs().mean(0))
    ratio = phi.std(0) / (x.std(0)[:, None] + 0.1)
    torch.testing.assert_close(scales[0]["std_ratio"], ratio)
    assert scales[1]["std_ratio"].shape == (3, 1)


def _kill(model, li, nodes):
    """Zero the outgoing splines of hidden nodes so that they score ~0."""
    with torch.no_grad():
        for i in nodes:
            model.layers[li].coef[i] = 0
            model.layers[li].scale_base[i] = 0


def test_prune_node_removes_dead_nodes_and_keeps_outputs_exactly():
    m = _rand_model([3, 5, 2])
    _kill(m, 1, [1, 3])
    x = _x(400, 3)
    small = prune_node(m, x, threshold=1e-2)
    assert small.width == [[3, 0], [3, 0], [2, 0]]
    assert small.config["width"] == small.width
    assert small.dtype == m.dtype and small.device == m.device
    masked = mask_nodes(m, [[0, 1, 2], [0, 2, 4], [0, 1]])
    xt = _x(257, 3, seed=7) * 3  # any input, also outside the training box
    assert (small(xt) - masked(xt)).abs().max() <= 1e-12
    # the dead nodes contributed nothing: also equal to the unpruned model
    assert (small(xt) - m(xt)).abs().max() <= 1e-12


def test_subset_with_multiplication_nodes_matches_masked_model():
    width = [3, [2, 2], [1, 1], 1]
    m = _rand_model(width, mult_arity=[[], [2, 3], [2], []])
    keep = [[0, 2], [1, 3], [0, 1], [0]]  # drops sum node 0 and the arity-2 mult node
    small = subset_model(m, keep)
    assert small.width == [[2, 0], [1, 1], [1, 1], [1, 0]]
    assert small.mult_arity[1] == [3] and small.mult_arity[2] == [2]
    assert small.layers[0].out_dim == 4  # 1 sum subnode + 3 factors
    masked = mask_nodes(m, keep)
    xt = _x(300, 2, seed=3)
    # the masked model ignores its input 1: feed it anything
    full = torch.stack([xt[:, 0], torch.full_like(xt[:, 0], 0.7), xt[:, 1]], 1)
    assert (small(xt) - masked(full)).abs().max() <= 1e-12
    assert small.input_ids == [0, 2]


def test_prune_edge_masks_weak_edges_on_a_copy():
    m = _rand_model([2, 4, 1])
    x = _x(400, 2)
    with torch.no_grad():
        m.layers[0].coef[1, 2] = 0
        m.layers[0].scale_base[1, 2] = 1e-6
    scores = attribute(m, x).edge_scores
    new = prune_edge(m, x, threshold=3e-2)
    expect = (scores[0] > 3e-2).to(m.dtype)
    assert torch.equal(new.layers[0].mask, expect)
    assert new.layers[0].mask[1, 2] == 0
    assert torch.all(m.layers[0].mask == 1)  # original untouched


def test_prune_flow_against_pykan_widths():
    """pykan's prune_node on the same weights keeps the same hidden nodes."""
    width = [3, 6, 1]
    m = _rand_model(width, dtype=torch.float32)
    _kill(m, 1, [0, 4, 5])
    x = _x(300, 3, dtype=torch.float32)
    pk = _pykan_copy(m, width)
    pk(x)
    pk_small = pk.prune_node(1e-2, log_history=False)
    ours = m.prune_node(1e-2, x=x)
    assert ours.width == [list(map(int, w)) for w in pk_small.width]
    torch.testing.assert_close(ours(x), pk_small(x), rtol=1e-4, atol=1e-5)


def test_prune_uses_cached_inputs_and_drops_nodes_left_without_edges():
    m = _rand_model([2, 3, 1])
    x = _x(300, 2)
    with pytest.raises(AttributionError, match="pass x="):
        m.prune()
    m.attribute(x)  # pykan style: remember the data, then prune without arguments
    with torch.no_grad():
        m.layers[1].coef[2] = 0
        m.layers[1].scale_base[2] = 1e-3  # node 2 scores above node_th but its edge is weak
    small = m.prune(node_th=1e-6, edge_th=3e-2)
    assert small.width == [[2, 0], [2, 0], [1, 0]]
    assert small.reference_inputs is not None


def test_dead_node_removal_is_exact():
    m = _rand_model([2, 4, 1])
    with torch.no_grad():
        m.layers[1].mask[3, 0] = 0
    small = dead_nodes_removed(m)
    assert small.width == [[2, 0], [3, 0], [1, 0]]
    xt = _x(100, 2, seed=4)
    assert (small(xt) - m(xt)).abs().max() <= 1e-12


def test_prune_input_and_errors():
    m = _rand_model([3, 3, 1])
    with torch.no_grad():
        m.layers[0].coef[1] = 0
        m.layers[0].scale_base[1] = 0
    x = _x(300, 3)
    small = m.prune_input(1e-2, x=x)
    assert small.width[0] == [2, 0] and small.input_ids == [0, 2]
    assert (small(x[:, [0, 2]]) - m(x)).abs().max() <= 1e-12
    with pytest.raises(PruneError, match="every input scores below"):
        m.prune_input(1e9, x=x)
    with pytest.raises(PruneError, match="hidden layer 1"):
        m.prune_node(1e9, x=x)
    with pytest.raises(PruneError, match="layer 2 would keep no node"):
        subset_model(m, [[0], [0], []])
    with pytest.raises(PruneError, match="out of range for layer 1"):
        subset_model(m, [[0], [5], [0]])


def test_pruned_model_is_independent_and_trainable():
    m = _rand_model([2, 3, 1])
    x = _x(200, 2)
    before = copy.deepcopy(m.state_dict())
    small = m.prune_node(1e-9, x=x, active_nodes=None)
    with torch.no_grad():
        small.layers[0].coef.add_(1.0)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])
    data = {"train_input": x, "train_label": x[:, :1] ** 2, "test_input": x,
            "test_label": x[:, :1] ** 2}
    h = small.fit(data, steps=2, update_grid=False)
    assert h["train_loss"][-1] < h["train_loss"][0] or h["train_loss"][-1] < 1e-3


def test_pruning_keeps_the_mean_of_removed_constant_edges():
    """Edges that are constant on the data score 0 and are removed; their constant goes to
    the subnode they fed, so the pruned model computes the same function on the data."""
    m = _rand_model([3, 5, 2], seed=2)
    x = _x(400, 3)
    m.update_grid(x)  # every layer's grid covers its inputs on x
    with torch.no_grad():
        m.layers[1].scale_base[1] = 0
        m.layers[1].coef[1, 0] = 0.4  # a constant spline (partition of unity)
        m.layers[1].coef[1, 1] = -0.25
        m.layers[0].scale_base[0, 3] = 0  # one constant first-layer edge, too
        m.layers[0].coef[0, 3] = 0.7
    before = m(x)
    small = prune_node(m, x, threshold=1e-6)
    assert small.width == [[3, 0], [4, 0], [2, 0]]
    assert (small(x) - before).abs().max() <= 1e-9
    edged = prune_edge(m, x, threshold=1e-6)
    assert edged.layers[0].mask[0, 3] == 0 and edged.layers[1].mask[1].sum() == 0
    assert (edged(x) - before).abs().max() <= 1e-9
    # the folded constants are what was at stake: masking alone loses them
    plain = mask_nodes(m, [[0, 1, 2], [0, 2, 3, 4], [0, 1]])
    assert (plain(x) - before).abs().max() > 0.1


def test_prune_keeps_the_trained_function_level():
    data = kanrun.create_dataset(
        lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2,
        train_num=500, test_num=200, seed=0, dtype=torch.float64)
    m = KAN([2, 5, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    m.fit(data, steps=20, lamb=0.01)
    x, y = data["train_input"], data["train_label"]
    small = m.prune(x=x)

    def rmse(model):
        with torch.no_grad():
            return float(((model(x) - y) ** 2).mean().sqrt())

    assert small.width[1][0] < 5
    assert rmse(small) < 2 * rmse(m) + 1e-2  # without the folded means: ~0.8
