"""The sparse layer: large float32 layers on equally spaced knots without a dense basis.

Of a layer's n_basis = G + k B-splines only k + 1 are non-zero at a point, so the dense
basis the GEMM path multiplies (:mod:`kanrun.kan.fused`, :mod:`kanrun.kan.kernels`) is
mostly zeros. The compiled loops of ``_sparse_layer.h`` add, for each point and input, the
k + 1 basis values times k + 1 consecutive weight rows and silu(x) times the base row:
(k + 2) / (G + k + 1) of the GEMM's multiply-adds (for G = 5, k = 3: 5 of 9), no basis in
memory (the backward recomputes the values from x) and no compile step. They run on
``torch.get_num_threads()`` threads.

It serves (:func:`applies`) float32 CPU layers on equally spaced knots of at least
:data:`MIN_EDGES` edges and :data:`MIN_ENTRIES` dense-basis entries, silu base, k <= 7,
where the compiled extension is loaded; ``KANRUN_SPARSE=0`` in the environment turns it
off. Float64 keeps the GEMM paths (exact to rounding, as the science fits need); the
results agree with them to float32 rounding.
"""

from __future__ import annotations

import os

import torch

from . import hidden_c, spline

MIN_EDGES = 256
MIN_ENTRIES = 1 << 15
MIN_K, MAX_K = 2, 5  # the orders the compiled loops are built for
_state = {"enabled": os.environ.get("KANRUN_SPARSE", "1") != "0", "poly": {}, "cpu": None}


def available() -> bool:
    """On, the extension loaded, and this CPU able to run the loops (AVX-512F)."""
    if _state["cpu"] is None:
        probe = hidden_c.function("sparse_available_f")
        _state["cpu"] = probe is not None and bool(probe())
    return _state["enabled"] and _state["cpu"]


def applies(xt: torch.Tensor, uniform, n_basis: int, out_dim: int, k: int) -> bool:
    """Whether a layer's forward on ``xt`` (in, batch) takes the sparse path."""
    return (uniform is not None and xt.dtype == torch.float32 and xt.device.type == "cpu"
            and MIN_K <= k <= MAX_K and xt.shape[0] * out_dim >= MIN_EDGES
            and xt.shape[0] * n_basis * xt.shape[1] >= MIN_ENTRIES and available())


def _poly(k: int) -> torch.Tensor:
    """The cardinal polynomials' coefficients C[p][r] (float32, (k+1, k+1))."""
    poly = _state["poly"].get(k)
    if poly is None:
        poly = _state["poly"][k] = spline.cardinal_coefficients(k).float().contiguous()
    return poly


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _padded(out_dim: int) -> int:
    return -(-out_dim // 16) * 16  # whole 16-float vectors


def forward(xt, coef, scale_base, scale_sp, mask, uniform, k, need_dx):
    """``(y_t, saved)`` as :func:`kernels.layer_forward` returns them (``saved[0]`` None
    marks this path; the weights are kept only where the input gradient needs them)."""
    in_dim, out_dim, n_basis = coef.shape
    batch = xt.shape[1]
    op = _padded(out_dim)
    threads = torch.get_num_threads()
    xt = xt.detach().contiguous()
    coef, scale_base, scale_sp, mask = (t.detach().contiguous()
                                        for t in (coef, scale_base, scale_sp, mask))
    t0 = uniform[0].reshape(-1).to(torch.float32).contiguous()
    inv_h = uniform[1].reshape(-1).to(torch.float32).contiguous()
    w = torch.empty(in_dim, n_basis + 1, op, dtype=torch.float32)
    hidden_c.function("sparse_weights_f")(in_dim, out_dim, n_basis, op, _ptr(coef),
                                          _ptr(scale_base), _ptr(scale_sp), _ptr(mask),
                                          _ptr(w), threads)
    y_t = torch.empty(out_dim, batch, dtype=torch.float32)
    poly = _poly(k)
    if not hidden_c.function("sparse_forward_f")(in_dim, out_dim, op, batch, k, n_basis,
                                                 _ptr(xt), _ptr(t0), _ptr(inv_h), _ptr(poly),
                                                 _ptr(w), _ptr(y_t), threads):
        raise MemoryError("kanrun: out of memory in the sparse layer's work arrays")
    consts = torch.stack([t0, inv_h], 1)
    saved = (None, None, coef, scale_sp, None, w if need_dx else None, mask, None, None, xt,
             None, consts)
    return y_t, saved


def backward(saved, gy, need, k):
    """Gradients ``(x, base, coef, scale_base, scale_sp)`` of a sparse forward."""
    _, _, coef, scale_sp, _, w, mask, _, _, xt, _, consts = saved
    in_dim, out_dim, n_basis = coef.shape
    batch = xt.shape[1]
    gy = gy.detach().to(torch.float32).contiguous()
    g_coef = torch.empty_like(coef)
    g_sb = torch.empty_like(mask)
    g_sp = torch.empty_like(mask)
    g_x = torch.empty_like(xt) if need[0] and w is not None else None
    t0, inv_h = consts[:, 0].contiguous(), consts[:, 1].contiguous()
    if not hidden_c.function("sparse_backward_f")(
            in_dim, out_dim, _padded(out_dim), batch, k, n_basis, _ptr(xt), _ptr(t0),
            _ptr(inv_h), _ptr(_poly(k)), _ptr(w), _ptr(coef), _ptr(scale_sp), _ptr(mask),
            _ptr(gy), _ptr(g_coef), _ptr(g_sb), _ptr(g_sp), _ptr(g_x),
            torch.get_num_threads()):
        raise MemoryError("kanrun: out of memory in the sparse layer's work arrays")
    return (g_x, None, g_coef if need[2] else None, g_sb if need[3] else None,
            g_sp if need[4] else None)
