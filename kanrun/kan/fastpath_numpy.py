"""Loss and gradient of small plain KANs in NumPy, for the CPU; one model or many at once.

For models of a few edges an L-BFGS evaluation is a few dozen operations on arrays of some
thousand numbers, so the cost per operation decides; NumPy's is a fraction of torch's.
:class:`NumpyObjective` computes what :class:`~kanrun.kan.fastpath.PlainObjective` does (same
plain models, mean-squared error, flat gradient in the optimizer's order), plus the L1 + entropy
penalty; :class:`BatchedCore` does it for ``m`` models of one shape and grid size at once
(a leading member axis on every array), and the single model is the case m = 1, so a
model fitted alone and in an ensemble sees the same numbers, bit for bit:

- the first layer sees the data, which stay fixed: its dense basis (and base function) is
  built once per data tensor and grid, so the layer is one matrix product each way;
- every later layer folds its coefficients into per-interval polynomials of each edge in
  v = x - t_q (t_q the interval's left knot), so the forward pass is one column gather plus
  Horner's rule, and the coefficient gradient comes from the per-interval moments
  ``sum_b g[o, b] v[i, b]^p`` (``bincount``) instead of a dense basis.
- the penalty (:mod:`kanrun.kan.penalty` has its formulas) needs the edge values, which
  both layers have before they sum over inputs; its gradient joins the output gradient
  edge by edge (g[o, b] becomes g[i, o, b]).

Where kanrun's C extension is built (:mod:`kanrun.kan.hidden_c`), one compiled call does
all of this for every layer (a [2,5,1] evaluation is otherwise ~60 NumPy calls, whose
overhead is most of its cost); the NumPy operations below remain the fallback and the
reference the tests compare it with.
"""

from __future__ import annotations

import numpy as np
import torch

from . import hidden_c, spline
from .cache import TensorCache
from .compiled_eval import Plan
from .fastpath import SLOT_NAMES, slot_of
from .penalty import feature_covariance, layer_penalty_cov
from .penalty import layer_penalty_np as _penalty
from .penalty import spread as _spread

# edges after the first layer (in * out summed over layers 1..) up to which fit uses this
# objective: their cost grows with out * in * batch, while torch's dense-basis GEMMs scale
# better; measured on one core, NumPy is 2.5-5x faster at 5-30 such edges, even at ~70.
# With the compiled loops (hidden_c) it stays faster much longer: 20-step fits on 1000
# points took 0.30 s vs torch's 0.77 s at 110 hidden edges, 2.1 vs 2.6 s at 1056, but
# 11.5 vs 7.2 s at 4160
MAX_HIDDEN_EDGES = 40
MAX_COMPILED_HIDDEN_EDGES = 1024
_COMPILED = "compiled"  # marks a layer state of hidden_c's loops


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


