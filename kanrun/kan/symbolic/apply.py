"""Put the formula search's chosen combination onto a model's edges."""

from __future__ import annotations

import torch

from ..attribution import edge_records
from .candidates import live_edges
from .library import get_function
from .search import formula_from_model


def _library_choice(cand, alternatives):
    """The candidate itself if the model can hold it, else the best one it can."""
    for c in [cand, *alternatives]:
        if c.library_name is not None:
            return c
    return None


def apply_search(model, x, y, lib, zero_threshold: float, options: dict):
    """Run :func:`formula_from_model` and set every live edge to its chosen function.

    Returns the decision records, or None when the search found no formula (the caller
    then falls back to the greedy choice). For the Pareto front itself call
    :func:`formula_from_model`.
    """
    result = formula_from_model(model, x, y, lib=lib, zero_threshold=zero_threshold, **options)
    if not result.choice:
        return None
    alts = {ec.edge: ec.candidates for ec in result.candidates}
    records = edge_records(model, x)
    decisions = []
    best = result.best
    note = (f"chosen by the formula search ({result.evaluated} combinations refitted; "
            f"best formula {best.expr} with held-out RMSE {best.val_rmse:.3g})"
            if best is not None else "chosen by the formula search")
    for li, i, j in live_edges(model):
        layer = model.layers[li]
        if layer.mask[i, j] == 0:
            continue  # already symbolic: kept
        cand = result.choice.get((li, i, j))
        if cand is None or cand.name == "0":
            mean = float(records[li]["edges"][:, i, j].mean())
            name, params, r2, cplx = "0", [1.0, 0.0, 1.0, mean], None, 0.0
            reason = ("negligible or unused by the outputs; replaced by its mean" if cand is None
                      else "negligible: attribution score <= zero_threshold; replaced by its mean")
        else:
            use = _library_choice(cand, alts.get((li, i, j), []))
            if use is None:
                continue
            name, params = use.library_name, list(use.params)
            r2, cplx = use.r2, get_function(name).complexity
            reason = note if use is cand else (
                f"{note}; the power x^{cand.power:g} is not a library function, so the "
                f"model holds {name}")
        rec = {"layer": li, "in": i, "out": j, "function": name, "r2": r2, "complexity": cplx,
               "params": [float(v) for v in params], "reason": reason,
               "alternatives": [c.as_dict() for c in alts.get((li, i, j), [])
                                if c.library_name != name][:4]}
        layer.symbolic.set_edge(i, j, name, torch.tensor(params, dtype=torch.float64),
                                record=rec)
        with torch.no_grad():
            layer.mask[i, j] = 0.0
        decisions.append(rec)
    return sorted(decisions, key=lambda d: (d["layer"], d["in"], d["out"]))


__all__ = ["apply_search"]
