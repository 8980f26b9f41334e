"""The L1 + entropy penalty of :mod:`kanrun.kan.regularize` with its gradient in closed
form, for the autograd-free objectives (batched over members, feature-major): in torch for
the ensemble's torch stack, in NumPy for :mod:`kanrun.kan.fastpath_numpy`.

For a layer with inputs x_i (batch b) and numeric edge values
phi_ij = mask_ij (sb_ij silu(x_i) + sp_ij spline_ij(x_i)) the edge scale is
s_ij = std_b(phi_ij) / (std_b(x_i) + 0.1) (unbiased std), and the penalty is
lamb_l1 sum s + lamb_entropy (mean_j H_in(j) + mean_i H_out(i)) with H the entropy (base 2,
+1e-4 inside the log) of s normalized over inputs (+1), resp. outputs (+1). The gradient
goes back through std to phi (and from phi to the parameters and x), and through
std_b(x_i) to x.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import hidden_c, spline
from .kernels import silu_slope

EPS = 1e-4
LN2 = math.log(2.0)


def entropy_l1_grad(s: torch.Tensor, lamb_l1: float, lamb_entropy: float):
    """(m, in, out) scales -> (penalty (m,), d penalty / d s (m, in, out))."""
    n_in, n_out = s.shape[1], s.shape[2]
    tot_in = s.sum(1, keepdim=True) + 1  # over inputs, per output
    tot_out = s.sum(2, keepdim=True) + 1  # over outputs, per input
    p_in, p_out = s / tot_in, s / tot_out
    log_in, log_out = torch.log2(p_in + EPS), torch.log2(p_out + EPS)
    ent_in = -(p_in * log_in).sum(1).mean(1)
    ent_out = -(p_out * log_out).sum(2).mean(1)
    reg = lamb_l1 * s.sum((1, 2)) + lamb_entropy * (ent_in + ent_out)
    a_in = -(log_in + p_in / ((p_in + EPS) * LN2))  # d H / d p
    a_out = -(log_out + p_out / ((p_out + EPS) * LN2))
    d_in = (a_in - (a_in * p_in).sum(1, keepdim=True)) / tot_in / n_out
    d_out = (a_out - (a_out * p_out).sum(2, keepdim=True)) / tot_out / n_in
    return reg, lamb_l1 + lamb_entropy * (d_in + d_out)


def layer_penalty_t(layer, xt, saved, m, lamb, lamb_l1, lamb_entropy, need_dx):
    """Penalty of a stacked layer (``m`` members, inputs ``xt`` (m * in, batch)) and the
    gradients of ``lamb * penalty``: ``(reg (m,), g_x (m * in, batch) or None, grads)``.

    ``saved`` is the forward state of :func:`kanrun.kan.kernels.layer_forward`: (dense
    basis, silu(x), ..., cols, local derivative, x, sigmoid(x)).
    """
    basis_t, base, _, sp_mask, _, _, _, cols, deriv, _, sig, _ = saved
    rows_all, out = layer.scale_sp.shape
    basis = basis_t.view(rows_all, layer.n_basis, -1)  # (m * in, nb, batch)
    rows, batch = rows_all // m, xt.shape[1]
    coef, mask, sb = layer.coef, layer.mask, layer.scale_base
    spl = torch.bmm(coef, basis)  # (m * in, out, batch)
    phi = (sb * mask).unsqueeze(-1) * base.unsqueeze(1) + sp_mask.unsqueeze(-1) * spl
    centred = phi - phi.mean(-1, keepdim=True)
    std = phi.std(-1)
    x_c = xt - xt.mean(-1, keepdim=True)
    sx = xt.std(-1)
    denom = (sx + 0.1).unsqueeze(1)
    scales = std / denom
    reg, d_s = entropy_l1_grad(scales.view(m, rows, out), lamb_l1, lamb_entropy)
    g_s = (d_s * lamb.view(m, 1, 1)).view(rows_all, out)
    # d s / d phi_b = (phi_b - mean) / ((batch - 1) std (sx + 0.1))
    inv = torch.where(std > 0, 1.0 / (std.clamp_min(1e-300) * (batch - 1)), 0.0) / denom
    g_phi = centred * (g_s * inv).unsqueeze(-1)  # (m * in, out, batch)
    grads = {"scale_base": (g_phi * base.unsqueeze(1)).sum(-1) * mask,
             "scale_sp": (g_phi * spl).sum(-1) * mask,
             "coef": torch.bmm(g_phi, basis.transpose(1, 2)) * sp_mask.unsqueeze(-1)}
    g_x = None
    if need_dx:
        d_spl = torch.bmm(coef, spline.dense_basis(deriv, cols, layer.n_basis))
        d_base = silu_slope(xt, sig)
        g_x = (g_phi * ((sb * mask).unsqueeze(-1) * d_base.unsqueeze(1)
                        + sp_mask.unsqueeze(-1) * d_spl)).sum(1)
        # through std(x): d s_ij / d x_b = -std_ij / (sx + 0.1)^2 (x_b - mean) / ((B-1) sx)
        w = -(g_s * std).sum(1) / (sx + 0.1) ** 2
        w = torch.where(sx > 0, w / (sx.clamp_min(1e-300) * (batch - 1)), 0.0)
        g_x = g_x + w.unsqueeze(-1) * x_c
    return reg, g_x, grads


def spread(x):
    """Centred values and unbiased std over the batch (last axis) of x (m, in, batch)."""
    batch = x.shape[-1]
    x_c = x - np.add.reduce(x, -1, keepdims=True) / batch
    return x_c, np.sqrt(np.add.reduce(x_c * x_c, -1) / (batch - 1))


def _scale_grads(s, lamb, lamb_l1, lamb_entropy):
    """NumPy: penalty (m,) of scales s (m, in, out) and d lamb*penalty / d s (where
    kanrun's extension is built, its loops compute this themselves: scale_penalty1)."""
    in_dim, out_dim = s.shape[1], s.shape[2]
    tot_in = np.add.reduce(s, 1, keepdims=True) + 1
    tot_out = np.add.reduce(s, 2, keepdims=True) + 1
    p_in, p_out = s / tot_in, s / tot_out
    log_in, log_out = np.log2(p_in + EPS), np.log2(p_out + EPS)
    reg = lamb_l1 * s.sum((1, 2)) - lamb_entropy * (
        np.add.reduce(p_in * log_in, 1).sum(1) / out_dim
        + np.add.reduce(p_out * log_out, 2).sum(1) / in_dim)
    a_in = -(log_in + p_in / ((p_in + EPS) * LN2))
    a_out = -(log_out + p_out / ((p_out + EPS) * LN2))
    d_s = lamb_l1 + lamb_entropy * (
        (a_in - np.add.reduce(a_in * p_in, 1, keepdims=True)) / tot_in / out_dim
        + (a_out - np.add.reduce(a_out * p_out, 2, keepdims=True)) / tot_out / in_dim)
    return reg, d_s * lamb[:, None, None]


def feature_covariance(features):
    """Covariance over the batch of each input's features (m, in, f, batch) -> (m, in, f, f)
    (unbiased), for :func:`layer_penalty_cov`."""
    centred, _ = spread(features)
    return np.matmul(centred, centred.transpose(0, 1, 3, 2)) / (features.shape[-1] - 1)


def layer_penalty_cov(spread_x, cov, weights, lamb, lamb_l1, lamb_entropy):
    """NumPy: the penalty of a layer whose edge values are linear in fixed features,
    phi_ij = sum_f weights[i, j, f] F[i, f] (the first layer: B-splines and silu of the
    data), from the features' covariance: var(phi_ij) = w_ij^T C_i w_ij, no per-point work.
    Returns (reg (m,), d lamb*reg / d weights (m, in, out, f))."""
    _, sx = spread_x
    if hidden_c.loaded():  # the same in C (small arrays: NumPy's call overhead dominates)
        return hidden_c.first_penalty(sx, cov, weights, lamb, lamb_l1, lamb_entropy)
    cw = np.matmul(weights, cov)  # (m, in, out, f): C_i w_ij (C symmetric)
    std = np.sqrt(np.maximum((cw * weights).sum(-1), 0.0))
    denom = (sx + 0.1)[:, :, None]
    reg, g_s = _scale_grads(std / denom, lamb, lamb_l1, lamb_entropy)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(std > 0, 1.0 / std, 0.0) / denom
    return reg, cw * (g_s * inv)[..., None]


def layer_penalty_np(spread_x, phi, lamb, lamb_l1, lamb_entropy, need_dx):
    """NumPy: the penalty of one layer from the spread of its inputs (:func:`spread`), edge
    values phi (m, in, out, batch): (reg (m,), (d lamb*reg / d phi, d lamb*reg / d x or
    None))."""
    batch = phi.shape[-1]
    centred, std = spread(phi)
    x_c, sx = spread_x
    denom = (sx + 0.1)[:, :, None]
    reg, g_s = _scale_grads(std / denom, lamb, lamb_l1, lamb_entropy)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(std > 0, 1.0 / (std * (batch - 1)), 0.0) / denom
        g_phi = centred * (g_s * inv)[..., None]
        g_x = None
        if need_dx:
            wx = -np.add.reduce(g_s * std, 2) / (sx + 0.1) ** 2
            wx = np.where(sx > 0, wx / (sx * (batch - 1)), 0.0)
            g_x = wx[..., None] * x_c
    return reg, (g_phi.astype(phi.dtype, copy=False), g_x)