class _Hidden:
    """Constants and work buffers of a layer after the first for ``m`` members' knots:
    ``table`` (m, rows, in * n_cols) of :func:`~kanrun.kan.spline.basis_tables`, ``knots``
    (m, in, n_knots); ``proto`` is one member's layer (shapes, dtype)."""

    def __init__(self, table, knots, proto):
        m, in_dim = knots.shape[0], knots.shape[1]
        first = proto
        out_dim, k = first.out_dim, first.k
        w = k + 1
        table = table.astype(np.float64)
        n_cols = table.shape[2] // in_dim  # column s = knots passed, 0 .. n_knots
        dtype = _np(first.coef).dtype
        self.m, self.k, self.w, self.n_cols = m, k, w, n_cols
        self.knots = knots
        # local B-spline r on column s: sum_p C[p, r, i, s] u^p with u = v / h; in v the
        # coefficients are C[p] / h^p (zero-width and outside columns are zero already)
        scale = table[:, 1:2] ** np.arange(w)[None, :, None]  # (m, p, cols)
        poly = (table[:, 2:].reshape(m, w, w, -1) * scale[:, :, None, :]).reshape(
            m, w, w, in_dim, n_cols)
        self.poly_pr = np.ascontiguousarray(poly.transpose(0, 3, 4, 1, 2)).astype(dtype)
        # coefficient gradients from moments: dL/dw_sp[i, j, o] = sum_{s,p} K[i, j, s*w + p]
        # M[i, s*w + p, o] with K collecting C[p, r] over the (s, r) of spline j = s + r - k - 1
        n_basis = first.n_basis
        gather = np.zeros((m, in_dim, n_basis, n_cols, w))
        cols_s = np.arange(n_cols)
        for r in range(w):
            j = cols_s + r - k - 1
            ok = (j >= 0) & (j < n_basis)
            gather[:, :, j[ok], cols_s[ok], :] += poly[:, :, r].transpose(0, 2, 3, 1)[:, :, ok]
        self.gather = gather.reshape(m, in_dim, n_basis, n_cols * w)
        self.col_start = (np.arange(m * in_dim) * n_cols).reshape(m, in_dim, 1)
        # coefficients padded so that window s holds those of the k+1 splines live on s
        self.pad = np.zeros((m, in_dim, out_dim, n_cols + k), dtype=dtype)
        self.windows = np.lib.stride_tricks.sliding_window_view(
            self.pad, w, axis=3).transpose(0, 1, 3, 4, 2)  # (m, i, s, r, o)
        # rows gathered per point: the left knot, then E[p, o] for p = 0..k
        self.stack = np.empty((1 + w * out_dim, m, in_dim, n_cols), dtype=dtype)
        self.stack[0] = table[:, 0].reshape(m, in_dim, n_cols).astype(dtype)
        self.stack_e = self.stack[1:].reshape(w, out_dim, m, in_dim, n_cols)
        self.flat_stack = self.stack.reshape(1 + w * out_dim, -1)
        self.buffers = hidden_c.Buffers()  # what the compiled loops write

    def columns(self, x):
        """Global column (member, input, s) of every point of x (m, in, batch), s = number
        of knots <= x (as ``searchsorted(side="right")``)."""
        n_knots = self.n_cols - 1
        if n_knots <= 24:
            below = np.greater_equal(x[:, :, None, :], self.knots[:, :, :, None])
            counts = below.view(np.uint8).sum(2, dtype=np.uint8)
            return np.add(counts, self.col_start)
        cols = np.empty(x.shape, dtype=np.intp)
        for a in range(x.shape[0]):
            for i in range(x.shape[1]):
                cols[a, i] = self.knots[a, i].searchsorted(x[a, i], side="right")
        cols += self.col_start
        return cols


def first_inputs(layer, xt: torch.Tensor) -> np.ndarray:
    """[dense basis (in * n_basis rows); silu (in rows)] of one model's data: xt (in, batch)
    -> (1, rows, batch). (An ensemble calls it member by member: torch's vectorized kernels
    may round a tensor's last elements differently, so a stacked call would not give each
    member the numbers of its solo fit.)"""
    with torch.no_grad():
        batch = xt.shape[1]
        vals, cols, _ = spline.fast_local_basis(xt, layer.knots, layer.k, False, layer.tables())
        basis = spline.dense_basis(vals, cols, layer.n_basis).view(1, -1, batch)
        return torch.cat([basis, layer.base(xt).view(1, -1, batch)], 1).numpy()


