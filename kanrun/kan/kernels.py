"""The layer's forward and backward as plain functions, and the autograd node built on them.

Feature-major layout: y_t = W_base^T b(x_t) + W_sp^T basis(x_t), all (features, batch), so
that every product is a GEMM with a wide output (much faster than tall-skinny ones on CPUs).
The basis derivative is kept from forward in its local (in, k+1, batch) form. The same two
functions serve autograd (:class:`SplineLayerFunction`), the autograd-free objective of
:mod:`kanrun.kan.fastpath` and the ensemble's stacked models
(:class:`~kanrun.kan.ensemble_stack.Stack`, ``members`` > 1). The NumPy objective
(:mod:`kanrun.kan.fastpath_numpy`) evaluates the same maths another way (per-interval
polynomials after the first layer, NumPy's silu there), so it agrees with these to
rounding (1e-12 in float64), not bit for bit.
"""

from __future__ import annotations

import torch

from . import fused, sparse, spline
from .activations import BASE_FUNCTIONS, silu, silu_slope

__all__ = ["BASE_FUNCTIONS", "silu", "silu_slope", "layer_forward", "layer_backward",
           "SplineLayerFunction"]


def layer_forward(xt, base_t, coef, scale_base, scale_sp, mask, knots, tables, k, basis_t,
                  need_dx: bool, members: int = 1, fuse: bool = False):
    """Returns ``(y_t, saved)``. ``base_t`` None means silu, computed (and later
    differentiated) here; ``basis_t`` (in * n_basis, batch) may be a cached basis.

    ``fuse``: a large single layer on equally spaced knots may take the sparse path
    (:mod:`kanrun.kan.sparse`: float32, compiled loops, no dense basis; ``saved`` then has
    no basis and the knot constants last) or the fused one (:mod:`kanrun.kan.fused`:
    features in one compiled pass, one product each way; its ``saved`` then holds the
    features in place of the basis and the knot constants last).

    ``members`` > 1: that many models of one shape stacked along the inputs (member-major
    rows, as :class:`~kanrun.kan.ensemble_stack.Stack` holds them); member m's outputs sum
    over its own rows only, so the products are batched (``y_t`` is (members * out, batch)).
    """
    rows_all, out_dim, n_basis = coef.shape
    if fuse and members == 1 and basis_t is None and base_t is None:
        if sparse.applies(xt, tables[3], n_basis, out_dim, k):
            return sparse.forward(xt, coef, scale_base, scale_sp, mask, tables[3], k, need_dx)
        if fused.applies(xt, tables[3], n_basis, out_dim):
            out = _fused_forward(xt, coef, scale_base, scale_sp, mask, tables[3], k, need_dx)
            if out is not None:
                return out
    sig = None
    if base_t is None:
        sig = torch.sigmoid(xt)  # kept for the derivative
        base_t = silu(xt)
    cols = deriv = None
    if basis_t is None or need_dx:
        vals, cols, deriv = spline.fast_local_basis(xt, knots, k, need_dx, tables)
        basis_t = spline.dense_basis(vals, cols, n_basis).view(rows_all * n_basis, -1)
    sp_mask = scale_sp * mask
    w_base = scale_base * mask
    if members == 1:
        w_sp = (coef * sp_mask.unsqueeze(-1)).transpose(1, 2).reshape(rows_all * n_basis,
                                                                      out_dim)
        y_t = torch.addmm(w_base.t() @ base_t, w_sp.t(), basis_t)
    else:
        rows, batch = rows_all // members, xt.shape[1]
        w_sp = (coef * sp_mask.unsqueeze(-1)).view(members, rows, out_dim, n_basis)
        w_sp = w_sp.transpose(1, 2).reshape(members, out_dim, rows * n_basis)  # (m, out, .)
        w_base = w_base.view(members, rows, out_dim).transpose(1, 2)  # (m, out, rows)
        y_t = torch.baddbmm(torch.bmm(w_base, base_t.view(members, rows, batch)), w_sp,
                            basis_t.view(members, rows * n_basis, batch))
        y_t = y_t.view(members * out_dim, batch)
    saved = (basis_t, base_t, coef, sp_mask, w_base, w_sp, mask, cols, deriv,
             xt if sig is not None and need_dx else None, sig, None)
    return y_t, saved


