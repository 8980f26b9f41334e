"""Numbers that describe a model for the run's tables: shape, edges, errors.

The only module of the pipeline that looks at a layer's masks (to count live edges);
everything else goes through the model's methods.
"""

from __future__ import annotations

import math

import torch


def width_text(model) -> str:
    """``[2,5,1]``, or ``[2,[5,2],1]`` when a layer has multiplication nodes."""
    parts = [str(s) if not m else f"[{s},{m}]" for s, m in model.width]
    return "[" + ",".join(parts) + "]"


def _layer_masks(layer):
    numeric = layer.mask != 0
    symbolic = getattr(layer, "symbolic", None)
    sym = symbolic.mask != 0 if symbolic is not None else torch.zeros_like(numeric)
    return numeric, sym


def edge_counts(model) -> tuple[int, int]:
    """(live edges, of which symbolic): an edge is live when its spline or symbolic part is on."""
    live = symbolic = 0
    for layer in model.layers:
        numeric, sym = _layer_masks(layer)
        live += int((numeric | sym).sum())
        symbolic += int(sym.sum())
    return live, symbolic


def spline_edges(model) -> int:
    """Live edges that are still splines (not replaced by a symbolic function)."""
    count = 0
    for layer in model.layers:
        numeric, sym = _layer_masks(layer)
        count += int((numeric & ~sym).sum())
    return count


@torch.no_grad()
def rmse(model, x: torch.Tensor, y: torch.Tensor, loss_fn=None) -> float:
    """sqrt(loss) of ``model`` on (x, y), as KAN.fit reports it (RMSE for regression)."""
    x = x.to(device=model.device, dtype=model.dtype)
    y = y.to(device=model.device)
    if y.is_floating_point():
        y = y.to(model.dtype)
    pred = model(x)
    loss = loss_fn(pred, y) if loss_fn is not None else torch.mean((pred - y) ** 2)
    value = float(loss)
    return math.sqrt(value) if value >= 0 else float("nan")


@torch.no_grad()
def accuracy(model, x: torch.Tensor, labels: torch.Tensor) -> float:
    pred = model(x.to(device=model.device, dtype=model.dtype)).argmax(dim=1).cpu()
    return float((pred == labels.cpu()).double().mean())


def summary(model, data: dict, loss_fn=None) -> dict:
    """The model part of a stages.csv row."""
    live, _ = edge_counts(model)
    return {
        "width": width_text(model),
        "n_params": int(model.n_params),
        "n_edges": live,
        "grid": int(model.grid),
        "train_rmse": rmse(model, data["train_input"], data["train_label"], loss_fn),
        "test_rmse": rmse(model, data["test_input"], data["test_label"], loss_fn),
    }
