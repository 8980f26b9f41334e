"""The plan of a compiled whole-model evaluation (``hidden_c.evaluator``): the arrays one
call of ``kan_evaluate_d/_f`` reads and writes, laid out once for a
:class:`~kanrun.kan.fastpath_numpy.BatchedCore`'s parameters, knots and data."""

from __future__ import annotations

import ctypes

import numpy as np

from . import hidden_c

# first-layer multiply-adds per point (out * in * (n_basis + 1)) up to which the compiled
# whole-model evaluation takes the first layer's products too; beyond, BLAS's are faster
# (per evaluation on 1000 points, compiled vs NumPy: [2,5,1] 0.05 vs 0.09 ms, [8,16,1]
# 0.16 vs 0.17, [12,24,1] 0.29 vs 0.25, [20,100,1] 1.6 vs 1.0) and NumPy runs that layer
MAX_COMPILED_FIRST_MACS = 1536


class Plan:
    """The arrays of one compiled whole-model evaluation (``hidden_c.evaluator``) for a
    core's current parameters, knots and given first-layer inputs and targets: one
    :class:`hidden_c.Layer` per layer and every buffer the loops write. ``keys`` are the
    objects it was built for (a plan serves only these, compared by identity)."""

    def __init__(self, core, first, target):
        arrays, dest, hidden = core.arrays, core.dest, core.hidden
        m, _, batch = first.shape
        dt = arrays[0][0].dtype
        self.keys = (first, target, arrays, dest, hidden)
        self.penalized = core.lamb is not None
        self.stats = None  # (cov, sx0) of the first layer's features, with a penalty
        self.lamb = None if core.lamb is None else np.ascontiguousarray(core.lamb,
                                                                        dtype=np.float64)
        self.l1, self.ent = core.lamb_l1, core.lamb_entropy
        self.keep, structs = [], []
        for li, (coef, sb, sp, mask) in enumerate(arrays):
            _, in_dim, out_dim, nb = coef.shape
            io, shape = in_dim * out_dim, (m, in_dim, out_dim)
            d = dest[li]
            live = [x for x in d if x is not None]
            bufs = dict(coef=coef, sb=sb, sp=sp, mask=mask, d_coef=d[0], d_sb=d[1], d_sp=d[2],
                        spmask=np.empty(shape, dt), wbase=np.empty(shape, dt),
                        gout=np.empty((m, out_dim, batch), dt))
            if li == 0:
                f = nb + 1
                bufs.update(w0=np.empty((out_dim, in_dim * f), dt),
                            gwsp=np.empty(m * io * nb + io), weights=np.empty((*shape, f)),
                            gw=np.empty((*shape, f)),
                            pwork=np.empty(4 * io + io * f + 2 * (in_dim + out_dim)))
                sizes = (in_dim, out_dim, nb, 0, 0)
            else:
                c = hidden[li]
                bufs.update(gwsp=np.empty((*shape, nb)), gw=np.empty(shape), knots=c.knots,
                            poly=c.poly_pr, gather=c.gather, stack=c.stack,
                            x=np.empty((m, in_dim, batch), dt),
                            cols=np.empty((m, in_dim, batch), np.int32),
                            sigs=np.empty((m, in_dim, batch), dt),
                            edges=(np.empty((*shape, batch), dt) if self.penalized else None),
                            moments=np.empty((m * in_dim * c.n_cols, c.w * out_dim)),
                            pc=np.empty(shape), pmean=np.empty(shape),
                            pwx=np.empty((m, in_dim)), pxmean=np.empty((m, in_dim)),
                            pwork=np.empty(3 * io + 2 * (in_dim + out_dim)),
                            g_wb=np.empty(shape, dt))
                sizes = (in_dim, out_dim, nb, c.w, c.n_cols - 1)
            self.keep.append(bufs)
            dstride = live[0].strides[0] // 8 if live and m > 1 else 0
            structs.append(hidden_c.layer_struct(sizes, dstride, bufs))
        self.layers = (hidden_c.Layer * len(structs))(*structs)
        out_dim = arrays[-1][0].shape[2]
        self.y = np.empty((m, out_dim, batch), dt)
        self.mse, self.reg, self.total = np.zeros(m), np.zeros(m), np.zeros(m)
        self._call = hidden_c.evaluator(dt)
        self._args = (m, len(structs), batch, ctypes.addressof(self.layers), first.ctypes.data,
                      target.ctypes.data)

    @staticmethod
    def usable(core, first, target) -> bool:
        """Whether the compiled evaluation takes these arrays as they are laid out."""
        arrays = core.arrays
        dt = arrays[0][0].dtype
        if hidden_c.evaluator(dt) is None or first.dtype != dt or target.dtype != dt:
            return False
        if not (first.flags.c_contiguous and target.flags.c_contiguous):
            return False
        if first.shape[2] < 2 or any(c is not None and c.knots.dtype != dt
                                     for c in core.hidden):
            return False
        if first.shape[1] * arrays[0][0].shape[2] > MAX_COMPILED_FIRST_MACS:
            return False  # a wide first layer: BLAS's products win
        for layer, d in zip(arrays, core.dest, strict=True):
            if any(a.dtype != dt or not a.flags.c_contiguous for a in layer):
                return False
            live = [x for x in d if x is not None]
            if any(x.dtype != np.float64 or not x[0].flags.c_contiguous for x in live):
                return False
            if first.shape[0] > 1 and len({x.strides[0] for x in live}) > 1:
                return False  # one member stride per layer
        return True

    def run(self, grad: bool) -> None:
        """One evaluation: mse, reg (with a penalty), total and y; with ``grad`` also the
        gradients into the core's ``dest`` arrays."""
        lamb = cov = sx0 = None
        if grad and self.penalized:
            lamb = self.lamb.ctypes.data
            cov, sx0 = (a.ctypes.data for a in self.stats)
        self._call(*self._args, lamb, self.l1, self.ent, cov, sx0, int(grad),
                   self.mse.ctypes.data, self.reg.ctypes.data, self.total.ctypes.data,
                   self.y.ctypes.data)
