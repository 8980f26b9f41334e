"""The MLP baseline of the paper's comparisons, trained with the same L-BFGS as KANs."""

from __future__ import annotations

import math

import torch

from kanrun.common.metrics import rmse
from kanrun.kan.lbfgs import LBFGS

ACTIVATIONS = {"silu": torch.nn.SiLU, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def make_mlp(width: list[int], activation: str = "silu", seed: int = 0,
             dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    """Linear layers of ``width`` (e.g. [2, 100, 100, 1]) with ``activation`` between them."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    gen = torch.Generator().manual_seed(int(seed))
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(width[:-1], width[1:], strict=False)):
        linear = torch.nn.Linear(n_in, n_out, dtype=dtype)
        bound = 1.0 / math.sqrt(n_in)  # torch's default init, from our own generator
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=gen)
            linear.bias.uniform_(-bound, bound, generator=gen)
        layers.append(linear)
        if i < len(width) - 2:
            layers.append(ACTIVATIONS[activation]())
    return torch.nn.Sequential(*layers)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _rmse(model, x, y) -> float:
    with torch.no_grad():
        return rmse(model(x), y)


def fit_mlp(model: torch.nn.Sequential, data: dict, steps: int) -> dict:
    """Full-batch L-BFGS (strong Wolfe, as KAN.fit); returns the final train/test RMSE.

    Stops early, keeping the last finite state, if the loss becomes NaN or infinite.
    """
    x, y = data["train_input"], data["train_label"]
    params = list(model.parameters())
    optimizer = LBFGS(params, history_size=10, tolerance_grad=1e-32, tolerance_change=1e-32)
    last = [p.detach().clone() for p in params]

    def closure():
        return torch.mean((model(x) - y) ** 2)

    try:
        for _ in range(int(steps)):
            loss = optimizer.step(closure)
            if not math.isfinite(loss):
                with torch.no_grad():
                    for p, saved in zip(params, last, strict=True):
                        p.copy_(saved)
                break
            last = [p.detach().clone() for p in params]
    finally:
        optimizer.close()
    return {"train_rmse": _rmse(model, x, y),
            "test_rmse": _rmse(model, data["test_input"], data["test_label"])}