class BatchedCore:
    """Loss and gradients of ``m`` plain models of one shape and grid (see the module).

    ``arrays[l]`` = (coef (m, in, out, nb), scale_base, scale_sp, mask (m, in, out)) in the
    models' dtype, ``dest[l]`` the (coef, scale_base, scale_sp) gradient arrays to write
    (or None), ``lamb`` None or (m,) penalty weights. Call :meth:`set_knots` after the
    knots change, then :meth:`evaluate` with the first layer's inputs (m, rows, batch) and
    the targets (m, out, batch).
    """

    def __init__(self, arrays, dest, lamb=None, lamb_l1=1.0, lamb_entropy=2.0):
        self.arrays, self.dest = arrays, dest
        self.lamb = None if lamb is None else np.asarray(lamb, dtype=np.float64)
        self.lamb_l1, self.lamb_entropy = float(lamb_l1), float(lamb_entropy)
        self.hidden = None
        self.last_mse = self.last_reg = None
        self._first_stats = None
        self._plans = []

    def set_knots(self, models_layers):
        """``models_layers``: the layers of each model of this core (one list per model);
        their knots and basis tables are read, each model's from its own layers, so that a
        model sees the same constants alone and in an ensemble."""
        self.hidden = [None]
        for li in range(1, len(models_layers[0])):
            layers = [model[li] for model in models_layers]
            table = np.stack([_np(layer.tables()[0]) for layer in layers])
            knots = np.stack([_np(layer.knots) for layer in layers])
            self.hidden.append(_Hidden(table, knots, layers[0]))

    # ----------------------------------------------------------------- evaluation
    def forward(self, first):
        """The models' outputs (m, out, batch) for first-layer inputs (m, rows, batch)."""
        coef, sb, sp, mask = self.arrays[0]
        m, in_dim, out_dim, nb = coef.shape
        w0 = np.empty((m, out_dim, in_dim * (nb + 1)), dtype=coef.dtype)
        w0[:, :, : in_dim * nb] = (coef * (sp * mask)[..., None]).transpose(
            0, 2, 1, 3).reshape(m, out_dim, -1)
        w0[:, :, in_dim * nb :] = (sb * mask).transpose(0, 2, 1)
        a = np.matmul(w0, first)
        with np.errstate(over="ignore"):
            for li in range(1, len(self.arrays)):
                a, _ = self._forward(self.hidden[li], a, self.arrays[li], False)
        return a

    def plan(self, first, target):
        """The compiled evaluation for these inputs and targets (kept for the last two
        pairs: training and test data), or None where the loops are not built or do not
        take these arrays."""
        for plan in self._plans:
            keys = (first, target, self.arrays, self.dest, self.hidden)
            if all(a is b for a, b in zip(plan.keys, keys, strict=True)):
                return plan
        if not Plan.usable(self, first, target):
            return None
        plan = Plan(self, first, target)
        self._plans = [*self._plans[-1:], plan]
        return plan

    def _first_features(self, first, x0):
        """(spread of the data, covariance of the first layer's features) for its penalty,
        kept per data array."""
        if self._first_stats is None or self._first_stats[0] is not first:
            m, in_dim, _, nb = self.arrays[0][0].shape
            features = np.concatenate([first[:, : in_dim * nb].reshape(m, in_dim, nb, -1),
                                       first[:, None, in_dim * nb :].transpose(0, 2, 1, 3)],
                                      2).astype(np.float64)
            self._first_stats = (first, _spread(x0.astype(np.float64)),
                                 feature_covariance(features))
        return self._first_stats[1], self._first_stats[2]

    def evaluate(self, first, target, x0=None):
        """Returns the total loss per member (m,); gradients go to ``dest``. ``x0`` (m, in,
        batch), the data themselves, is needed with a penalty (their spread)."""
        arrays, penalized = self.arrays, self.lamb is not None
        plan = self.plan(first, target)
        if plan is not None:  # the whole evaluation in one compiled call
            if penalized and plan.stats is None:
                spread0, cov = self._first_features(first, x0)
                plan.stats = (np.ascontiguousarray(cov), np.ascontiguousarray(spread0[1]))
            plan.run(True)
            self.last_mse = plan.mse.copy()
            self.last_reg = plan.reg.copy() if penalized else None
            return plan.total.copy()
        coef, sb, sp, mask = arrays[0]
        m, in_dim, out_dim, nb = coef.shape
        sp_mask = sp * mask
        w0 = np.empty((m, out_dim, in_dim * (nb + 1)), dtype=coef.dtype)
        w0[:, :, : in_dim * nb] = (coef * sp_mask[..., None]).transpose(0, 2, 1, 3).reshape(
            m, out_dim, -1)
        w0[:, :, in_dim * nb :] = (sb * mask).transpose(0, 2, 1)
        a = np.matmul(w0, first)
        inputs, saved, edges = [None], [sp_mask], [None]
        with np.errstate(over="ignore"):  # exp(-x) of very negative inputs: silu is 0 there
            for li in range(1, len(arrays)):
                inputs.append(a)
                a, state = self._forward(self.hidden[li], a, arrays[li], penalized)
                saved.append(state)
                if penalized:
                    edges.append(state[-1])
        a -= target
        count = a.shape[1] * a.shape[2]
        rows = a.reshape(m, -1)  # the BLAS dot of each member's residual, as fit always had
        mse = np.array([float(r @ r) for r in rows]) / count
        g = a * (2.0 / count)
        self.last_mse, self.last_reg = mse, None
        total = mse
        pen = [None] * len(arrays)
        if penalized:
            # the first layer's edges are linear in the data's fixed features: its penalty
            # comes from their covariance (kept per data tensor), no per-point arrays
            spread0, cov = self._first_features(first, x0)
            weights = np.concatenate([coef * sp_mask[..., None], (sb * mask)[..., None]], -1)
            reg, g_w0 = layer_penalty_cov(spread0, cov, weights.astype(np.float64), self.lamb,
                                          self.lamb_l1, self.lamb_entropy)
            for li in range(1, len(arrays)):
                if saved[li][0] is _COMPILED:  # the loops' own penalty, gradient as factors
                    r, pen[li] = hidden_c.hidden_penalty(
                        self.hidden[li].buffers, inputs[li], edges[li], self.lamb,
                        self.lamb_l1, self.lamb_entropy)
                else:
                    r, pen[li] = _penalty(_spread(inputs[li]), edges[li], self.lamb,
                                          self.lamb_l1, self.lamb_entropy, need_dx=True)
                reg += r
            self.last_reg = reg
            total = mse + self.lamb * reg
        for li in range(len(arrays) - 1, 0, -1):
            g = self._backward(self.hidden[li], g, arrays[li], saved[li], self.dest[li], pen[li])
        g_w = np.matmul(g, first.transpose(0, 2, 1))
        g_wsp = g_w[:, :, : in_dim * nb].reshape(m, out_dim, in_dim, nb).transpose(0, 2, 1, 3)
        g_wb = g_w[:, :, in_dim * nb :].transpose(0, 2, 1)
        if penalized:
            g_wsp = g_wsp + g_w0[..., :nb]
            g_wb = g_wb + g_w0[..., nb]
        _param_grads(g_wsp, g_wb, arrays[0], saved[0], self.dest[0])
        return total

    @staticmethod
    def _forward(c, x, arrays, keep_edges):
        """Layer l >= 1 on (m, in, batch) inputs; returns (m, out, batch) and what backward
        needs (with the per-edge values (m, in, out, batch) last when ``keep_edges``)."""
        coef, sb, sp, mask = arrays
        m, in_dim, out_dim, nb = coef.shape
        k, w = c.k, c.w
        batch = x.shape[2]
        # per-interval polynomials E[p, o, (m, i, s)] of every edge, scales and mask folded in
        sp_mask = sp * mask
        c.pad[..., k + 1 : k + 1 + nb] = coef * sp_mask[..., None]
        c.stack_e[...] = np.matmul(c.poly_pr, c.windows).transpose(3, 4, 0, 1, 2)
        w_base = sb * mask  # (m, in, out)
        if hidden_c.serves(x.dtype):  # the same quantities in one compiled loop
            x = np.ascontiguousarray(x)
            w_base = np.ascontiguousarray(w_base)
            y, saved, edges = hidden_c.forward(c.buffers, c.knots, c.flat_stack, w, x,
                                               w_base, keep_edges)
            state = (_COMPILED, x, saved, w_base, sp_mask)
            return y, (state + (edges,) if keep_edges else state)
        # column of every point, then one gather of [t_q, E[p, o]]
        cols = c.columns(x)
        picked = c.flat_stack.take(cols.reshape(-1), axis=1, mode="clip")
        v = x - picked[0].reshape(m, in_dim, batch)
        e = picked[1:].reshape(w, out_dim, m, in_dim, batch)
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
        y = np.matmul(w_base.transpose(0, 2, 1), base)
        y += (val[:, :, 0] if in_dim == 1 else val.sum(2)).transpose(1, 0, 2)
        state = (cols, v, der, sig, base, w_base, sp_mask)
        if keep_edges:
            edges = w_base[..., None] * base[:, :, None, :] + val.transpose(1, 2, 0, 3)
            state = state + (edges,)
        return y, state

    @staticmethod
    def _backward(c, g, arrays, state, dest, pen):
        """Input gradient (m, in, batch) of a layer l >= 1 from its output gradient g
        (m, out, batch); its parameter gradients go to ``dest``. ``pen`` = (penalty
        gradient per edge value (m, in, out, batch), per input (m, in, batch)) or None."""
        m, in_dim, out_dim, nb = arrays[0].shape
        w, n_cols = c.w, c.n_cols
        if state[0] is _COMPILED:
            _, x, saved, w_base, sp_mask = state[:5]
            moments, g_wb, g_x = hidden_c.backward(c.buffers, n_cols, c.flat_stack, w, x,
                                                   saved, w_base, g, pen)
            g_wsp = np.matmul(c.gather, moments.reshape(m, in_dim, n_cols * w, out_dim))
            _param_grads(g_wsp.transpose(0, 1, 3, 2), g_wb, arrays, sp_mask, dest)
            return g_x
        cols, v, der, sig, base, w_base, sp_mask = state[:7]
        # moments M[(m, i, s), p*out + o] = sum over the points b of column s of
        # g[o, b] v[i, b]^p, then the spline-weight gradients in one batched product
        flat_cols = cols.reshape(-1)
        n_bins = m * in_dim * n_cols
        moments = np.empty((n_bins, w * out_dim))
        vv = v.reshape(-1)
        weight = np.empty(v.shape)
        for o in range(out_dim):
            weight[...] = g[:, o, None, :] if pen is None else g[:, o, None, :] + pen[0][:, :, o]
            flat = weight.reshape(-1)
            moments[:, o] = np.bincount(flat_cols, flat, minlength=n_bins)
            for p in range(1, w):
                flat *= vv
                moments[:, p * out_dim + o] = np.bincount(flat_cols, flat, minlength=n_bins)
        g_wsp = np.matmul(c.gather, moments.reshape(m, in_dim, n_cols * w, out_dim))
        g_wsp = g_wsp.transpose(0, 1, 3, 2)
        d_silu = sig + base * (1.0 - sig)
        if pen is None:
            g_wb = np.matmul(g, base.transpose(0, 2, 1)).transpose(0, 2, 1)
            _param_grads(g_wsp, g_wb, arrays, sp_mask, dest)
            # input gradient: spline slopes, and silu' = sig + base (1 - sig)
            g_silu = w_base * g if out_dim == 1 else np.matmul(w_base, g)
            g_silu *= d_silu
            if der is not None:
                for o in range(out_dim):
                    g_silu += der[o] * g[:, o, None, :]
            return g_silu
        g_edge = g[:, None, :, :] + pen[0]  # (m, in, out, batch)
        g_wb = (g_edge * base[:, :, None, :]).sum(-1)
        _param_grads(g_wsp, g_wb, arrays, sp_mask, dest)
        g_silu = (g_edge * w_base[..., None]).sum(2) * d_silu
        if der is not None:
            g_silu += (g_edge * der.transpose(1, 2, 0, 3)).sum(2)
        return g_silu + pen[1]


