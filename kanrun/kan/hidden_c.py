"""The compiled loops of :mod:`kanrun.kan.fastpath_numpy` and the L-BFGS direction of
:mod:`kanrun.kan.lbfgs` (``_hidden.c``), through ctypes: the layers after the first,
their penalty, and (:func:`evaluator`) a whole model's loss, penalty and gradients in one
call, for which :mod:`kanrun.kan.compiled_eval` lays out the arrays.

The extension is built when kanrun is installed (``setup.py``; optional: without a C
compiler the install goes on without it). :data:`AVAILABLE` says whether it loaded;
``KANRUN_C=0`` in the environment switches it off. Where it is missing, fastpath_numpy's
NumPy operations compute the same quantities.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

import numpy as np
import torch

_P = ctypes.c_void_p
_I = ctypes.c_int
_D = ctypes.c_double
ABI = 8  # kanrun_hidden_abi() of the sources this module calls (bumped with any signature)


def _load():
    if os.environ.get("KANRUN_C", "1") == "0":
        return None
    try:
        spec = importlib.util.find_spec("kanrun.kan._hidden")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        if lib.kanrun_hidden_abi() != ABI:
            return None
    except (OSError, AttributeError):
        return None
    funcs = {}
    for suffix, dtype in (("d", np.float64), ("f", np.float32)):
        fwd = getattr(lib, f"hidden_forward_{suffix}")
        fwd.argtypes = [_I] * 6 + [_P] * 8
        fwd.restype = None
        bwd = getattr(lib, f"hidden_backward_{suffix}")
        bwd.argtypes = [_I] * 6 + [_P] * 14
        bwd.restype = None
        pen = getattr(lib, f"hidden_penalty_{suffix}")
        pen.argtypes = [_I] * 4 + [_P] * 3 + [_D] * 2 + [_P] * 8
        pen.restype = None
        funcs[np.dtype(dtype)] = (fwd, bwd, pen)
    lib.first_penalty.argtypes = [_I] * 4 + [_P] * 4 + [_D] * 2 + [_P] * 3
    lib.first_penalty.restype = None
    funcs["first_penalty"] = lib.first_penalty
    for suffix, dtype in (("d", np.float64), ("f", np.float32)):
        ev = getattr(lib, f"kan_evaluate_{suffix}")
        ev.argtypes = [_I, _I, _I, _P, _P, _P, _P, _D, _D, _P, _P, _I, _P, _P, _P, _P]
        ev.restype = None
        funcs[("evaluate", np.dtype(dtype))] = ev
    lib.basis_table.argtypes = [_I, _I, _I, _P, _P, _P]
    lib.basis_table.restype = None
    funcs["basis_table"] = lib.basis_table
    lib.refit_moments.argtypes = [_I, _I, _I, _P, _I, _P, _I, _P, _P, _P]
    lib.refit_moments.restype = None
    funcs["refit_moments"] = lib.refit_moments
    lib.lbfgs_direction.argtypes = [_I, _I, _P, _P, _P, _D, _P, _P, _P]
    lib.lbfgs_direction.restype = None
    funcs["lbfgs_direction"] = lib.lbfgs_direction
    for name, argtypes, restype in (  # the sparse layer (kanrun/kan/sparse.py)
            ("sparse_weights_f", [_I] * 4 + [_P] * 5 + [_I], None),
            ("sparse_forward_f", [_I] * 6 + [_P] * 6 + [_I], _I),
            ("sparse_backward_f", [_I] * 6 + [_P] * 13 + [_I], _I),
            ("sparse_available_f", [], _I)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
        funcs[name] = fn
    return funcs


_FUNCS = _load()
AVAILABLE = _FUNCS is not None


def loaded() -> bool:
    return _FUNCS is not None


def function(name: str):
    """One of the compiled functions by its C name, or None without the extension."""
    return None if _FUNCS is None else _FUNCS.get(name)


def serves(dtype) -> bool:
    return _FUNCS is not None and np.dtype(dtype) in _FUNCS


def _ptr(a) -> int | None:
    return None if a is None else a.ctypes.data


class Buffers:
    """The arrays one layer's loops write, kept from call to call with their addresses
    (for a [2,5,1] fit the ~40 address lookups of a call cost as much as a loop). Each
    layer has its own: what a call returns stays valid until that layer's next call."""

    def __init__(self):
        self._arrays: dict = {}

    def get(self, name, shape, dtype=np.float64):
        key = (name, shape, np.dtype(dtype))
        hit = self._arrays.get(key)
        if hit is None:
            array = np.empty(shape, dtype=dtype)
            hit = self._arrays[key] = (array, array.ctypes.data)
        return hit

    def const(self, name, array):
        """The address of an input that stays the same object (knots, tables)."""
        hit = self._arrays.get(name)
        if hit is None or hit[0] is not array:
            hit = self._arrays[name] = (array, array.ctypes.data)
        return hit[1]


