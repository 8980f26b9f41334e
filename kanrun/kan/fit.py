"""The training loop: LBFGS (strong-Wolfe line search) or Adam, full batch or minibatch.

Follows pykan's ``fit``: RMSE histories per step, grid updates every
``stop_grid_update_step // grid_update_num`` steps until ``stop_grid_update_step``, the
L1 + entropy penalty weighted by ``lamb``. Randomness (minibatches) comes from a generator
seeded by ``seed``; nothing is printed: pass ``callback`` to follow progress.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .regularize import regularization


class FitError(ValueError):
    """Bad arguments to fit (data, optimizer, batch)."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the model holds its last finite state."""

    def __init__(self, message: str, history: dict):
        super().__init__(message)
        self.history = history


def _check_data(data, model):
    need = ("train_input", "train_label", "test_input", "test_label")
    missing = [key for key in need if key not in data]
    if missing:
        raise FitError(f"data is missing {missing}; it needs the keys {list(need)}")
    n_in = model.width_in[0]
    for key in ("train_input", "test_input"):
        x = data[key]
        if x.dim() != 2 or x.shape[1] != n_in:
            raise FitError(f"data[{key!r}] must be (n, {n_in}) for this model, got {tuple(x.shape)}")
    if data["train_input"].shape[0] != data["train_label"].shape[0]:
        raise FitError("train_input and train_label have different numbers of rows")
    if data["test_input"].shape[0] != data["test_label"].shape[0]:
        raise FitError("test_input and test_label have different numbers of rows")


def _mse(pred, target):
    return torch.mean((pred - target) ** 2)


def fit(
    model,
    data: dict,
    opt: str = "LBFGS",
    steps: int = 100,
    lr: float = 1.0,
    batch: int = -1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    loss_fn: Callable | None = None,
    callback: Callable | None = None,
    seed: int = 0,
    max_iter: int = 20,
    history_size: int = 10,
) -> dict:
    """Train ``model`` in place and return ``{"train_loss", "test_loss", "reg"}`` per step.

    Losses are ``sqrt(loss_fn)`` (RMSE for the default MSE). ``callback(info)`` receives a
    dict (step, train_loss, test_loss, reg) after every step and may return True to stop.
    """
    _check_data(data, model)
    if opt not in ("LBFGS", "Adam"):
        raise FitError(f"opt must be 'LBFGS' or 'Adam', got {opt!r}")
    if steps < 0:
        raise FitError(f"steps must be >= 0, got {steps}")
    dtype, device = model.dtype, model.device
    x_train = data["train_input"].to(device=device, dtype=dtype)
    y_train = data["train_label"].to(device=device)
    x_test = data["test_input"].to(device=device, dtype=dtype)
    y_test = data["test_label"].to(device=device)
    if y_train.is_floating_point():
        y_train, y_test = y_train.to(dtype), y_test.to(dtype)
    loss_fn = loss_fn or _mse
    n_train, n_test = x_train.shape[0], x_test.shape[0]
    bs = n_train if batch == -1 or batch > n_train else int(batch)
    bs_test = n_test if batch == -1 or batch > n_test else int(batch)
    if bs < 1:
        raise FitError(f"batch must be -1 (full batch) or a positive size, got {batch}")
    gen = torch.Generator().manual_seed(int(seed))
    grid_update_freq = max(1, int(stop_grid_update_step / max(1, grid_update_num)))
    params = [p for p in model.parameters() if p.requires_grad]
    if opt == "Adam":
        optimizer = torch.optim.Adam(params, lr=lr)
    else:
        optimizer = torch.optim.LBFGS(
            params, lr=lr, max_iter=max_iter, history_size=history_size,
            line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32,
        )
    history = {"train_loss": [], "test_loss": [], "reg": []}
    use_reg = lamb > 0 or lamb_coef > 0 or lamb_coefdiff > 0
    state = {}

    def objective(xb, yb):
        if use_reg:
            pred, records = model.forward_edges(xb, numeric_only=True)
            reg = regularization(model, records, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)
        else:
            pred, reg = model(xb), None
        loss = loss_fn(pred, yb)
        total = loss + lamb * reg if reg is not None else loss
        state["loss"], state["reg"] = loss.detach(), reg
        return total

    for step in range(steps):
        if bs < n_train:
            train_id = torch.randperm(n_train, generator=gen)[:bs].to(device)
            xb, yb = x_train[train_id], y_train[train_id]
        else:
            xb, yb = x_train, y_train
        if bs_test < n_test:
            test_id = torch.randperm(n_test, generator=gen)[:bs_test].to(device)
            xt, yt = x_test[test_id], y_test[test_id]
        else:
            xt, yt = x_test, y_test
        if (update_grid and step % grid_update_freq == 0 and step < stop_grid_update_step
                and step >= start_grid_update_step):
            model.update_grid(xb)
        backup = [p.detach().clone() for p in params]
        if opt == "LBFGS":
            def closure():
                optimizer.zero_grad(set_to_none=True)
                total = objective(xb, yb)
                total.backward()
                return total

            optimizer.step(closure)
        else:
            optimizer.zero_grad(set_to_none=True)
            objective(xb, yb).backward()
            optimizer.step()
        with torch.no_grad():
            test_loss = loss_fn(model(xt), yt)
        train_loss = state["loss"]
        reg = state["reg"]
        row = {
            "step": step,
            "train_loss": math.sqrt(max(float(train_loss), 0.0)),
            "test_loss": math.sqrt(max(float(test_loss), 0.0)),
            "reg": float(reg.detach()) if reg is not None else 0.0,
        }
        if not (math.isfinite(row["train_loss"]) and all(
                torch.isfinite(p).all() for p in params)):
            with torch.no_grad():
                for p, b in zip(params, backup):
                    p.copy_(b)
            raise NonFiniteLossError(
                f"the training loss became {row['train_loss']} at step {step}; the model was "
                "restored to its last finite state (try a smaller lr, a smaller grid or lamb)",
                history,
            )
        for key in ("train_loss", "test_loss", "reg"):
            history[key].append(row[key])
        if callback is not None and callback(row):
            break
    return history
