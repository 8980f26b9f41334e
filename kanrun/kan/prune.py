"""Pruning: drop unimportant nodes, edges and inputs, returning a new (smaller) model.

Importance is the attribution score (:mod:`kanrun.kan.attribution`) on sample inputs, with
pykan's thresholds. A multiplication node is kept or removed together with all its factor
subnodes. Node and input pruning build a fresh :class:`KAN` of the smaller width whose
layers are ``layer.subset(...)`` of the original: its outputs equal those of the original
with the removed nodes' edges masked. Edge pruning returns a copy with edges masked. The
original model is never modified; nothing is written anywhere.
"""

from __future__ import annotations

import copy

import torch

from .attribution import attribute, resolve_inputs


class PruneError(ValueError):
    """Pruning would leave nothing (threshold too high) or was given impossible node ids."""


def _subnodes_of(model, layer: int, node_ids: list[int]) -> list[int]:
    """Subnode ids (outputs of layer ``layer - 1``) feeding the nodes ``node_ids`` of ``layer``."""
    n_sum = model.width[layer][0]
    arity = model.mult_arity[layer]
    starts = [n_sum + sum(arity[:k]) for k in range(len(arity))]
    out = []
    for n in node_ids:
        if n < n_sum:
            out.append(n)
        else:
            k = n - n_sum
            out.extend(range(starts[k], starts[k] + arity[k]))
    return out


def _check_keep(model, keep: list[list[int]]) -> list[list[int]]:
    if len(keep) != model.depth + 1:
        raise PruneError(f"keep must list node ids for each of the {model.depth + 1} node layers")
    clean = []
    for l, ids in enumerate(keep):
        ids = sorted({int(i) for i in ids})
        if not ids:
            raise PruneError(f"node layer {l} would keep no node; keep at least one")
        if ids[0] < 0 or ids[-1] >= model.width_in[l]:
            raise PruneError(f"node ids {ids} out of range for layer {l} "
                             f"(width {model.width_in[l]})")
        clean.append(ids)
    if clean[-1] != list(range(model.width_in[-1])):
        raise PruneError("output nodes cannot be pruned")
    return clean


def subset_model(model, keep: list[list[int]]):
    """A new KAN keeping the nodes ``keep[l]`` of every node layer (inputs to outputs)."""
    from .model import KAN

    keep = _check_keep(model, keep)
    width, arities = [], []
    for l, ids in enumerate(keep):
        n_sum = model.width[l][0]
        sums = [i for i in ids if i < n_sum]
        mults = [i - n_sum for i in ids if i >= n_sum]
        width.append([len(sums), len(mults)])
        arities.append([model.mult_arity[l][k] for k in mults])
    cfg = {k: v for k, v in model.config.items() if k not in ("width", "mult_arity", "grid")}
    new = KAN(width, grid=model.grid, mult_arity=arities,
              **{**cfg, "dtype": model.dtype, "device": model.device})
    with torch.no_grad():
        for l in range(model.depth):
            sub_ids = _subnodes_of(model, l + 1, keep[l + 1])
            new.layers[l] = model.layers[l].subset(keep[l], sub_ids)
            pairs = ((new.subnode_scale, model.subnode_scale, sub_ids),
                     (new.subnode_bias, model.subnode_bias, sub_ids),
                     (new.node_scale, model.node_scale, keep[l + 1]),
                     (new.node_bias, model.node_bias, keep[l + 1]))
            for dst, src, ids in pairs:
                dst[l].copy_(src[l][ids])
                dst[l].requires_grad_(src[l].requires_grad)
    _carry(model, new, keep[0])
    return new


def _carry(model, new, kept_inputs) -> None:
    """Pass on cached sample inputs (restricted to the kept columns) and input ids."""
    cached = getattr(model, "_interp_x", None)
    if cached is not None:
        new._interp_x = cached[:, kept_inputs]
    old_ids = getattr(model, "input_ids", None) or list(range(model.width_in[0]))
    new.input_ids = [old_ids[i] for i in kept_inputs]


