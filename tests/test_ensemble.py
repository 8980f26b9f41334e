"""KANEnsemble: every member fitted in the batch equals its solo fit; the torch stack
(the device path) has the gradients of autograd."""

import numpy as np
import pytest
import torch

import kanrun
from kanrun import KAN, KANEnsemble, create_dataset
from kanrun.kan import ensemble as ensemble_module
from kanrun.kan.ensemble_stack import NumpyStack, Stack
from kanrun.kan.fit import FitError
from kanrun.kan.regularize import regularization


def _data(seed, n=200, dtype=torch.float64, n_out=1):
    def target(x):
        y = torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)
        return torch.cat([y, x[:, [0]] * x[:, [1]]], 1)[:, :n_out]

    return create_dataset(target, n_var=2, train_num=n, test_num=n, seed=seed, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_members_equal_their_solo_fits(dtype):
    datasets = [_data(0, dtype=dtype), _data(1, dtype=dtype)] * 2
    seeds, grids, lambs = [0, 1, 2, 3], [5, 5, 3, 5], [0.0, 0.01, 0.0, 0.003]
    ens = KANEnsemble(width=[2, 3, 1], grid=grids, k=3, seeds=seeds, dtype=dtype)
    assert len(ens) == 4 and isinstance(ens[2], KAN) and ens[2].grid == 3
    histories = ens.fit(datasets, opt="LBFGS", steps=6, lamb=lambs)  # grid updates at 0, 5
    for i, (seed, grid, lamb) in enumerate(zip(seeds, grids, lambs, strict=True)):
        solo = KAN(width=[2, 3, 1], grid=grid, k=3, seed=seed, dtype=dtype)
        expected = solo.fit(datasets[i], opt="LBFGS", steps=6, lamb=lamb)
        got = histories[i]
        # the trajectories are chaotic (1e-15 at the start is 1e-2 after 20 steps), so
        # agreement this close means the same decisions from the same numbers
        for key in ("train_loss", "reg"):
            assert np.allclose(got[key], expected[key], rtol=1e-9, atol=0), (i, key)
        # the test loss is only reported (NumPy forward here, torch's there)
        tol = 1e-9 if dtype == torch.float64 else 1e-5
        assert np.allclose(got["test_loss"], expected["test_loss"], rtol=tol, atol=0)
        assert (got["reg"][-1] > 0) == (lamb > 0)
        for a, b in zip(ens[i].state_dict().values(), solo.state_dict().values(), strict=True):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    # members differ from each other (different seeds, data and penalties)
    assert len({h["train_loss"][-1] for h in histories}) == 4


def _autograd(member, data, lamb):
    params = [p for n, p in member.named_parameters() if p.requires_grad and "symbolic" not in n]
    pred, records = member.forward_edges(data["train_input"], numeric_only=True)
    mse = torch.nn.functional.mse_loss(pred, data["train_label"])
    loss = mse + lamb * regularization(member, records, 1.0, 2.0)
    grads = torch.autograd.grad(loss, params)
    return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads]).numpy()


@pytest.mark.parametrize("kind", [Stack, NumpyStack])
def test_stack_loss_and_gradient_match_autograd(kind):
    members = [KAN(width=[2, 4, 2], grid=4, k=2, seed=s, dtype=torch.float64) for s in range(3)]
    datasets = [_data(s, n=150, n_out=2) for s in range(3)]
    for member, data in zip(members, datasets, strict=True):
        member.update_grid(data["train_input"])  # non-uniform knots
    lambs = [0.0, 0.02, 0.005]
    stack = kind(members, datasets, lambs)
    losses, grads = stack.loss_and_grad()
    for i, (member, data, lamb) in enumerate(zip(members, datasets, lambs, strict=True)):
        loss, grad = _autograd(member, data, lamb)
        assert abs(losses[i] - loss) <= 1e-12 * loss
        assert np.abs(grads[i] - grad).max() <= 1e-11 * np.abs(grad).max()


