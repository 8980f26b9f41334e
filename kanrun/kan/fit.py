"""The training loop: LBFGS (strong-Wolfe line search) or Adam, full batch or minibatch.

Follows pykan's ``fit``: RMSE histories per step, grid updates every
``stop_grid_update_step // grid_update_num`` steps until ``stop_grid_update_step``, the
L1 + entropy penalty weighted by ``lamb``. Randomness (minibatches) comes from a generator
seeded by ``seed``; nothing is printed: pass ``callback`` to follow progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .lbfgs import LBFGS
from .objective import choose_objective
from .regularize import regularization


class FitError(ValueError):
    """Bad arguments to fit (data, optimizer, batch)."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the model holds its last finite state."""

    def __init__(self, message: str, history: dict):
        super().__init__(message)
        self.history = history


# below this many multiply-adds per forward pass (batch x sum of in*out*n_basis over
# layers), extra torch threads cost more in synchronisation than they save: fit uses one
SMALL_MODEL_WORK = 2e7


def fit_threads(model, n_rows: int, threads: int | None) -> int:
    """Torch threads for a fit: ``threads`` if given, 1 for small models, else torch's."""
    if threads is not None:
        if int(threads) < 1:
            raise FitError(f"threads must be a positive number of threads, got {threads}")
        return int(threads)
    work = n_rows * sum(layer.in_dim * layer.out_dim * layer.n_basis for layer in model.layers)
    return 1 if work < SMALL_MODEL_WORK else torch.get_num_threads()


def mse(pred, target):
    return torch.nn.functional.mse_loss(pred, target)


@dataclass
class _Settings:
    opt: str
    steps: int
    lr: float
    batch: int
    lamb: float
    lamb_l1: float
    lamb_entropy: float
    lamb_coef: float
    lamb_coefdiff: float
    update_grid: bool
    grid_update_num: int
    start_grid_update_step: int
    stop_grid_update_step: int
    loss_fn: Callable
    callback: Callable | None
    seed: int
    max_iter: int
    history_size: int
    grid_update_tolerance: float | None = None

    @property
    def grid_update_freq(self) -> int:
        return max(1, int(self.stop_grid_update_step / max(1, self.grid_update_num)))

    @property
    def uses_penalty(self) -> bool:
        return self.lamb > 0 and (self.lamb_l1 or self.lamb_entropy or self.lamb_coef
                                  or self.lamb_coefdiff)

    def grid_update_due(self, step: int) -> bool:
        return (self.update_grid and step % self.grid_update_freq == 0
                and self.start_grid_update_step <= step < self.stop_grid_update_step)