def forward_mse(core, first, target) -> np.ndarray:
    """The mean-squared error (m,) float64 of a core's models on first-layer inputs
    (m, rows, batch) and targets (m, out, batch): what fit reports as the test loss of a
    model this module serves, alone or in an ensemble."""
    plan = core.plan(first, target)
    if plan is not None:
        plan.run(False)
        return plan.mse.copy()
    diff = core.forward(first) - target
    diff = diff.reshape(diff.shape[0], -1).astype(np.float64)  # float64 sums
    return (diff * diff).mean(1)


def _param_grads(g_wsp, g_wb, arrays, sp_mask, dest):
    """Write the gradients of coef, scale_base, scale_sp (where ``dest`` has an array) from
    those of the spline weights coef * sp_mask (m, in, out, nb) and base weights."""
    coef, _, _, mask = arrays
    d_coef, d_sb, d_sp = dest
    if d_coef is not None:
        np.multiply(g_wsp, sp_mask[..., None], out=d_coef)
    if d_sb is not None:
        np.multiply(g_wb, mask, out=d_sb)
    if d_sp is not None:
        np.add.reduce(g_wsp * coef, axis=-1, out=d_sp)
        d_sp *= mask


def numpy_serves(model) -> bool:
    """Whether this module's objective is the faster one for a plain model: on the CPU in
    float32/64, with at most :data:`MAX_HIDDEN_EDGES` edges after the first layer
    (:data:`MAX_COMPILED_HIDDEN_EDGES` where the compiled loops are built); the first
    layer's width does not matter (its products are BLAS's where it is wide)."""
    hidden = sum(layer.in_dim * layer.out_dim for layer in model.layers[1:])
    limit = MAX_COMPILED_HIDDEN_EDGES if hidden_c.loaded() else MAX_HIDDEN_EDGES
    return (model.device.type == "cpu" and model.dtype in (torch.float32, torch.float64)
            and hidden <= limit)