def _fused_forward(xt, coef, scale_base, scale_sp, mask, uniform, k, need_dx):
    """layer_forward on the fused features [basis; silu] (in * (n_basis + 1), batch): one
    product with the weights [coef * scale_sp * mask; scale_base * mask] of each input."""
    n_basis = coef.shape[2]
    feats = fused.features(xt, uniform, k, n_basis)
    if feats is None:
        return None
    w_all = fused.weights(coef, scale_base, scale_sp, mask, k)
    y_t = w_all.t() @ feats
    t0, inv_h, _ = uniform
    saved = (feats, None, coef, scale_sp, None, w_all, mask, None, None,
             xt if need_dx else None, None, torch.cat([t0, inv_h], 1))
    return y_t, saved


def _fused_backward(saved, gy, need, k):
    feats, _, coef, scale_sp, _, w_all, mask, _, _, xt, _, consts = saved
    g_x = g_coef = g_sb = g_sp = None
    if need[2] or need[3] or need[4]:
        g_coef, g_sb, g_sp = fused.param_grads(gy @ feats.t(), coef, scale_sp, mask, k)
    if need[0]:
        uniform = (consts[:, :1], consts[:, 1:], None)
        g_x = fused.grad_x(w_all @ gy, xt, uniform, k, coef.shape[2])
    return (g_x, None, g_coef if need[2] else None, g_sb if need[3] else None,
            g_sp if need[4] else None)


def layer_backward(saved, gy, need, members: int = 1, k: int | None = None):
    """Gradients ``(x, base, coef, scale_base, scale_sp)`` for the flags in ``need``;
    ``gy`` is (members * out, batch) (see :func:`layer_forward`). ``k``, the spline order,
    is needed only for a fused forward's state."""
    if saved[11] is not None:  # the fused path's state, or (no basis kept) the sparse one's
        return (_fused_backward if saved[0] is not None else sparse.backward)(saved, gy, need,
                                                                              k)
    basis_t, base_t, coef, sp_mask, w_base, w_sp, mask, cols, deriv, xt, sig, _ = saved
    rows_all, out_dim, n_basis = coef.shape
    batch = gy.shape[-1]
    m, rows = members, rows_all // members
    if m > 1 or gy.dim() == 3:  # the stack passes (m, out, batch)
        gy = gy.reshape(m, out_dim, batch) if m > 1 else gy.reshape(out_dim, batch)
    g_x = g_base = g_coef = g_sb = g_sp = None
    if need[2] or need[4]:
        if m == 1:
            g_wsp = (gy @ basis_t.t()).view(out_dim, rows_all, n_basis).transpose(0, 1)
        else:
            g_wsp = torch.bmm(gy, basis_t.view(m, rows * n_basis, batch).transpose(1, 2))
            g_wsp = g_wsp.view(m, out_dim, rows, n_basis).transpose(1, 2).reshape(
                rows_all, out_dim, n_basis)
        if need[2]:
            g_coef = g_wsp * sp_mask.unsqueeze(-1)
        if need[4]:
            g_sp = (g_wsp * coef).sum(-1) * mask
    if need[3]:
        if m == 1:
            g_sb = (gy @ base_t.t()).t() * mask
        else:
            g_sb = torch.bmm(gy, base_t.view(m, rows, batch).transpose(1, 2))
            g_sb = g_sb.transpose(1, 2).reshape(rows_all, out_dim) * mask
    if need[1] or (need[0] and sig is not None):
        g_base = (w_base @ gy if m == 1 else
                  torch.bmm(w_base.transpose(1, 2), gy).view(rows_all, batch))
    if need[0]:
        if m == 1:
            g_basis = (w_sp @ gy).view(rows_all, n_basis, -1)
        else:
            g_basis = torch.bmm(w_sp.transpose(1, 2), gy).view(rows_all, n_basis, batch)
        g_x = (torch.gather(g_basis, 1, cols) * deriv).sum(1)
        if sig is not None:
            g_x = g_x + g_base * silu_slope(xt, sig)
            g_base = None
    return g_x, g_base, g_coef, g_sb, g_sp


class SplineLayerFunction(torch.autograd.Function):
    """One autograd node per layer (see :func:`layer_forward`)."""

    @staticmethod
    def forward(ctx, xt, base_t, coef, scale_base, scale_sp, mask, knots, tables, k,
                basis_t=None):
        y_t, saved = layer_forward(xt, base_t, coef, scale_base, scale_sp, mask, knots, tables,
                                   k, basis_t, ctx.needs_input_grad[0], fuse=True)
        ctx.save_for_backward(*saved)
        ctx.k = k
        return y_t

    @staticmethod
    def backward(ctx, gy):
        grads = layer_backward(ctx.saved_tensors, gy, ctx.needs_input_grad, k=ctx.k)
        return (*grads, None, None, None, None, None)