def mask_nodes(model, keep: list[list[int]]):
    """A copy of ``model`` whose removed nodes have all their edges masked (numeric and
    symbolic) - same shape, same outputs as :func:`subset_model` with the same ``keep``."""
    keep = _check_keep(model, keep)
    new = copy.deepcopy(model)
    with torch.no_grad():
        for l in range(model.depth):
            layer = new.layers[l]
            drop_in = [i for i in range(model.width_in[l]) if i not in keep[l]]
            kept_sub = set(_subnodes_of(model, l + 1, keep[l + 1]))
            drop_out = [j for j in range(model.width_subnodes[l + 1]) if j not in kept_sub]
            for i in drop_in:
                layer.mask[i, :] = 0
                for j in range(layer.out_dim):
                    if layer.symbolic.is_symbolic(i, j):
                        layer.symbolic.unset_edge(i, j)
            for j in drop_out:
                layer.mask[:, j] = 0
                for i in range(layer.in_dim):
                    if layer.symbolic.is_symbolic(i, j):
                        layer.symbolic.unset_edge(i, j)
    return new


def important_nodes(model, scores, threshold: float) -> list[list[int]]:
    """Hidden nodes with score > threshold; inputs and outputs all kept."""
    keep = [list(range(model.width_in[0]))]
    for l in range(1, model.depth):
        ids = torch.nonzero(scores.node_scores[l] > threshold).flatten().tolist()
        if not ids:
            best = float(scores.node_scores[l].max())
            raise PruneError(
                f"every node of hidden layer {l} scores below node threshold {threshold:g} "
                f"(highest {best:.3g}); lower the threshold or train longer")
        keep.append(ids)
    keep.append(list(range(model.width_in[-1])))
    return keep


def prune_node(model, x=None, threshold: float = 1e-2, active_nodes=None):
    """Remove hidden nodes scoring <= ``threshold`` (or keep exactly ``active_nodes``,
    one id list per hidden layer)."""
    if active_nodes is not None:
        if len(active_nodes) != model.depth - 1:
            raise PruneError(f"active_nodes needs one id list per hidden layer "
                             f"({model.depth - 1}), got {len(active_nodes)}")
        keep = ([list(range(model.width_in[0]))] + [list(a) for a in active_nodes]
                + [list(range(model.width_in[-1]))])
    else:
        keep = important_nodes(model, attribute(model, resolve_inputs(model, x)), threshold)
    return subset_model(model, keep)


def prune_edge(model, x=None, threshold: float = 3e-2):
    """A copy with every edge scoring <= ``threshold`` removed (numeric and symbolic)."""
    scores = attribute(model, resolve_inputs(model, x))
    new = copy.deepcopy(model)
    with torch.no_grad():
        for l, layer in enumerate(new.layers):
            weak = (scores.edge_scores[l] <= threshold).nonzero().tolist()
            for i, j in weak:
                layer.mask[i, j] = 0
                if layer.symbolic.is_symbolic(i, j):
                    layer.symbolic.unset_edge(i, j)
    return new


def dead_nodes_removed(model):
    """A smaller model without hidden nodes none of whose outgoing edges is live.

    Such nodes cannot affect the outputs, so the result computes exactly the same function.
    """
    keep = [list(range(model.width_in[0]))]
    for l in range(1, model.depth):
        layer = model.layers[l]
        live = ((layer.mask != 0) | (layer.symbolic.mask != 0)).any(1)
        ids = torch.nonzero(live).flatten().tolist()
        keep.append(ids or [0])
    keep.append(list(range(model.width_in[-1])))
    if all(len(k) == n for k, n in zip(keep, model.width_in, strict=True)):
        return model
    return subset_model(model, keep)


def prune(model, x=None, node_th: float = 1e-2, edge_th: float = 3e-2):
    """pykan's ``prune``: :func:`prune_node`, then :func:`prune_edge` on the smaller model,
    then hidden nodes left without outgoing edges are dropped (exactly the same outputs)."""
    x = resolve_inputs(model, x)
    small = prune_node(model, x, node_th)
    return dead_nodes_removed(prune_edge(small, x, edge_th))


def prune_input(model, x=None, threshold: float = 1e-2, active_inputs=None):
    """Remove inputs scoring <= ``threshold`` (or keep ``active_inputs``).

    The new model takes only the kept columns; ``new.input_ids`` lists them (as indices of
    the original model's inputs).
    """
    if active_inputs is None:
        scores = attribute(model, resolve_inputs(model, x)).node_scores[0]
        kept = torch.nonzero(scores > threshold).flatten().tolist()
        if not kept:
            raise PruneError(f"every input scores below {threshold:g} (highest "
                             f"{float(scores.max()):.3g}); lower the threshold")
    else:
        kept = [int(i) for i in active_inputs]
    keep = [kept] + [list(range(n)) for n in model.width_in[1:]]
    return subset_model(model, keep)


__all__ = ["PruneError", "subset_model", "mask_nodes", "important_nodes", "prune_node",
           "prune_edge", "prune", "prune_input", "dead_nodes_removed"]
