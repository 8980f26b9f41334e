"""Suggest, fix and automatically choose symbolic functions for a model's edges.

Scoring follows pykan 0.2.8's ``suggest_symbolic``::

    loss = weight_simple * complexity + (1 - weight_simple) * log2(1 + 1e-5 - r2)

(lower is better), with r2 from :func:`~kanrun.kan.symbolic.affine.fit_affine` (damped
for degenerate fits). Unlike pykan, an edge only becomes ``0`` when it is negligible (its
attribution score is at most ``zero_threshold``); every decision is recorded on the edge
(``layer.symbolic.records``) and listed by :func:`symbolic_report`.
"""

from __future__ import annotations

import logging
import math

import torch

from ..attribution import attribute, edge_records, resolve_inputs
from .affine import fit_affine, polish_affine
from .apply import apply_search
from .library import get_function, resolve_library

log = logging.getLogger(__name__)
R2_FLOOR = 1e-5  # pykan: log2(1 + 1e-5 - r2)


class SymbolicFitError(ValueError):
    """Symbolic fitting was asked for an edge that does not exist, or without data."""


def symbolic_loss(r2: torch.Tensor, complexity: torch.Tensor, weight_simple: float):
    """pykan's ranking loss; +inf where r2 is not finite (no valid fit)."""
    r2c = torch.nan_to_num(r2, nan=-math.inf).clamp(max=1.0)
    loss = weight_simple * complexity + (1 - weight_simple) * torch.log2(1 + R2_FLOOR - r2c)
    return torch.where(torch.isfinite(r2c), loss, torch.inf)


def _check_edge(model, l, i, j):  # noqa: E741
    if not 0 <= l < model.depth:
        raise SymbolicFitError(f"layer {l} does not exist (the model has {model.depth} layers)")
    layer = model.layers[l]
    if not (0 <= i < layer.in_dim and 0 <= j < layer.out_dim):
        raise SymbolicFitError(
            f"edge ({l},{i},{j}) does not exist: layer {l} has {layer.in_dim} inputs and "
            f"{layer.out_dim} outputs")
    return layer


def _edge_samples(records, edges):
    xs = torch.stack([records[l]["input"][:, i] for l, i, _ in edges])  # noqa: E741
    ys = torch.stack([records[l]["edges"][:, i, j] for l, i, j in edges])  # noqa: E741
    return xs, ys


def _fit_kwargs(a_range, b_range):
    return {"a_range": tuple(map(float, a_range)), "b_range": tuple(map(float, b_range))}


def _candidates(fit, lib, weight_simple, row):
    comp = torch.tensor([f.complexity for f in lib], dtype=torch.float64)
    loss = symbolic_loss(fit.score_r2[row].cpu(), comp, weight_simple)
    out = []
    for k in torch.argsort(loss, stable=True).tolist():
        out.append({"function": lib[k].name, "r2": float(fit.r2[row, k]),
                    "complexity": lib[k].complexity, "score": float(loss[k]),
                    "params": [float(v) for v in fit.params[row, k]]})
    return out


def suggest_symbolic(model, l: int, i: int, j: int, x=None, lib=None, topk: int = 5,  # noqa: E741
                     weight_simple: float = 0.8, a_range=(-10, 10), b_range=(-10, 10)):
    """The ``topk`` best functions for edge (l, i, j), best first, as dicts with
    ``function, r2, complexity, score, params`` (``params`` = fitted (a, b, c, d))."""
    _check_edge(model, l, i, j)
    fns = resolve_library(lib)
    records = edge_records(model, resolve_inputs(model, x))
    xs, ys = _edge_samples(records, [(l, i, j)])
    fit = fit_affine(xs, ys, fns, **_fit_kwargs(a_range, b_range))
    cands = [c for c in _candidates(fit, fns, weight_simple, 0) if math.isfinite(c["score"])]
    return cands[: max(1, int(topk))]


def _apply(model, l, i, j, name, params, record):  # noqa: E741
    layer = model.layers[l]
    layer.symbolic.set_edge(i, j, name, params, record=record)
    with torch.no_grad():
        layer.mask[i, j] = 0.0


