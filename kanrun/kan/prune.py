"""Pruning: drop unimportant nodes, edges and inputs, returning a new (smaller) model.

Importance is the attribution score (:mod:`kanrun.kan.attribution`) on sample inputs, with
pykan's thresholds. A multiplication node is kept or removed together with all its factor
subnodes. Node and input pruning build a fresh :class:`KAN` of the smaller width whose
layers are ``layer.subset(...)`` of the original: its outputs equal those of the original
with the removed nodes' edges masked. Edge pruning returns a copy with edges masked.

A removed edge rarely outputs exactly zero: an unimportant edge is nearly *constant* on
the data, not zero. With sample inputs, node and edge pruning add each removed edge's mean
activation to the subnode it fed (shifting the coefficients of a remaining spline edge
into that subnode, or else the subnode bias), so the pruned model keeps the function's
level instead of jumping (pykan drops these constants and relies on retraining). The
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
    for li, ids in enumerate(keep):
        ids = sorted({int(i) for i in ids})
        if not ids:
            raise PruneError(f"node layer {li} would keep no node; keep at least one")
        if ids[0] < 0 or ids[-1] >= model.width_in[li]:
            raise PruneError(f"node ids {ids} out of range for layer {li} "
                             f"(width {model.width_in[li]})")
        clean.append(ids)
    if clean[-1] != list(range(model.width_in[-1])):
        raise PruneError("output nodes cannot be pruned")
    return clean


def subset_model(model, keep: list[list[int]]):
    """A new model of the same class keeping the nodes ``keep[l]`` of every node layer
    (inputs to outputs)."""
    keep = _check_keep(model, keep)
    width, arities = [], []
    for li, ids in enumerate(keep):
        n_sum = model.width[li][0]
        sums = [i for i in ids if i < n_sum]
        mults = [i - n_sum for i in ids if i >= n_sum]
        width.append([len(sums), len(mults)])
        arities.append([model.mult_arity[li][k] for k in mults])
    spec = model.spec.replace(width=width, mult_arity=arities, dtype=model.dtype)
    new = type(model).from_spec(spec, device=model.device)
    with torch.no_grad():
        for li in range(model.depth):
            sub_ids = _subnodes_of(model, li + 1, keep[li + 1])
            new.layers[li] = model.layers[li].subset(keep[li], sub_ids)
            pairs = ((new.subnode_scale, model.subnode_scale, sub_ids),
                     (new.subnode_bias, model.subnode_bias, sub_ids),
                     (new.node_scale, model.node_scale, keep[li + 1]),
                     (new.node_bias, model.node_bias, keep[li + 1]))
            for dst, src, ids in pairs:
                dst[li].copy_(src[li][ids])
                dst[li].requires_grad_(src[li].requires_grad)
    _carry(model, new, keep[0])
    return new


def _carry(model, new, kept_inputs) -> None:
    """Pass on the reference inputs (restricted to the kept columns) and input ids."""
    if model.reference_inputs is not None:
        new.reference_inputs = model.reference_inputs[:, kept_inputs]
    old_ids = model.input_ids or list(range(model.width_in[0]))
    new.input_ids = [old_ids[i] for i in kept_inputs]


def mask_nodes(model, keep: list[list[int]]):
    """A copy of ``model`` whose removed nodes have all their edges masked (numeric and
    symbolic) - same shape, same outputs as :func:`subset_model` with the same ``keep``."""
    keep = _check_keep(model, keep)
    new = copy.deepcopy(model)
    with torch.no_grad():
        for li in range(model.depth):
            layer = new.layers[li]
            drop_in = [i for i in range(model.width_in[li]) if i not in keep[li]]
            kept_sub = set(_subnodes_of(model, li + 1, keep[li + 1]))
            drop_out = [j for j in range(model.width_subnodes[li + 1]) if j not in kept_sub]
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


@torch.no_grad()
def fold_dropped_means(old, new, x) -> None:
    """In place on ``new`` (``old`` with some edges masked, same shape): the mean over ``x``
    of every edge live in ``old`` but not in ``new`` goes to the subnode it fed.

    Layer by layer, the removed edges are evaluated on ``new``'s own inputs (so that the
    constants folded upstream are accounted for) and their mean is added to a remaining
    numeric edge of the same subnode (its coefficients shift by mean / scale_sp, exact
    inside that edge's grid), or to the subnode bias when no such edge is left.
    """
    h = x.to(new.dtype)
    for li in range(new.depth):
        lo, ln = old.layers[li], new.layers[li]
        dropped = (((lo.mask != 0) | (lo.symbolic.mask != 0))
                   & ~((ln.mask != 0) | (ln.symbolic.mask != 0)))
        if bool(dropped.any()):
            const = (lo.edge_values(h) * dropped).mean(0).sum(0)  # (out,)
            for j in torch.nonzero(const).flatten().tolist():
                _add_to_subnode(new, li, j, const[j])
        h = new._after_layer(ln(h), li, new._affine_active())


def _add_to_subnode(model, li: int, j: int, value: torch.Tensor) -> None:
    layer = model.layers[li]
    gain = layer.scale_sp[:, j] * layer.mask[:, j]
    tiny = torch.finfo(gain.dtype).eps
    if bool((gain.abs() > tiny).any()):
        i = int(gain.abs().argmax())
        layer.coef[i, j] += value / gain[i]
    else:
        model.subnode_bias[li][j] += value * model.subnode_scale[li][j]


def important_nodes(model, scores, threshold: float) -> list[list[int]]:
    """Hidden nodes with score > threshold; inputs and outputs all kept."""
    keep = [list(range(model.width_in[0]))]
    for li in range(1, model.depth):
        ids = torch.nonzero(scores.node_scores[li] > threshold).flatten().tolist()
        if not ids:
            best = float(scores.node_scores[li].max())
            raise PruneError(
                f"every node of hidden layer {li} scores below node threshold {threshold:g} "
                f"(highest {best:.3g}); lower the threshold or train longer")
        keep.append(ids)
    keep.append(list(range(model.width_in[-1])))
    return keep


def prune_node(model, x=None, *, threshold: float = 1e-2, active_nodes=None):
    """Remove hidden nodes scoring <= ``threshold`` (or keep exactly ``active_nodes``,
    one id list per hidden layer)."""
    if active_nodes is not None:
        if len(active_nodes) != model.depth - 1:
            raise PruneError(f"active_nodes needs one id list per hidden layer "
                             f"({model.depth - 1}), got {len(active_nodes)}")
        keep = ([list(range(model.width_in[0]))] + [list(a) for a in active_nodes]
                + [list(range(model.width_in[-1]))])
        if x is not None or model.reference_inputs is not None:
            x = resolve_inputs(model, x)  # with data, the removed nodes' means are kept
    else:
        x = resolve_inputs(model, x)
        keep = important_nodes(model, attribute(model, x), threshold)
    if x is None:
        return subset_model(model, keep)
    masked = mask_nodes(model, keep)
    fold_dropped_means(model, masked, x)
    return subset_model(masked, keep)


def prune_edge(model, x=None, *, threshold: float = 3e-2):
    """A copy with every edge scoring <= ``threshold`` removed (numeric and symbolic)."""
    x = resolve_inputs(model, x)
    scores = attribute(model, x)
    new = copy.deepcopy(model)
    with torch.no_grad():
        for li, layer in enumerate(new.layers):
            weak = (scores.edge_scores[li] <= threshold).nonzero().tolist()
            for i, j in weak:
                layer.mask[i, j] = 0
                if layer.symbolic.is_symbolic(i, j):
                    layer.symbolic.unset_edge(i, j)
    fold_dropped_means(model, new, x)
    return new


def dead_nodes_removed(model):
    """A smaller model without hidden nodes none of whose outgoing edges is live.

    Such nodes cannot affect the outputs, so the result computes exactly the same function.
    """
    keep = [list(range(model.width_in[0]))]
    for li in range(1, model.depth):
        layer = model.layers[li]
        live = ((layer.mask != 0) | (layer.symbolic.mask != 0)).any(1)
        ids = torch.nonzero(live).flatten().tolist()
        keep.append(ids or [0])
    keep.append(list(range(model.width_in[-1])))
    if all(len(k) == n for k, n in zip(keep, model.width_in, strict=True)):
        return model
    return subset_model(model, keep)


def prune(model, x=None, *, node_th: float = 1e-2, edge_th: float = 3e-2):
    """pykan's ``prune``: :func:`prune_node`, then :func:`prune_edge` on the smaller model,
    then hidden nodes left without outgoing edges are dropped (exactly the same outputs)."""
    x = resolve_inputs(model, x)
    small = prune_node(model, x, threshold=node_th)
    return dead_nodes_removed(prune_edge(small, x, threshold=edge_th))


def prune_input(model, x=None, *, threshold: float = 1e-2, active_inputs=None):
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
           "prune_edge", "prune", "prune_input", "dead_nodes_removed", "fold_dropped_means"]