def _prepare(model, data):
    need = ("train_input", "train_label", "test_input", "test_label")
    missing = [key for key in need if key not in data]
    if missing:
        raise FitError(f"data is missing {missing}; it needs the keys {list(need)}")
    n_in = model.width_in[0]
    for key in ("train_input", "test_input"):
        x = data[key]
        if x.dim() != 2 or x.shape[1] != n_in:
            raise FitError(
                f"data[{key!r}] must be (n, {n_in}) for this model, got {tuple(x.shape)}")
    for split in ("train", "test"):
        if data[f"{split}_input"].shape[0] != data[f"{split}_label"].shape[0]:
            raise FitError(f"{split}_input and {split}_label have different numbers of rows")
    if data["train_input"].shape[0] == 0:
        raise FitError("the training set is empty")
    out = {}
    for key in need:
        t = data[key].to(device=model.device)
        out[key] = t.to(model.dtype) if t.is_floating_point() else t
    return out


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
    grid_update_tolerance: float | None = None,
    threads: int | None = None,
) -> dict:
    """Train ``model`` in place and return ``{"train_loss", "test_loss", "reg"}`` per step.

    Losses are ``sqrt(loss_fn)`` (RMSE for the default MSE); for LBFGS the training loss is
    that of the last evaluation of the step, as in pykan. ``callback(row)`` receives a dict
    (step, train_loss, test_loss, reg) after every step and may return True to stop early.
    Raises :class:`NonFiniteLossError` (model restored to the last finite state) on NaN/inf.
    Grid updates move the knots to the data unconditionally, as pykan does; with
    ``grid_update_tolerance`` (e.g. 0.01) a move that would raise the batch's RMSE by more
    than that (relative) is shortened or skipped (see :meth:`KAN.update_grid`). That keeps
    the loss, but also keeps knots that no longer cover the data (a later ``refine`` then
    changes the function more), so it is off by default.

    ``threads``: torch threads while fitting. By default small models (under
    ``SMALL_MODEL_WORK`` multiply-adds per forward pass, e.g. any [n,5,1] science model on
    a few thousand rows) use one thread, which is faster than several (a [2,5,1] sparsify
    fit took 55 s with two threads on a busy 2-core machine and 5.6 s with one); larger
    models keep torch's setting. The caller's setting is restored afterwards. After the fit
    the model remembers ``data['train_input']`` as its sample inputs (for ``plot()``,
    ``prune()``, ``auto_symbolic()`` without ``x``).
    """
    if opt not in ("LBFGS", "Adam"):
        raise FitError(f"opt must be 'LBFGS' or 'Adam', got {opt!r}")
    if int(steps) < 0:
        raise FitError(f"steps must be >= 0, got {steps}")
    if not (batch == -1 or int(batch) >= 1):
        raise FitError(f"batch must be -1 (full batch) or a positive size, got {batch}")
    if not lr > 0:
        raise FitError(f"lr must be positive, got {lr}")
    cfg = _Settings(opt, int(steps), float(lr), int(batch), float(lamb), float(lamb_l1),
                    float(lamb_entropy), float(lamb_coef), float(lamb_coefdiff),
                    bool(update_grid), int(grid_update_num), int(start_grid_update_step),
                    int(stop_grid_update_step), loss_fn or mse, callback, int(seed),
                    int(max_iter), int(history_size),
                    None if grid_update_tolerance is None else float(grid_update_tolerance))
    data = _prepare(model, data)
    # the affine parameters of layers without symbolic edges get no gradient: leave them out
    idle = {id(p) for layer in model.layers if not layer.symbolic.active
            for p in layer.symbolic.parameters()}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in idle]
    if not params:
        raise FitError("the model has no trainable parameters")
    rows = data["train_input"].shape[0] if cfg.batch == -1 else min(cfg.batch,
                                                                     data["train_input"].shape[0])
    n_threads, caller_threads = fit_threads(model, rows, threads), torch.get_num_threads()
    model.cache_inputs(True)
    if opt == "Adam":
        optimizer = torch.optim.Adam(params, lr=cfg.lr)
    else:
        optimizer = LBFGS(params, lr=cfg.lr, max_iter=cfg.max_iter,
                          history_size=cfg.history_size, tolerance_grad=1e-32,
                          tolerance_change=1e-32)
    try:
        if n_threads != caller_threads:
            torch.set_num_threads(n_threads)
        return _train(model, data, cfg, optimizer, params)
    finally:
        if n_threads != caller_threads:
            torch.set_num_threads(caller_threads)
        model.cache_inputs(False)
        model.reference_inputs = data["train_input"]
        if isinstance(optimizer, LBFGS):
            optimizer.close()


def _batches(data, cfg, gen):
    """Yield (x_train, y_train, x_test, y_test) for each step (the same tensors if full)."""
    n_train, n_test = data["train_input"].shape[0], data["test_input"].shape[0]
    bs = n_train if cfg.batch == -1 else min(cfg.batch, n_train)
    bs_test = n_test if cfg.batch == -1 else min(cfg.batch, n_test)
    dev = data["train_input"].device
    while True:
        if bs < n_train:
            ids = torch.randperm(n_train, generator=gen)[:bs].to(dev)
            xb, yb = data["train_input"][ids], data["train_label"][ids]
        else:
            xb, yb = data["train_input"], data["train_label"]
        if bs_test < n_test:
            ids = torch.randperm(n_test, generator=gen)[:bs_test].to(dev)
            xt, yt = data["test_input"][ids], data["test_label"][ids]
        else:
            xt, yt = data["test_input"], data["test_label"]
        yield xb, yb, xt, yt


