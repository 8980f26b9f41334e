"""The compiled loops of :mod:`kanrun.kan.fastpath_numpy` (``_hidden.c``), through ctypes.

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

_P = ctypes.c_void_p
_I = ctypes.c_int


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
        if lib.kanrun_hidden_abi() != 1:
            return None
    except (OSError, AttributeError):
        return None
    funcs = {}
    for suffix, dtype in (("d", np.float64), ("f", np.float32)):
        fwd = getattr(lib, f"hidden_forward_{suffix}")
        fwd.argtypes = [_I] * 6 + [_P] * 8
        fwd.restype = None
        bwd = getattr(lib, f"hidden_backward_{suffix}")
        bwd.argtypes = [_I] * 6 + [_P] * 11
        bwd.restype = None
        funcs[np.dtype(dtype)] = (fwd, bwd)
    return funcs


_FUNCS = _load()
AVAILABLE = _FUNCS is not None


def serves(dtype) -> bool:
    return _FUNCS is not None and np.dtype(dtype) in _FUNCS


def _ptr(a) -> int | None:
    return None if a is None else a.ctypes.data


def forward(knots, flat_stack, w, x, w_base, keep_edges):
    """y (m, out, batch), what the backward pass needs (columns and sigmoids of the inputs,
    (m, in, batch) each) and, with ``keep_edges``, the edge values (m, in, out, batch) of a
    layer after the first (see _hidden_impl.h)."""
    m, in_dim, batch = x.shape
    out_dim = w_base.shape[2]
    fwd = _FUNCS[x.dtype][0]
    y = np.empty((m, out_dim, batch), dtype=x.dtype)
    cols = np.empty((m, in_dim, batch), dtype=np.int32)
    sigs = np.empty((m, in_dim, batch), dtype=x.dtype)
    edges = np.empty((m, in_dim, out_dim, batch), dtype=x.dtype) if keep_edges else None
    fwd(m, in_dim, out_dim, batch, w, knots.shape[2], x.ctypes.data, knots.ctypes.data,
        flat_stack.ctypes.data, w_base.ctypes.data, y.ctypes.data, cols.ctypes.data,
        sigs.ctypes.data, _ptr(edges))
    return y, (cols, sigs), edges


def backward(n_cols, flat_stack, w, x, saved, w_base, g, pen):
    """(moments (m * in * n_cols, w * out) float64, base-weight gradient (m, in, out),
    input gradient (m, in, batch)) from the output gradient g (m, out, batch); ``pen`` as
    in BatchedCore._backward; ``saved`` what :func:`forward` returned for it."""
    m, in_dim, batch = x.shape
    out_dim = w_base.shape[2]
    bwd = _FUNCS[x.dtype][1]
    moments = np.empty((m * in_dim * n_cols, w * out_dim))
    g_wb = np.empty((m, in_dim, out_dim), dtype=x.dtype)
    gx = np.empty((m, in_dim, batch), dtype=x.dtype)
    g = np.ascontiguousarray(g, dtype=x.dtype)
    p0 = p1 = None
    if pen is not None:
        p0 = np.ascontiguousarray(pen[0], dtype=x.dtype)
        p1 = np.ascontiguousarray(pen[1], dtype=x.dtype)
    cols, sigs = saved
    bwd(m, in_dim, out_dim, batch, w, n_cols - 1, x.ctypes.data, cols.ctypes.data,
        sigs.ctypes.data, flat_stack.ctypes.data, w_base.ctypes.data, g.ctypes.data,
        _ptr(p0), _ptr(p1), moments.ctypes.data, g_wb.ctypes.data, gx.ctypes.data)
    return moments, g_wb, gx
