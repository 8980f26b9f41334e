"""Sparsity penalties on per-edge activation scales (the KAN paper's L1 + entropy).

For layer l, the scale of edge (i, j) is std_batch(phi_ij(x_i)) / (std_batch(x_i) + 0.1),
computed from the numeric part of the activations (as pykan's ``edge_forward_spline_n``).
"""

from __future__ import annotations

import torch


def edge_scales(inputs: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(batch, in) inputs and (batch, in, out) edge values -> (in, out) scales."""
    return edges.std(0) / (inputs.std(0).unsqueeze(1) + 0.1)


def entropy_l1(scales: torch.Tensor, lamb_l1: float, lamb_entropy: float) -> torch.Tensor:
    """L1 of the scales plus the entropy of their distribution over inputs and over outputs."""
    l1 = scales.sum()
    p_in = scales / (scales.sum(0, keepdim=True) + 1)  # over inputs, for each output
    p_out = scales / (scales.sum(1, keepdim=True) + 1)  # over outputs, for each input
    ent_in = -(p_in * torch.log2(p_in + 1e-4)).sum(0).mean()
    ent_out = -(p_out * torch.log2(p_out + 1e-4)).sum(1).mean()
    return lamb_l1 * l1 + lamb_entropy * (ent_in + ent_out)


def coef_penalty(coef: torch.Tensor, lamb_coef: float, lamb_coefdiff: float) -> torch.Tensor:
    """pykan's coefficient penalties: mean |c| and mean |diff c| over outputs, summed."""
    total = coef.new_zeros(())
    if lamb_coef:
        total = total + lamb_coef * coef.abs().mean(1).sum()
    if lamb_coefdiff:
        total = total + lamb_coefdiff * torch.diff(coef, dim=-1).abs().mean(1).sum()
    return total


def regularization(model, records, lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.0,
                   lamb_coefdiff=0.0) -> torch.Tensor:
    """The full penalty for ``records`` from ``model.forward_edges(x, numeric_only=True)``."""
    reg = records[0]["input"].new_zeros(())
    for rec in records:
        reg = reg + entropy_l1(edge_scales(rec["input"], rec["edges"]), lamb_l1, lamb_entropy)
    if lamb_coef or lamb_coefdiff:
        for layer in model.layers:
            reg = reg + coef_penalty(layer.coef, lamb_coef, lamb_coefdiff)
    return reg