def forward(bufs, knots, flat_stack, w, x, w_base, keep_edges):
    """y (m, out, batch), what the backward pass needs (columns and sigmoids of the inputs,
    (m, in, batch) each) and, with ``keep_edges``, the edge values (m, in, out, batch) of a
    layer after the first (see _hidden_impl.h); ``bufs`` the layer's :class:`Buffers`."""
    m, in_dim, batch = x.shape
    out_dim = w_base.shape[2]
    dt = x.dtype
    y, p_y = bufs.get("y", (m, out_dim, batch), dt)
    cols, p_cols = bufs.get("cols", (m, in_dim, batch), np.int32)
    sigs, p_sigs = bufs.get("sigs", (m, in_dim, batch), dt)
    edges, p_edges = bufs.get("edges", (m, in_dim, out_dim, batch), dt) if keep_edges else (
        None, None)
    _FUNCS[dt][0](m, in_dim, out_dim, batch, w, knots.shape[2], x.ctypes.data,
                  bufs.const("knots", knots), bufs.const("stack", flat_stack),
                  w_base.ctypes.data, p_y, p_cols, p_sigs, p_edges)
    return y, (cols, sigs), edges


def first_penalty(sx, cov, weights, lamb, lamb_l1, lamb_entropy):
    """penalty.layer_penalty_cov in C: (penalty (m,), d lamb*penalty / d weights)."""
    m, in_dim, out_dim, f = weights.shape
    cov = np.ascontiguousarray(cov, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    sx = np.ascontiguousarray(sx, dtype=np.float64)
    lamb = np.ascontiguousarray(lamb, dtype=np.float64)
    reg, gw = np.empty(m), np.empty((m, in_dim, out_dim, f))
    work = np.empty(3 * in_dim * out_dim + in_dim * out_dim * f + 2 * (in_dim + out_dim)
                    + in_dim * out_dim)
    _FUNCS["first_penalty"](m, in_dim, out_dim, f, cov.ctypes.data, weights.ctypes.data,
                            sx.ctypes.data, lamb.ctypes.data, float(lamb_l1),
                            float(lamb_entropy), reg.ctypes.data, gw.ctypes.data,
                            work.ctypes.data)
    return reg, gw


def hidden_penalty(bufs, x, edges, lamb, lamb_l1, lamb_entropy):
    """The penalty of a layer after the first from its inputs x (m, in, batch) and edge
    values (m, in, out, batch) (:func:`forward` with ``keep_edges``): (penalty (m,), what
    :func:`backward` needs for its gradient)."""
    m, in_dim, out_dim, batch = edges.shape
    lamb = np.ascontiguousarray(lamb, dtype=np.float64)
    reg = np.zeros(m)
    c, p_c = bufs.get("pen_c", (m, in_dim, out_dim))
    emean, p_emean = bufs.get("pen_emean", (m, in_dim, out_dim))
    wx, p_wx = bufs.get("pen_wx", (m, in_dim))
    xmean, p_xmean = bufs.get("pen_xmean", (m, in_dim))
    _, p_s = bufs.get("pen_s", (in_dim, out_dim))
    _, p_ds = bufs.get("pen_ds", (in_dim, out_dim))
    _, p_work = bufs.get("pen_work", (2 * (in_dim + out_dim) + in_dim * out_dim,))
    _FUNCS[x.dtype][2](m, in_dim, out_dim, batch, x.ctypes.data, edges.ctypes.data,
                       lamb.ctypes.data, float(lamb_l1), float(lamb_entropy), reg.ctypes.data,
                       p_c, p_emean, p_wx, p_xmean, p_s, p_ds, p_work)
    return reg, (edges, p_c, p_emean, p_wx, p_xmean)


def backward(bufs, n_cols, flat_stack, w, x, saved, w_base, g, pen):
    """(moments (m * in * n_cols, w * out) float64, base-weight gradient (m, in, out),
    input gradient (m, in, batch)) from the output gradient g (m, out, batch); ``pen`` None
    or what :func:`hidden_penalty` returned for the gradient; ``saved`` what
    :func:`forward` returned for it."""
    m, in_dim, batch = x.shape
    out_dim = w_base.shape[2]
    dt = x.dtype
    moments, p_mom = bufs.get("moments", (m * in_dim * n_cols, w * out_dim))
    g_wb, p_gwb = bufs.get("g_wb", (m, in_dim, out_dim), dt)
    gx, p_gx = bufs.get("gx", (m, in_dim, batch), dt)
    g = np.ascontiguousarray(g, dtype=dt)
    edges, p_c, p_emean, p_wx, p_xmean = (None,) * 5 if pen is None else pen
    cols, sigs = saved
    _FUNCS[dt][1](m, in_dim, out_dim, batch, w, n_cols - 1, x.ctypes.data, cols.ctypes.data,
                  sigs.ctypes.data, bufs.const("stack", flat_stack), w_base.ctypes.data,
                  g.ctypes.data, _ptr(edges), p_c, p_emean, p_wx, p_xmean, p_mom, p_gwb, p_gx)
    return moments, g_wb, gx


def lbfgs_direction():
    """The compiled two-loop recursion ``f(c, n, S, Y, rho, gamma, g, d, work)`` (pointers
    for the arrays), or None where the extension is not loaded."""
    return None if _FUNCS is None else _FUNCS["lbfgs_direction"]


_POINTERS = ("coef", "sb", "sp", "mask", "d_coef", "d_sb", "d_sp", "spmask", "wbase", "gwsp",
             "w0", "weights", "gw", "knots", "poly", "gather", "stack", "x", "cols", "sigs",
             "edges", "moments", "pc", "pmean", "pwx", "pxmean", "pwork", "g_wb", "gout")


class Layer(ctypes.Structure):
    """kan_layer of _hidden.c: one layer of a whole-model evaluation."""

    _fields_ = ([(name, _I) for name in ("in_dim", "out", "nb", "w", "nk")]
                + [("dstride", ctypes.c_long)] + [(name, _P) for name in _POINTERS])


def layer_struct(sizes, dstride, arrays) -> Layer:
    """A :class:`Layer` from (in, out, nb, w, nk), the member stride of the gradients and
    ``arrays`` (name -> array or None: NULL); the caller keeps the arrays alive."""
    layer = Layer(*sizes, int(dstride))
    for name in _POINTERS:
        a = arrays.get(name)
        setattr(layer, name, None if a is None else a.ctypes.data)
    return layer


def evaluator(dtype):
    """The compiled whole-model evaluation for ``dtype`` (kan_evaluate_d / _f), or None."""
    return None if _FUNCS is None else _FUNCS.get(("evaluate", np.dtype(dtype)))


def refit_moments(x, old_grid, new_grid, k: int):
    """(gram (in, nb_new, nb_new), cross (in, nb_new, nb_old)) float64 of a spline refit
    on points x (batch, in) (see spline.refit_coef), all NumPy-convertible CPU tensors."""
    xt = np.ascontiguousarray(x.detach().numpy().T, dtype=np.float64)
    t_old = np.ascontiguousarray(old_grid.detach().numpy(), dtype=np.float64)
    t_new = np.ascontiguousarray(new_grid.detach().numpy(), dtype=np.float64)
    in_dim, batch = xt.shape
    nb_old, nb_new = t_old.shape[1] - k - 1, t_new.shape[1] - k - 1
    gram, cross = np.empty((in_dim, nb_new, nb_new)), np.empty((in_dim, nb_new, nb_old))
    _FUNCS["refit_moments"](in_dim, batch, k, xt.ctypes.data, t_old.shape[1],
                            t_old.ctypes.data, t_new.shape[1], t_new.ctypes.data,
                            gram.ctypes.data, cross.ctypes.data)
    return gram, cross


def refits(x, k: int) -> bool:
    """Whether the compiled B-spline loops (:func:`refit_moments`, :func:`basis_table`)
    serve tensors like ``x`` (points or knots: CPU float32/64) for splines of order k."""
    return (_FUNCS is not None and x.device.type == "cpu" and k < 32
            and x.dtype in (torch.float32, torch.float64))


def basis_table(grid, k: int, inv_vander) -> np.ndarray:
    """The table of spline.basis_tables (float64) for knots ``grid`` (in, n), order k;
    ``inv_vander`` (k+1, k+1) float64, the inverse Vandermonde matrix of its nodes."""
    t = np.ascontiguousarray(grid.detach().numpy(), dtype=np.float64)
    inv = np.ascontiguousarray(inv_vander, dtype=np.float64)
    in_dim, n = t.shape
    table = np.empty((2 + (k + 1) ** 2, in_dim * (n + 1)))
    _FUNCS["basis_table"](in_dim, n, k, t.ctypes.data, inv.ctypes.data, table.ctypes.data)
    return table