def _scalar(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _all_finite(optimizer, params) -> bool:
    """Whether every trained parameter is finite (one check of L-BFGS's flat vector)."""
    if isinstance(optimizer, LBFGS):
        return optimizer.flat.all_finite()
    return all(bool(torch.isfinite(p).all()) for p in params)


def _train(model, data, cfg: _Settings, optimizer, params) -> dict:
    history = {"train_loss": [], "test_loss": [], "reg": []}
    last = {}

    fast = None  # an autograd-free objective (LBFGS only: it takes a flat gradient)
    if isinstance(optimizer, LBFGS):
        fast = choose_objective(model, params, loss_is_mse=cfg.loss_fn is mse, lamb=cfg.lamb,
                                lamb_l1=cfg.lamb_l1, lamb_entropy=cfg.lamb_entropy,
                                lamb_coef=cfg.lamb_coef, lamb_coefdiff=cfg.lamb_coefdiff)

    def objective(xb, yb):
        if fast is not None and yb.dim() == 2:
            loss, grad = fast.value_and_grad(xb, yb)
            last["loss"], last["reg"] = fast.last_mse, fast.last_reg
            return loss, grad
        if cfg.uses_penalty:
            pred, records = model.forward_edges(xb, numeric_only=True)
            reg = regularization(model, records, cfg.lamb_l1, cfg.lamb_entropy, cfg.lamb_coef,
                                 cfg.lamb_coefdiff)
            loss = cfg.loss_fn(pred, yb)
            total = loss + cfg.lamb * reg
        else:
            loss = cfg.loss_fn(model(xb), yb)
            reg, total = None, loss
        last["loss"], last["reg"] = loss, reg
        return total

    gen = torch.Generator().manual_seed(cfg.seed)
    batches = _batches(data, cfg, gen)
    # the model's tensors, listed once (fit changes them in place): each step snapshots them
    state = list(model.state_dict(keep_vars=True).items())
    for step in range(cfg.steps):
        xb, yb, xt, yt = next(batches)
        backup = {key: value.detach().clone() for key, value in state}
        if cfg.grid_update_due(step):
            if cfg.grid_update_tolerance is None:
                model.update_grid(xb)
            else:
                model.update_grid(xb, yb, cfg.grid_update_tolerance, cfg.loss_fn)
        if isinstance(optimizer, LBFGS):
            optimizer.step(lambda xb=xb, yb=yb: objective(xb, yb))
        else:
            optimizer.zero_grad(set_to_none=True)
            objective(xb, yb).backward()
            optimizer.step()
        if fast is not None and hasattr(fast, "mse") and yt.dim() == 2:
            test_loss = fast.mse(xt, yt)  # the objective's own forward: no torch calls
        else:
            with torch.no_grad():
                test_loss = float(cfg.loss_fn(model(xt), yt))
        row = {
            "step": step,
            "train_loss": math.sqrt(max(_scalar(last["loss"]), 0.0)),
            "test_loss": math.sqrt(max(test_loss, 0.0)),
            "reg": _scalar(last["reg"]) if last["reg"] is not None else 0.0,
        }
        finite = math.isfinite(row["train_loss"]) and _all_finite(optimizer, params)
        if not finite:
            model.load_state_dict(backup)
            raise NonFiniteLossError(
                f"the training loss became {row['train_loss']} at step {step}; the model was "
                "restored to its last finite state (try a smaller lr, a smaller grid or lamb)",
                history,
            )
        for key in ("train_loss", "test_loss", "reg"):
            history[key].append(row[key])
        if cfg.callback is not None and cfg.callback(row):
            break
    return history
