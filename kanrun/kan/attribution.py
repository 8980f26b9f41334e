"""Activation scales and attribution scores of edges, nodes and inputs (KAN 2.0).

Scores follow pykan 0.2.8's ``attribute()``: starting from the outputs (score 1 each), a
node's score is handed unchanged to its subnode (a multiplication node hands it to every
factor), an edge gets ``std(phi_ij) * score(subnode j) / (std(subnode j) + 1e-4)``, and a
node's score is the sum of its outgoing edges' scores. Scores are computed per output and
averaged over outputs; ``*_all`` keep the per-output tensors.

Edge shapes here are (in, out) like ``KANLayer.mask`` (pykan stores (out, in)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .regularize import edge_scales


class AttributionError(ValueError):
    """Attribution was asked for without data or for a node that does not exist."""


@dataclass
class Attribution:
    """Scores of one model on one data set; lists are indexed by layer.

    ``node_scores[l]`` (width_in[l],) for l = 0..depth (0 = inputs, depth = outputs),
    ``subnode_scores[l]`` (width_subnodes[l+1],) and ``edge_scores[l]`` (in, out) for the
    edges of layer l. ``*_all`` hold the same with a leading per-output dimension.
    """

    node_scores: list[torch.Tensor]
    subnode_scores: list[torch.Tensor]
    edge_scores: list[torch.Tensor]
    node_scores_all: list[torch.Tensor]
    subnode_scores_all: list[torch.Tensor]
    edge_scores_all: list[torch.Tensor]

    @property
    def input_scores(self) -> torch.Tensor:
        return self.node_scores[0]


def resolve_inputs(model, x) -> torch.Tensor:
    """``x`` if given, else the model's reference inputs (``model.reference_inputs``)."""
    if x is None:
        x = model.reference_inputs
        if x is None:
            raise AttributionError(
                "this needs sample inputs to measure the activations: pass x=... (e.g. "
                "x=dataset['train_input']) or call model.attribute(x) once first")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != model.width_in[0]:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise AttributionError(
            f"x must be a tensor of shape (batch, {model.width_in[0]}), got {shape}")
    if x.shape[0] < 2:
        raise AttributionError("x needs at least 2 rows to measure activation spreads")
    return x.detach().to(device=model.device, dtype=model.dtype)


@torch.no_grad()
def edge_records(model, x) -> list[dict]:
    """``model.forward_edges`` on ``x`` without gradients (all edges, numeric + symbolic)."""
    _, records = model.forward_edges(x)
    return records


def activation_scales(model, x=None, *, records=None) -> list[dict]:
    """Per layer: ``mean_abs`` = mean |phi_ij| and ``std_ratio`` = std(phi_ij)/(std(x_i)+0.1).

    Both (in, out); ``std_ratio`` is the paper's normalized scale (what the L1 + entropy
    penalty sums), ``mean_abs`` the plain magnitude.
    """
    if records is None:
        records = edge_records(model, resolve_inputs(model, x))
    out = []
    with torch.no_grad():
        for rec in records:
            out.append({"mean_abs": rec["edges"].abs().mean(0),
                        "std_ratio": edge_scales(rec["input"], rec["edges"])})
    return out


def node_to_subnode(score: torch.Tensor, n_sum: int, arity: list[int]) -> torch.Tensor:
    """(K, n_sum + n_mult) node scores -> (K, n_sum + sum(arity)) subnode scores."""
    if not arity:
        return score
    reps = torch.tensor([1] * n_sum + list(arity), device=score.device)
    return torch.repeat_interleave(score, reps, dim=1)


def attribute(model, x=None, *, out_score=None, layer: int | None = None,
              records=None) -> Attribution:
    """Backward attribution scores from the nodes of ``layer`` (default: the outputs).

    ``out_score`` (width_in[layer],) weighs the starting nodes (default: 1 each, scored
    separately and averaged).
    """
    depth = model.depth
    end = depth if layer is None else int(layer)
    if not 1 <= end <= depth:
        raise AttributionError(f"layer must be between 1 and {depth}, got {layer}")
    if records is None:
        records = edge_records(model, resolve_inputs(model, x))
    n_end = model.width_in[end]
    with torch.no_grad():
        ref = records[0]["edges"]
        if out_score is None:
            node = torch.eye(n_end, dtype=ref.dtype, device=ref.device)
        else:
            out_score = torch.as_tensor(out_score, dtype=ref.dtype, device=ref.device)
            if out_score.shape != (n_end,):
                raise AttributionError(f"out_score must have {n_end} entries, got "
                                       f"{tuple(out_score.shape)}")
            node = torch.diag(out_score)
        nodes, subnodes, edges = [node], [], []
        for li in range(end, 0, -1):
            rec = records[li - 1]
            sub = node_to_subnode(node, model.width[li][0], model.mult_arity[li])
            edge_std = rec["edges"].std(0)  # (in, out)
            sub_std = rec["subnodes"].std(0)  # (out,)
            edge = edge_std.unsqueeze(0) * (sub / (sub_std + 1e-4)).unsqueeze(1)  # (K, in, out)
            node = edge.sum(2)
            subnodes.append(sub)
            edges.append(edge)
            nodes.append(node)
    nodes_all, subs_all, edges_all = nodes[::-1], subnodes[::-1], edges[::-1]
    return Attribution(
        node_scores=[t.mean(0) for t in nodes_all],
        subnode_scores=[t.mean(0) for t in subs_all],
        edge_scores=[t.mean(0) for t in edges_all],
        node_scores_all=nodes_all, subnode_scores_all=subs_all, edge_scores_all=edges_all,
    )


__all__ = ["Attribution", "AttributionError", "attribute", "activation_scales",
           "node_to_subnode", "resolve_inputs", "edge_records"]
