"""The NumPy objective for small plain models: loss and gradient against autograd, and fit."""

import numpy as np
import pytest
import torch

from kanrun import KAN, create_dataset
from kanrun.kan import fastpath_numpy
from kanrun.kan.fastpath_numpy import NumpyObjective
from kanrun.kan.objective import choose_objective


def hellokan(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def _data(n_in, n_out, dtype, n=400):
    def target(x):
        base = torch.exp(torch.sin(torch.pi * x[:, :1])) + x.sum(1, keepdim=True) ** 2
        return base * torch.arange(1, n_out + 1, dtype=x.dtype)

    return create_dataset(target, n_var=n_in, train_num=n, test_num=n, seed=1, dtype=dtype)


def _params(model):
    return [p for n, p in model.named_parameters() if p.requires_grad and "symbolic" not in n]


def _reference(model, params, x, y):
    loss = torch.nn.functional.mse_loss(model(x), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params, strict=True)])
    return float(loss.detach()), flat.detach().double().numpy()


def _assert_close(got, expected, tol):
    loss, grad = got
    ref_loss, ref_grad = expected
    assert abs(loss - ref_loss) <= tol * abs(ref_loss)
    assert np.abs(grad - ref_grad).max() <= tol * np.abs(ref_grad).max()


# (width, k, grid); grid 20 has too many knots for the comparison count: searchsorted
CASES = [([2, 5, 1], 3, 5), ([3, 4, 2, 1], 2, 5), ([2, 3, 1], 1, 5), ([2, 3, 2], 3, 5),
         ([2, 2], 3, 5), ([2, 3, 1], 0, 5), ([1, 3, 1], 2, 5), ([2, 3, 1], 3, 20)]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("width,k,grid", CASES)
def test_loss_and_gradient_match_autograd(width, k, grid, dtype, tol):
    data = _data(width[0], width[-1], dtype)
    model = KAN(width=width, grid=grid, k=k, seed=2, dtype=dtype)
    # non-uniform knots; the points evaluated are not the ones the knots were taken from
    model.update_grid(data["train_input"])
    with torch.no_grad():
        model.layers[0].mask[0, 0] = 0.0
        model.layers[-1].mask[-1, -1] = 0.0
        for layer in model.layers:
            layer.scale_sp.mul_(1.3)
            layer.scale_base.add_(0.1)
    params = _params(model)
    objective = choose_objective(model, params, loss_is_mse=True)
    assert isinstance(objective, NumpyObjective)
    x, y = data["test_input"], data["test_label"]
    _assert_close(objective.value_and_grad(x, y), _reference(model, params, x, y), tol)


def test_parameter_order_and_frozen_scales():
    data = _data(2, 1, torch.float64)
    model = KAN(width=[2, 4, 1], grid=4, k=3, seed=0, dtype=torch.float64, sb_trainable=False)
    params = _params(model)[::-1]  # any order: the gradient follows the parameter list
    x, y = data["test_input"], data["test_label"]
    _assert_close(NumpyObjective(model, params).value_and_grad(x, y),
                  _reference(model, params, x, y), 1e-12)


def test_grid_update_and_new_data_are_picked_up():
    data = _data(2, 1, torch.float64)
    model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    params = _params(model)
    objective = NumpyObjective(model, params)
    x, y = data["test_input"], data["test_label"]
    objective.value_and_grad(x, y)
    model.update_grid(data["train_input"])  # knots and coefficients change in place
    _assert_close(objective.value_and_grad(x, y), _reference(model, params, x, y), 1e-12)
    with torch.no_grad():
        params[0].mul_(0.5)
        x.mul_(0.9)  # in-place change of the data: its cached basis is rebuilt
    _assert_close(objective.value_and_grad(x, y), _reference(model, params, x, y), 1e-12)
    x2, y2 = data["train_input"][:123], data["train_label"][:123]
    _assert_close(objective.value_and_grad(x2, y2), _reference(model, params, x2, y2), 1e-12)


def test_choose_objective_follows_its_rule():
    def kind(model, **kw):
        chosen = choose_objective(model, _params(model), **{"loss_is_mse": True, **kw})
        return type(chosen).__name__

    small = KAN(width=[2, 5, 1], grid=5, k=3)
    assert kind(small) == "NumpyObjective"
    assert kind(small, lamb=0.01) == "NumpyObjective"  # L1 + entropy: part of it
    assert kind(small, lamb=0.01, lamb_coef=1.0) == "NoneType"  # coefficient penalty
    assert kind(small, lamb=0.0, lamb_coef=1.0) == "NumpyObjective"  # lamb 0: no penalty
    assert kind(small, loss_is_mse=False) == "NoneType"
    wide_input = KAN(width=[12, 20, 1], grid=3, k=3)  # the first layer's width is free
    assert kind(wide_input) == "NumpyObjective"
    big = KAN(width=[2, 8, 8], grid=3, k=3)  # 64 hidden edges
    compiled = fastpath_numpy.hidden_c.loaded()  # then up to MAX_COMPILED_HIDDEN_EDGES
    assert kind(big) == ("NumpyObjective" if compiled else "PlainObjective")
    assert kind(big, lamb=0.01) == ("NumpyObjective" if compiled else "NoneType")
    bigger = KAN(width=[2, 40, 30], grid=3, k=3)  # 1200 hidden edges: beyond both limits
    assert kind(bigger) == "PlainObjective"
    assert kind(bigger, lamb=0.01) == "NoneType"
    assert kind(KAN(width=[2, [1, 1], 1])) == "NoneType"  # multiplication nodes
    assert kind(KAN(width=[2, 3, 1], base_fun="tanh")) == "NoneType"
    affine = KAN(width=[2, 3, 1], grid=3, k=3)
    with torch.no_grad():
        affine.node_bias[0].add_(0.5)
    assert kind(affine) == "NoneType"
    outsider = torch.nn.Parameter(torch.zeros(3))
    assert choose_objective(small, [*_params(small), outsider], loss_is_mse=True) is None


