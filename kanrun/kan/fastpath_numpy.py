"""Loss and gradient of a small plain KAN in NumPy, for the CPU.

For models of a few edges an L-BFGS evaluation is a few dozen operations on arrays of some
thousand numbers, so the cost per operation decides; NumPy's is a fraction of torch's.
:class:`NumpyObjective` computes what :class:`~kanrun.kan.fastpath.PlainObjective` does (same
models, mean-squared error, flat gradient in the optimizer's order) with few operations:

- the first layer sees the data, which stay fixed: its dense basis (and base function) is
  built once per data tensor and grid, so the layer is one matrix product each way;
- every later layer folds its coefficients into per-interval polynomials of each edge in
  v = x - t_q (t_q the interval's left knot), so the forward pass is one column gather plus
  Horner's rule, and the coefficient gradient comes from the per-interval moments
  ``sum_b g[o, b] v[i, b]^p`` (``bincount``) instead of a dense basis.
"""

from __future__ import annotations

import numpy as np
import torch

from . import spline
from .fastpath import PlainObjective

# edges after the first layer (in * out summed over layers 1..) up to which fit uses this
# objective: their cost grows with out * in * batch, while torch's dense-basis GEMMs scale
# better; measured on one core, NumPy is 2.5-5x faster at 5-30 such edges, even at ~70
MAX_HIDDEN_EDGES = 40


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


class _Hidden:
    """Constants and work buffers of a layer after the first, for its current knots."""

    def __init__(self, layer, tables):
        table = _np(tables[0]).astype(np.float64)
        in_dim, out_dim, k = layer.in_dim, layer.out_dim, layer.k
        w = k + 1
        n_cols = table.shape[1] // in_dim  # column s = knots passed, 0 .. n_knots
        dtype = _np(layer.coef).dtype
        self.k, self.w, self.n_cols = k, w, n_cols
        self.knots = _np(layer.grid)
        self.rows = list(self.knots)
        # local B-spline r on column s: sum_p C[p, r, i, s] u^p with u = v / h; in v the
        # coefficients are C[p] / h^p (zero-width and outside columns are zero already)
        scale = table[1] ** np.arange(w)[:, None]
        poly = (table[2:].reshape(w, w, -1) * scale[:, None, :]).reshape(w, w, in_dim, n_cols)
        self.poly_pr = np.ascontiguousarray(poly.transpose(2, 3, 0, 1)).astype(dtype)  # i s p r
        # coefficient gradients from moments: dL/dw_sp[i, j, o] = sum_{s,p} K[i, j, s*w + p]
        # M[i, s*w + p, o] with K collecting C[p, r] over the (s, r) of spline j = s + r - k - 1
        n_basis = layer.n_basis
        gather = np.zeros((in_dim, n_basis, n_cols, w))
        cols_s = np.arange(n_cols)
        for r in range(w):
            j = cols_s + r - k - 1
            ok = (j >= 0) & (j < n_basis)
            gather[:, j[ok], cols_s[ok], :] += poly[:, r].transpose(1, 2, 0)[:, ok, :]
        self.gather = gather.reshape(in_dim, n_basis, n_cols * w)
        self.moments = np.empty((in_dim * n_cols, w * out_dim))
        self.col_start = (np.arange(in_dim) * n_cols)[:, None]
        # coefficients padded so that window s holds those of the k+1 splines live on s
        self.pad = np.zeros((in_dim, out_dim, n_cols + k), dtype=dtype)
        self.windows = np.lib.stride_tricks.sliding_window_view(
            self.pad, w, axis=2).transpose(0, 2, 3, 1)  # (i, s, r, o)
        # rows gathered per point: the left knot, then E[p, o] for p = 0..k
        self.stack = np.empty((1 + w * out_dim, in_dim * n_cols), dtype=dtype)
        self.stack[0] = table[0].astype(dtype)
        self.stack_e = self.stack[1:].reshape(w, out_dim, in_dim, n_cols)

    def columns(self, x):
        """Column ``i * n_cols + s`` of every point, s = number of knots <= x (as
        ``searchsorted(side="right")``); by counting comparisons when the knots are few."""
        n_knots = self.n_cols - 1
        if n_knots <= 24:
            below = np.greater_equal(x[:, None, :], self.knots[:, :, None])
            counts = below.view(np.uint8).sum(1, dtype=np.uint8)
            return np.add(counts, self.col_start)
        cols = np.empty(x.shape, dtype=np.intp)
        for i, knots in enumerate(self.rows):
            cols[i] = knots.searchsorted(x[i], side="right")
        cols += self.col_start
        return cols