def test_torch_stack_fit_converges(monkeypatch):
    monkeypatch.setattr(ensemble_module, "numpy_serves", lambda model: False)
    data = _data(0, n=300)
    ens = KANEnsemble(width=[2, 5, 1], grid=5, k=3, seeds=range(3), dtype=torch.float64)
    histories = ens.fit(data, steps=8)
    for i, h in enumerate(histories):
        assert h["train_loss"][-1] < 0.3 * h["train_loss"][0]
        with torch.no_grad():  # the members hold the fitted parameters
            rmse = float(((ens[i](data["test_input"]) - data["test_label"]) ** 2).mean()) ** 0.5
        assert abs(rmse - h["test_loss"][-1]) <= 1e-9 * rmse


def test_bad_arguments_are_one_clear_error():
    ens = KANEnsemble(width=[2, 2, 1], grid=3, k=3, seeds=range(2))
    with pytest.raises(FitError, match="LBFGS"):
        ens.fit(_data(0), opt="Adam")
    with pytest.raises(FitError, match="equal sizes"):
        ens.fit([_data(0, n=50, dtype=torch.float32), _data(1, n=60, dtype=torch.float32)])
    with pytest.raises(FitError, match="datasets"):
        ens.fit([_data(0)])
    with pytest.raises(FitError, match="grid"):
        KANEnsemble(width=[2, 2, 1], grid=[3, 4, 5], seeds=range(2))
    assert kanrun.KANEnsemble is KANEnsemble


def test_one_member_torch_stack_is_the_plain_objective_bit_for_bit():
    from kanrun.kan.fastpath import PlainObjective

    member = KAN(width=[2, 4, 2], grid=4, k=2, seed=0, dtype=torch.float64)
    data = _data(0, n=150, n_out=2)
    member.update_grid(data["train_input"])
    stack = Stack([member], [data], [0.0])
    losses, grads = stack.loss_and_grad()
    params = [p for layer in member.layers for p in (layer.coef, layer.scale_base,
                                                      layer.scale_sp)]
    loss, grad = PlainObjective(member, params).value_and_grad(data["train_input"],
                                                                data["train_label"])
    assert np.array_equal(grads[0], grad.numpy())  # the same kernels, the same numbers
    assert abs(losses[0] - float(loss)) <= 1e-15 * float(loss)


def test_exact_test_losses_are_those_of_solo_fits_bit_for_bit():
    data = _data(0, dtype=torch.float32)
    ens = KANEnsemble(width=[2, 3, 1], grid=5, k=3, seeds=[0, 1], dtype=torch.float32)
    histories = ens.fit(data, opt="LBFGS", steps=4, exact_test=True)
    for seed, got in zip([0, 1], histories, strict=True):
        solo = KAN(width=[2, 3, 1], grid=5, k=3, seed=seed, dtype=torch.float32)
        expected = solo.fit(data, opt="LBFGS", steps=4)
        assert got["test_loss"] == expected["test_loss"]
        assert got["train_loss"] == expected["train_loss"]


@pytest.mark.parametrize("dtype,width,n", [(torch.float32, [2, 3, 1], 50),
                                           (torch.float64, [3, 2, 2], 97),
                                           (torch.float32, [2, 5, 1], 200)])
def test_members_are_their_solo_fits_bit_for_bit(dtype, width, n):
    # stacked torch kernels round a tensor's tail differently from its body: before the
    # knot constants were built member by member, these members differed at 1e-10
    def target(x):
        return torch.sin(2 * x.sum(1, keepdim=True)).repeat(1, width[-1])

    data = create_dataset(target, n_var=width[0], train_num=n, test_num=n, seed=1, dtype=dtype)
    ens = KANEnsemble(width=width, grid=3, k=3, seeds=range(3), dtype=dtype)
    histories = ens.fit(data, opt="LBFGS", steps=7, lamb=0.01, exact_test=True)
    for seed, got in enumerate(histories):
        solo = KAN(width=width, grid=3, k=3, seed=seed, dtype=dtype)
        expected = solo.fit(data, opt="LBFGS", steps=7, lamb=0.01)
        assert got == expected
        for a, b in zip(ens[seed].state_dict().values(), solo.state_dict().values(),
                        strict=True):
            assert torch.equal(a, b)