class NumpyObjective:
    """``value_and_grad(x, y) -> (loss, flat_grad)`` in NumPy for the parameters ``params``
    of a plain model (:func:`kanrun.kan.fastpath.serves`).

    ``penalty`` = (lamb, lamb_l1, lamb_entropy) adds lamb * the L1 + entropy penalty; the
    parts are kept in ``last_mse`` and ``last_reg``. The NumPy views of the parameters,
    masks and knots are taken once (fit modifies them in place); knot changes
    (``update_grid``) are noticed through the grids' versions.
    """

    def __init__(self, model, params, penalty=None):
        self.model = model
        self.params = list(params)
        # the flat gradient (float64, the optimizer's order); each layer's gradients are
        # written into views of it, those of parameters outside the layers stay zero
        self.grad = np.zeros(sum(p.numel() for p in self.params))
        self._where, start = {}, 0  # (layer, name) -> view of the flat gradient
        for p in self.params:
            slot = slot_of(model, p)
            if slot is not None and slot[1] is not None:
                self._where[slot] = self.grad[start : start + p.numel()].reshape(
                    (1, *p.shape))
            start += p.numel()
        lamb = None if penalty is None else [float(penalty[0])]
        l1, ent = (1.0, 2.0) if penalty is None else (penalty[1], penalty[2])
        self.core = BatchedCore(None, None, lamb, l1, ent)
        self.grids = [layer.knots for layer in model.layers]
        self._key = None
        # data -> (dense first-layer inputs, data^T); labels -> labels^T (train and test)
        self._inputs = TensorCache(2)
        self._targets = TensorCache(2)
        self.last_mse = self.last_reg = None

    def _refresh(self):
        """Views of the parameters and constants of the knots, renewed when these change
        (the parameters' storage, not their values: fit changes those in place)."""
        key = (tuple(p.data_ptr() for p in self.params),
               tuple((g._version, g.data_ptr()) for g in self.grids))
        if key != self._key:
            layers = self.model.layers
            self.core.arrays = [tuple(_np(getattr(layer, n))[None] for n in
                                      ("coef", "scale_base", "scale_sp", "mask"))
                                for layer in layers]
            self.core.dest = [tuple(self._where.get((li, n)) for n in SLOT_NAMES)
                              for li in range(len(layers))]
            self.core.set_knots([layers])
            self._key = key

    def _first_inputs(self, x):
        """The first layer's inputs (1, rows, batch) and the data (1, in, batch)."""
        return (first_inputs(self.model.layers[0], x.t().contiguous()),
                np.ascontiguousarray(_np(x).T)[None])

    def mse(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The model's mean-squared error on (x, y) (its test loss in fit): a forward pass
        without gradients."""
        self._refresh()
        first, _ = self._inputs.get((x, self.grids[0]), lambda: self._first_inputs(x))
        yt = self._targets.get((y,), lambda: np.ascontiguousarray(_np(y).T)[None])
        return float(forward_mse(self.core, first, yt)[0])

    def value_and_grad(self, x: torch.Tensor, y: torch.Tensor):
        self._refresh()
        first, x0 = self._inputs.get((x, self.grids[0]), lambda: self._first_inputs(x))
        yt = self._targets.get((y,), lambda: np.ascontiguousarray(_np(y).T)[None])
        total = self.core.evaluate(first, yt, x0)
        self.last_mse = float(self.core.last_mse[0])
        self.last_reg = None if self.core.last_reg is None else float(self.core.last_reg[0])
        return float(total[0]), self.grad.copy()