class NumpyObjective:
    """``objective(x, y) -> (mse, flat_grad)`` in NumPy for the parameters ``params``.

    The NumPy views of the parameters, masks and knots are taken once (fit modifies them in
    place); knot changes (``update_grid``) are noticed through the grids' versions.
    """

    def __init__(self, model, params):
        self.model = model
        self.params = list(params)
        # the flat gradient (float64, the optimizer's order); each layer's gradients are
        # written into views of it, those of parameters outside the model stay zero
        self.grad = np.zeros(sum(p.numel() for p in self.params))
        where, start = {}, 0
        for p in self.params:
            where[id(p)] = self.grad[start : start + p.numel()].reshape(tuple(p.shape))
            start += p.numel()
        self.dest = [tuple(where.get(id(getattr(layer, name)))
                           for name in ("coef", "scale_base", "scale_sp"))
                     for layer in model.layers]
        self.grids = [layer.grid for layer in model.layers]
        self._key = None
        self._data = {}  # id(x) -> (x, version, grid key, dense first-layer inputs)
        self._target = {}  # id(y) -> (y, version, y^T)

    @staticmethod
    def supports(model, params, loss_is_mse: bool, penalty: bool) -> bool:
        """Plain model (see PlainObjective) on the CPU in float32/64, with few edges after
        the first layer (whose width does not matter: it is one matrix product)."""
        if model.device.type != "cpu" or model.dtype not in (torch.float32, torch.float64):
            return False
        hidden = sum(layer.in_dim * layer.out_dim for layer in model.layers[1:])
        if hidden > MAX_HIDDEN_EDGES:
            return False
        return PlainObjective.supports(model, params, loss_is_mse, penalty)

    # ----------------------------------------------------------------- cached inputs
    def _refresh(self):
        """Views of the parameters and constants of the knots, renewed when these change."""
        key = (tuple(p.data_ptr() for p in self.params),
               tuple((g._version, g.data_ptr()) for g in self.grids))
        if key != self._key:
            layers = self.model.layers
            self._arrays = [(_np(layer.coef), _np(layer.scale_base), _np(layer.scale_sp),
                             _np(layer.mask)) for layer in layers]
            self._hidden = [None] + [_Hidden(layer, layer.tables()) for layer in layers[1:]]
            self._key = key
        return key[1]

    def _first_inputs(self, x, grid_key):
        """[dense basis (in * n_basis rows); base (in rows)] of the data, (rows, batch).

        Kept for the last two data tensors (training and test inputs)."""
        hit = self._data.get(id(x))
        if hit is not None and hit[0] is x and hit[1] == x._version and hit[2] == grid_key:
            return hit[3]
        layer = self.model.layers[0]
        with torch.no_grad():
            xt = x.t().contiguous()
            vals, cols, _ = spline.fast_local_basis(xt, layer.grid, layer.k, False,
                                                    layer.tables())
            basis = spline.dense_basis(vals, cols, layer.n_basis).view(-1, xt.shape[1])
            stacked = torch.cat([basis, layer.base(xt)]).numpy()
        if len(self._data) >= 2:
            self._data.pop(next(iter(self._data)))
        self._data[id(x)] = (x, x._version, grid_key, stacked)  # holding x keeps its id
        return stacked

    def _target_t(self, y):
        hit = self._target.get(id(y))
        if hit is not None and hit[0] is y and hit[1] == y._version:
            return hit[2]
        yt = np.ascontiguousarray(_np(y).T)
        if len(self._target) >= 2:
            self._target.pop(next(iter(self._target)))
        self._target[id(y)] = (y, y._version, yt)
        return yt

    # ----------------------------------------------------------------- evaluation
    def _run(self, x, y):
        """Forward pass: the residual (out, batch), the layers' saved state, the first
        layer's inputs."""
        first = self._first_inputs(x, self._refresh())
        arrays = self._arrays
        coef, sb, sp, mask = arrays[0]
        in_dim, out_dim, nb = coef.shape
        sp_mask = sp * mask
        w0 = np.empty((out_dim, in_dim * (nb + 1)), dtype=coef.dtype)
        w0[:, : in_dim * nb] = (coef * sp_mask[:, :, None]).transpose(1, 0, 2).reshape(
            out_dim, -1)
        w0[:, in_dim * nb :] = (sb * mask).T
        a = w0 @ first
        saved = [sp_mask]
        with np.errstate(over="ignore"):  # exp(-x) of very negative inputs: silu is 0 there
            for l in range(1, len(arrays)):
                a, state = self._forward(self._hidden[l], a, arrays[l])
                saved.append(state)
        a -= self._target_t(y)
        return a, saved, first

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        diff, saved, first = self._run(x, y)
        arrays = self._arrays
        flat_diff = diff.reshape(-1)
        loss = float(flat_diff @ flat_diff) / flat_diff.size
        g = diff * (2.0 / flat_diff.size)
        for l in range(len(arrays) - 1, 0, -1):
            g = self._backward(self._hidden[l], g, arrays[l], saved[l], self.dest[l])
        in_dim, out_dim, nb = arrays[0][0].shape
        g_w = g @ first.T
        g_wsp = g_w[:, : in_dim * nb].reshape(out_dim, in_dim, nb).transpose(1, 0, 2)
        _param_grads(g_wsp, g_w[:, in_dim * nb :].T, arrays[0], saved[0], self.dest[0])
        return loss, self.grad.copy()

    @staticmethod
    def _forward(c, x, arrays):
        """Layer l >= 1 on (in, batch) inputs; returns (out, batch) and what backward needs."""
        coef, sb, sp, mask = arrays
        in_dim, out_dim, nb = coef.shape
        k, w = c.k, c.w
        batch = x.shape[1]
        # per-interval polynomials E[p, o, i, s] of every edge, scales and mask folded in
        sp_mask = sp * mask
        c.pad[:, :, k + 1 : k + 1 + nb] = coef * sp_mask[:, :, None]
        c.stack_e[...] = np.matmul(c.poly_pr, c.windows).transpose(2, 3, 0, 1)
        # column of every point, then one gather of [t_q, E[p, o]]
        cols = c.columns(x)
        picked = c.stack.take(cols.reshape(-1), axis=1, mode="clip")
        v = x - picked[0].reshape(in_dim, batch)
        e = picked[1:].reshape(w, out_dim, in_dim, batch)
        val = e[k]
        der = None
        for p in range(k - 1, -1, -1):  # Horner for the value and its derivative
            if der is None:
                der = val
            else:
                der = der * v
                der += val
            val = val * v
            val += e[p]
        sig = np.exp(-x)
        sig += 1.0
        np.reciprocal(sig, out=sig)
        base = x * sig
        w_base = sb * mask
        y = w_base.T @ base
        y += val[:, 0] if in_dim == 1 else val.sum(1)
        return y, (cols, v, der, sig, base, w_base, sp_mask)

    @staticmethod
    def _backward(c, g, arrays, state, dest):
        """Input gradient (in, batch) of a layer l >= 1; its parameter gradients go to
        ``dest``."""
        cols, v, der, sig, base, w_base, sp_mask = state
        in_dim, out_dim, nb = arrays[0].shape
        w, n_cols = c.w, c.n_cols
        # moments M[i*n_cols + s, p*out + o] = sum over the points b of column s of
        # g[o, b] v[i, b]^p, then the spline-weight gradients in one batched product
        flat_cols = cols.reshape(-1)
        n_bins = in_dim * n_cols
        moments = c.moments
        vv = v.reshape(-1)
        weight = np.empty(v.shape)
        for o in range(out_dim):
            weight[...] = g[o]
            flat = weight.reshape(-1)
            moments[:, o] = np.bincount(flat_cols, flat, minlength=n_bins)
            for p in range(1, w):
                flat *= vv
                moments[:, p * out_dim + o] = np.bincount(flat_cols, flat, minlength=n_bins)
        g_wsp = np.matmul(c.gather, moments.reshape(in_dim, n_cols * w, out_dim))
        g_wsp = g_wsp.transpose(0, 2, 1)
        _param_grads(g_wsp, (g @ base.T).T, arrays, sp_mask, dest)
        # input gradient: spline slopes, and silu' = sig + base (1 - sig)
        g_silu = w_base * g if out_dim == 1 else w_base @ g
        g_silu *= sig + base * (1.0 - sig)
        if der is not None:
            for o in range(out_dim):
                g_silu += der[o] * g[o]
        return g_silu


def _param_grads(g_wsp, g_wb, arrays, sp_mask, dest):
    """Write the gradients of coef, scale_base, scale_sp (where ``dest`` has a view) from
    those of the spline weights coef * sp_mask (in, out, nb) and base weights (in, out)."""
    coef, _, _, mask = arrays
    d_coef, d_sb, d_sp = dest
    if d_coef is not None:
        np.multiply(g_wsp, sp_mask[:, :, None], out=d_coef)
    if d_sb is not None:
        np.multiply(g_wb, mask, out=d_sb)
    if d_sp is not None:
        np.add.reduce(g_wsp * coef, axis=-1, out=d_sp)
        d_sp *= mask