def fix_symbolic(model, l: int, i: int, j: int, name: str, x=None, fit_params: bool = True,  # noqa: E741
                 a_range=(-10, 10), b_range=(-10, 10)) -> dict:
    """Make edge (l, i, j) symbolic with function ``name``; returns the edge's record.

    With ``fit_params`` the parameters are fitted to the edge's activation on ``x`` (r2 in
    the record); otherwise they are (1, 0, 1, 0).
    """
    layer = _check_edge(model, l, i, j)
    fn = get_function(name)
    record = {"layer": l, "in": i, "out": j, "function": name, "complexity": fn.complexity}
    if not fit_params:
        record.update(r2=None, params=[1.0, 0.0, 1.0, 0.0], reason="set by fix_symbolic "
                      "without fitting")
        _apply(model, l, i, j, name, record["params"], record)
        return record
    was_live = bool(layer.mask[i, j] != 0) or layer.symbolic.is_symbolic(i, j)
    records = edge_records(model, resolve_inputs(model, x))
    xs, ys = _edge_samples(records, [(l, i, j)])
    fit = fit_affine(xs, ys, [fn], **_fit_kwargs(a_range, b_range))
    params, r2 = fit.params[:, 0], fit.r2[0, 0]
    if torch.isfinite(r2):
        params, r2p = polish_affine(fn, xs, ys, params)
        r2 = r2p[0]
    else:
        raise SymbolicFitError(
            f"{name!r} cannot fit edge ({l},{i},{j}): its argument leaves the function's domain "
            f"for every (a, b) in a_range={tuple(a_range)}, b_range={tuple(b_range)}; "
            "widen the ranges or choose another function")
    reason = "set by fix_symbolic" if was_live else "set by fix_symbolic on a removed edge"
    record.update(r2=float(r2), params=[float(v) for v in params[0]], reason=reason)
    _apply(model, l, i, j, name, params[0], record)
    return record


def unfix_symbolic(model, l: int, i: int, j: int) -> None:  # noqa: E741
    """Return edge (l, i, j) to its numeric (spline) activation."""
    layer = _check_edge(model, l, i, j)
    layer.symbolic.unset_edge(i, j)
    with torch.no_grad():
        layer.mask[i, j] = 1.0