def test_fit_reaches_paper_accuracy_with_numpy_objective(monkeypatch):
    data = create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0)
    used = []
    original = NumpyObjective.value_and_grad

    def spy(self, x, y):
        used.append(1)
        return original(self, x, y)

    monkeypatch.setattr(NumpyObjective, "value_and_grad", spy)
    histories = [KAN(width=[2, 5, 1], grid=5, k=3, seed=0).fit(data, opt="LBFGS", steps=20)
                 for _ in range(2)]
    assert used
    assert histories[0] == histories[1]  # deterministic
    assert histories[0]["test_loss"][-1] <= 1e-2


def test_fit_agrees_with_the_torch_objective(monkeypatch):
    data = _data(2, 1, torch.float64)
    runs = []
    for limit in (fastpath_numpy.MAX_HIDDEN_EDGES, -1):  # -1: fit uses PlainObjective
        monkeypatch.setattr(fastpath_numpy, "MAX_HIDDEN_EDGES", limit)
        monkeypatch.setattr(fastpath_numpy, "MAX_COMPILED_HIDDEN_EDGES", limit)
        model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
        runs.append(model.fit(data, steps=2))
    for key in ("train_loss", "test_loss"):
        assert np.allclose(runs[0][key], runs[1][key], rtol=1e-6, atol=0)


def _reference_penalized(model, params, x, y, lamb, lamb_l1=1.0, lamb_entropy=2.0):
    from kanrun.kan.regularize import regularization

    pred, records = model.forward_edges(x, numeric_only=True)
    mse = torch.nn.functional.mse_loss(pred, y)
    reg = regularization(model, records, lamb_l1, lamb_entropy)
    loss = mse + lamb * reg
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params, strict=True)])
    return (float(loss.detach()), flat.detach().double().numpy(), float(mse.detach()),
            float(reg.detach()))


@pytest.mark.parametrize("width,k,grid", [([2, 5, 1], 3, 5), ([3, 4, 2, 1], 2, 5),
                                          ([2, 3, 2], 3, 5), ([1, 3, 1], 1, 20)])
def test_penalized_loss_and_gradient_match_autograd(width, k, grid):
    data = _data(width[0], width[-1], torch.float64)
    model = KAN(width=width, grid=grid, k=k, seed=3, dtype=torch.float64)
    model.update_grid(data["train_input"])
    with torch.no_grad():
        for layer in model.layers:
            layer.scale_sp.mul_(1.3)
            layer.scale_base.add_(0.1)
    params = _params(model)
    x, y = data["test_input"], data["test_label"]
    objective = NumpyObjective(model, params, penalty=(0.01, 1.0, 2.0))
    loss, grad = objective.value_and_grad(x, y)
    ref_loss, ref_grad, ref_mse, ref_reg = _reference_penalized(model, params, x, y, 0.01)
    assert abs(loss - ref_loss) <= 1e-12 * ref_loss
    assert abs(objective.last_mse - ref_mse) <= 1e-12 * ref_mse
    assert abs(objective.last_reg - ref_reg) <= 1e-12 * ref_reg
    assert np.abs(grad - ref_grad).max() <= 1e-12 * np.abs(ref_grad).max()
    # the penalty's own gradient is a sizeable part: without it the comparison fails
    plain, _ = NumpyObjective(model, params).value_and_grad(x, y)
    assert abs(plain - ref_loss) > 1e-4 * ref_loss


def test_penalized_fit_uses_the_numpy_objective_and_reports_reg(monkeypatch):
    data = create_dataset(hellokan, n_var=2, train_num=300, test_num=300, seed=0,
                          dtype=torch.float64)
    used = []
    original = NumpyObjective.value_and_grad

    def spy(self, x, y):
        used.append(self.core.lamb is not None)
        return original(self, x, y)

    monkeypatch.setattr(NumpyObjective, "value_and_grad", spy)
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    hist = model.fit(data, opt="LBFGS", steps=3, lamb=0.01)
    assert used and all(used)
    # the reported reg is the penalty of the fitted model's last evaluation, > 0
    from kanrun.kan.regularize import regularization

    _, records = model.forward_edges(data["train_input"], numeric_only=True)
    final = float(regularization(model, records, 1.0, 2.0).detach())
    assert hist["reg"][-1] > 0 and abs(hist["reg"][-1] - final) <= 0.05 * final


def test_penalized_objective_with_pruned_edges_matches_autograd():
    data = _data(2, 1, torch.float64, n=200)
    model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    with torch.no_grad():  # removed edges: their values and spread are exactly zero
        model.layers[0].mask[0, 1] = 0.0
        model.layers[1].mask[2, 0] = 0.0
    params = _params(model)
    x, y = data["train_input"], data["train_label"]
    loss, grad = NumpyObjective(model, params, penalty=(0.01, 1.0, 2.0)).value_and_grad(x, y)
    ref_loss, ref_grad, _, _ = _reference_penalized(model, params, x, y, 0.01)
    assert np.isfinite(grad).all()
    assert abs(loss - ref_loss) <= 1e-12 * ref_loss
    assert np.abs(grad - ref_grad).max() <= 1e-12 * np.abs(ref_grad).max()
