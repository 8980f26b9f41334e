"""Training: accuracy targets, determinism, optimizers, regularization, failures."""

import pytest
import torch

from kanrun import KAN, create_dataset
from kanrun.kan import FitError, NonFiniteLossError
from kanrun.kan.lbfgs import LBFGS


def hellokan(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def data32():
    return create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0)


@pytest.fixture(scope="module")
def data64():
    return create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0,
                          dtype=torch.float64)


def test_paper_fit_reaches_1e_2(data32):
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    history = model.fit(data32, opt="LBFGS", steps=20)
    assert len(history["train_loss"]) == 20
    assert history["test_loss"][-1] <= 1e-2
    assert history["test_loss"][-1] < 0.1 * history["test_loss"][0]


def test_grid_extension_float64_reaches_1e_4(data64):
    # seed 4 finds the structure exp(sin + square) (test RMSE ~1.3e-5 at grid 50, whichever
    # rounding the L-BFGS dot products have); of seeds 0-5, three stall in a local minimum
    # (~0.4) and two near 1e-4, on one side or the other of it depending on the last bits
    model = KAN(width=[2, 1, 1], grid=5, k=3, seed=4, dtype=torch.float64)
    model.fit(data64, steps=50)
    for grid in [10, 20, 50]:
        model = model.refine(grid, x=data64["train_input"])
        # the refined knots are already adapted to the data: train without moving them
        history = model.fit(data64, steps=100, update_grid=False)
    assert history["test_loss"][-1] <= 1e-4


def test_same_seed_gives_bit_identical_histories(data32):
    runs = []
    for _ in range(2):
        model = KAN(width=[2, 3, 1], grid=5, k=3, seed=4)
        runs.append(model.fit(data32, opt="LBFGS", steps=6))
    assert runs[0] == runs[1]
    adam = []
    for _ in range(2):
        model = KAN(width=[2, 3, 1], grid=5, k=3, seed=4)
        adam.append(model.fit(data32, opt="Adam", lr=1e-2, steps=15, batch=100, seed=3))
    assert adam[0] == adam[1]
    assert adam[0]["train_loss"][-1] < adam[0]["train_loss"][0]


def test_lbfgs_converges_like_torch_on_rosenbrock():
    def rosen(p):
        return ((1 - p[:-1]) ** 2).sum() + 100 * ((p[1:] - p[:-1] ** 2) ** 2).sum()

    ours = torch.nn.Parameter(torch.full((6,), -1.0, dtype=torch.float64))
    opt = LBFGS([ours], max_iter=20, history_size=10, tolerance_grad=1e-32,
                tolerance_change=1e-32)

    evals = []

    def closure():
        evals.append(1)
        return rosen(ours)

    for _ in range(6):
        opt.step(closure)
    opt.close()
    assert float(rosen(ours).detach()) < 1e-20

    reference = torch.nn.Parameter(torch.full((6,), -1.0, dtype=torch.float64))
    torch_opt = torch.optim.LBFGS([reference], max_iter=20, history_size=10,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-32,
                                  tolerance_change=1e-32)
    torch_evals = []

    def torch_closure():
        torch_evals.append(1)
        torch_opt.zero_grad()
        loss = rosen(reference)
        loss.backward()
        return loss

    for _ in range(6):
        torch_opt.step(torch_closure)
    assert float(rosen(reference).detach()) < 1e-20
    assert len(evals) <= 1.5 * len(torch_evals)


def test_sparsity_penalty_switches_off_most_edges(data32):
    from kanrun.kan.regularize import edge_scales

    def live_edges(model):
        with torch.no_grad():
            _, records = model.forward_edges(data32["train_input"], numeric_only=True)
        return [int((edge_scales(r["input"], r["edges"]) > 1e-2).sum()) for r in records]

    plain = KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    plain.fit(data32, steps=30)
    assert live_edges(plain)[0] >= 8
    # which edges survive is chaotic in the last bits (on 8 seeds, with the autograd and
    # the NumPy objective alike, 7 of 8 keep <= 2 second-layer edges): assert across seeds
    second = []
    for seed in range(3):
        sparse = KAN(width=[2, 5, 1], grid=5, k=3, seed=seed)
        history = sparse.fit(data32, steps=30, lamb=1e-2)
        assert history["reg"][-1] > 0
        first, last = live_edges(sparse)
        assert first <= 4 and last <= 3
        second.append(last)
        assert history["test_loss"][-1] < 0.1  # still fits the function roughly
    assert sum(second) <= 6


def test_custom_loss_and_callback_stop(data32):
    seen = []

    def callback(row):
        seen.append(row["step"])
        return row["step"] == 2

    model = KAN(width=[2, 2, 1], grid=3, k=3, seed=0)
    history = model.fit(data32, steps=10, callback=callback,
                        loss_fn=lambda p, y: torch.mean(torch.abs(p - y)))
    assert seen == [0, 1, 2] and len(history["test_loss"]) == 3


def test_non_finite_loss_restores_the_last_good_model(data32):
    model = KAN(width=[2, 2, 1], grid=3, k=3, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    bad = dict(data32)
    bad["train_label"] = data32["train_label"].clone()
    bad["train_label"][0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step 0"):
        model.fit(bad, steps=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_fit_arguments(data32):
    model = KAN(width=[2, 2, 1], grid=3, k=3, seed=0)
    with pytest.raises(FitError, match="opt"):
        model.fit(data32, opt="SGD")
    with pytest.raises(FitError, match="missing"):
        model.fit({"train_input": data32["train_input"]})
    with pytest.raises(FitError, match=r"\(n, 3\)"):
        KAN(width=[3, 1], grid=3).fit(data32, steps=1)


def test_autograd_free_objective_matches_autograd(data64):
    from kanrun.kan.fastpath import PlainObjective

    model = KAN(width=[2, 5, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fit(data64, steps=2)
    params = [p for n, p in model.named_parameters() if p.requires_grad and "symbolic" not in n]
    x, y = data64["train_input"][:300], data64["train_label"][:300]
    loss, grad = PlainObjective(model, params).value_and_grad(x, y)
    reference = torch.nn.functional.mse_loss(model(x), y)
    expected = torch.cat([g.reshape(-1) for g in torch.autograd.grad(reference, params)])
    assert abs(float(loss) - float(reference.detach())) < 1e-15
    assert (grad - expected).abs().max() <= 1e-12 * expected.abs().max()