def auto_symbolic(model, x=None, lib=None, weight_simple: float = 0.8, r2_threshold: float = 0.0,
                  zero_threshold: float = 1e-3, a_range=(-10, 10), b_range=(-10, 10), y=None,
                  method: str = "auto", search_options: dict | None = None):
    """Give every numeric edge a function; returns one record per decision.

    ``method="greedy"`` (pykan's rule, the default without ``y``): each edge its best-scoring
    function. ``method="search"`` (the default when the targets ``y`` are given): the
    combination chosen by :func:`~.search.formula_from_model` (candidates per edge, beam
    search judged by the whole formula's error after a joint refit); ``search_options``
    go to it.

    Edges already symbolic are kept; removed edges stay removed. An edge whose attribution
    score is <= ``zero_threshold`` becomes the constant ``0`` function (c*0 + d with d its
    mean); any other edge gets the best non-zero function, or (greedy) stays numeric if
    that fit's r2 is below ``r2_threshold``.
    """
    if not 0 <= weight_simple <= 1:
        raise SymbolicFitError(f"weight_simple must be in [0, 1], got {weight_simple}")
    if method not in ("auto", "greedy", "search"):
        raise SymbolicFitError(f"method must be 'auto', 'greedy' or 'search', got {method!r}")
    if method == "search" and y is None:
        raise SymbolicFitError("method='search' needs the targets: pass y=...")
    if y is not None and method in ("auto", "search"):
        decisions = apply_search(model, resolve_inputs(model, x), y, lib, zero_threshold,
                                 dict(search_options or {}))
        if decisions is not None:
            return decisions
    fns = [f for f in resolve_library(lib) if f.name != "0"]
    if not fns:
        raise SymbolicFitError("lib has no function other than '0'; add candidates")
    xd = resolve_inputs(model, x)
    records = edge_records(model, xd)
    scores = attribute(model, records=records).edge_scores
    todo, zero, decisions = [], [], []
    for l, layer in enumerate(model.layers):  # noqa: E741
        for i, j in (layer.mask != 0).nonzero().tolist():
            if float(scores[l][i, j]) <= zero_threshold:
                zero.append((l, i, j))
            else:
                todo.append((l, i, j))
    for l, i, j in zero:  # noqa: E741
        mean = float(records[l]["edges"][:, i, j].mean())
        rec = {"layer": l, "in": i, "out": j, "function": "0", "r2": None, "complexity": 0.0,
               "params": [1.0, 0.0, 1.0, mean], "edge_score": float(scores[l][i, j]),
               "reason": f"negligible: attribution score {float(scores[l][i, j]):.3g} <= "
                         f"zero_threshold {zero_threshold:g}; replaced by its mean"}
        _apply(model, l, i, j, "0", rec["params"], rec)
        decisions.append(rec)
    if not todo:
        return sorted(decisions, key=lambda d: (d["layer"], d["in"], d["out"]))
    xs, ys = _edge_samples(records, todo)
    fit = fit_affine(xs, ys, fns, **_fit_kwargs(a_range, b_range))
    chosen: dict[str, list[int]] = {}
    for e, (l, i, j) in enumerate(todo):  # noqa: E741
        cands = [c for c in _candidates(fit, fns, weight_simple, e) if math.isfinite(c["score"])]
        rec = {"layer": l, "in": i, "out": j, "edge_score": float(scores[l][i, j]),
               "alternatives": [{k: c[k] for k in ("function", "r2", "complexity", "score")}
                                for c in cands[1:4]]}
        if not cands or cands[0]["r2"] < r2_threshold:
            best = cands[0] if cands else None
            rec.update(function=None, r2=best["r2"] if best else None, reason=(
                f"kept numeric: best fit {best['function']!r} has r2 {best['r2']:.4g} < "
                f"r2_threshold {r2_threshold:g}" if best else "kept numeric: no valid fit"))
            model.layers[l].symbolic.records[(i, j)] = rec
            decisions.append(rec)
            continue
        best = cands[0]
        rec.update(function=best["function"], r2=best["r2"], complexity=best["complexity"],
                   score=best["score"], params=best["params"],
                   reason=f"best score (weight_simple={weight_simple:g})")
        decisions.append(rec)
        chosen.setdefault(best["function"], []).append(e)
    by_edge = {(d["layer"], d["in"], d["out"]): d for d in decisions}
    for name, rows in chosen.items():
        fn = get_function(name)
        start = torch.tensor([by_edge[todo[e]]["params"] for e in rows], dtype=torch.float64)
        params, r2 = polish_affine(fn, xs[rows], ys[rows], start)
        for k, e in enumerate(rows):
            rec = by_edge[todo[e]]
            rec["params"] = [float(v) for v in params[k]]
            rec["r2"] = float(r2[k])
            _apply(model, rec["layer"], rec["in"], rec["out"], name, params[k], rec)
    poor = [f"({d['layer']},{d['in']},{d['out']}) {d['function']} r2={d['r2']:.3g}"
            for d in decisions if d.get("function") not in (None, "0") and d["r2"] < 0.9]
    if poor:
        log.warning("auto_symbolic: poor fits (r2 < 0.9): %s", "; ".join(poor))
    return sorted(decisions, key=lambda d: (d["layer"], d["in"], d["out"]))


def symbolic_report(model) -> list[dict]:
    """One dict per edge: where it stands (``mode``) and why (the recorded decision)."""
    rows = []
    for l, layer in enumerate(model.layers):  # noqa: E741
        sym = layer.symbolic
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                numeric, symbolic = bool(layer.mask[i, j] != 0), sym.is_symbolic(i, j)
                mode = {(True, False): "numeric", (False, True): "symbolic",
                        (True, True): "numeric+symbolic"}.get((numeric, symbolic), "removed")
                row = {"layer": l, "in": i, "out": j, "mode": mode,
                       "function": sym.names[i][j] if symbolic else None}
                rec = sym.records.get((i, j))
                if rec is not None:
                    row.update({k: v for k, v in rec.items() if k not in row})
                    row["fit_params"] = rec.get("params")
                if symbolic:
                    row["params"] = [float(v) for v in sym.affine[i, j].detach()]
                    row.setdefault("complexity", get_function(sym.names[i][j]).complexity)
                rows.append(row)
    return rows


__all__ = ["SymbolicFitError", "symbolic_loss", "suggest_symbolic", "fix_symbolic",
           "unfix_symbolic", "auto_symbolic", "symbolic_report"]
