"""The fused layer features of large layers on equally spaced knots: one compiled pass.

On equally spaced knots (``t_j = t_0 + j h``, as every layer has until a grid update) the
dense basis needs no search, gather or scatter: with z = (x - t_0) / h, basis j at x is the
cardinal B-spline N_k(z - j), a fixed piecewise polynomial (:func:`spline.cardinal_fractions`).
So the layer's features -- the dense basis (in, G+k, batch) and silu(x) -- are one
elementwise expression of x, and the input gradient one elementwise expression of x and
the features' gradient (the derivative is recomputed, not stored). ``torch.compile`` turns
each into a single loop; the matrix products stay torch's (BLAS).

It is used (:func:`applies`) for layers of at least :data:`MIN_EDGES` edges whose dense
basis has at least :data:`MIN_ENTRIES` entries (ML-scale layers: there the basis, not the
products, was most of the time) when a compiler works here; the first call of each layer
shape compiles (seconds; torch keeps the kernels in its on-disk cache). Small science models
never pay the compile time.
Where compiling fails (no C compiler, an unsupported device) the first call notices,
switches the module off and the layers keep the general path of :mod:`kanrun.kan.kernels`,
which gives the same numbers to rounding. ``KANRUN_FUSED=0`` in the environment turns the
fused path off.
"""

from __future__ import annotations

import math
import os
import warnings
from fractions import Fraction

import torch

from .activations import silu, silu_slope
from .spline import cardinal_fractions

# the fused path serves layers with at least MIN_EDGES edges (in * out: ML-scale layers;
# science models have tens to hundreds) on inputs whose dense basis has MIN_ENTRIES entries (in *
# n_basis * batch); below that compiling (seconds, once per process and layer shape) would
# cost more than it saves
MIN_EDGES = 4096
MIN_ENTRIES = 1 << 17

_state = {"enabled": os.environ.get("KANRUN_FUSED", "1") != "0", "compiled": {}}


def _symmetric_pieces(k: int):
    """N_k as polynomials of s = |v - (k + 1) / 2| (the spline is symmetric about its
    centre): ``[(upper end of the piece in s, coefficients lowest power first), ...]``,
    inner piece first; exact rationals, rounded once to floats."""
    exact = cardinal_fractions(k)  # [p][r]: piece m = k - r in u = v - m
    centre = Fraction(k + 1, 2)
    pieces = []
    m = math.floor(centre)  # the piece holding the centre (or starting there)
    while m <= k:
        # v = centre + s, u = v - m = s + (centre - m): expand sum_p C[p] (s + d)^p in s
        d = centre - m
        coefs = [exact[p][k - m] for p in range(k + 1)]
        in_s = [sum(coefs[p] * math.comb(p, q) * d ** (p - q) for p in range(q, k + 1))
                for q in range(k + 1)]
        pieces.append((float(m + 1 - centre), [float(c) for c in in_s]))
        m += 1
    return pieces


def _horner(u, coefs):
    out = torch.full_like(u, coefs[-1]) if len(coefs) == 1 else u * coefs[-1] + coefs[-2]
    for c in reversed(coefs[:-2]):
        out = out * u + c
    return out


def _cardinal(v, k: int, pieces, derivative: bool):
    """N_k(v) (or dN_k/dv) elementwise; zero outside [0, k + 1)."""
    centre = (k + 1) / 2
    d = v - centre
    s = d.abs()
    out = torch.zeros_like(v)
    for upper, coefs in reversed(pieces):  # outer pieces first, inner ones overwrite
        if derivative:
            coefs = [p * coefs[p] for p in range(1, len(coefs))]
        out = torch.where(s < upper, _horner(s, coefs), out)
    if derivative:
        out = torch.where(d < 0, -out, out)
    return out


def _make_features(k: int, n_basis: int):
    pieces = _symmetric_pieces(k)

    def features(xt, t0, inv_h):
        """[dense basis; silu(x)] of feature-major inputs xt (in, batch): (in * (n_basis + 1),
        batch), input i's n_basis basis rows followed by its silu row."""
        z = (xt - t0) * inv_h
        steps = torch.arange(n_basis, dtype=xt.dtype, device=xt.device).view(1, -1, 1)
        basis = _cardinal(z.unsqueeze(1) - steps, k, pieces, False)
        base = silu(xt).unsqueeze(1)
        return torch.cat([basis, base], 1).view(-1, xt.shape[1])

    return features


def _make_grad_x(k: int, n_basis: int):
    pieces = _symmetric_pieces(k)

    def grad_x(g_feat, xt, t0, inv_h):
        """d loss / d x (in, batch) from the features' gradient (in * (n_basis + 1), batch)."""
        g = g_feat.view(xt.shape[0], n_basis + 1, xt.shape[1])
        z = (xt - t0) * inv_h
        steps = torch.arange(n_basis, dtype=xt.dtype, device=xt.device).view(1, -1, 1)
        slope = _cardinal(z.unsqueeze(1) - steps, k, pieces, True)
        return ((g[:, :n_basis] * slope).sum(1) * inv_h
                + g[:, n_basis] * silu_slope(xt, torch.sigmoid(xt)))

    return grad_x


def applies(xt: torch.Tensor, uniform, n_basis: int, out_dim: int) -> bool:
    """Whether a layer's forward on ``xt`` (in, batch) takes the fused path: it is on,
    the knots are equally spaced (``uniform``: the constants of ``basis_tables``), and the
    layer and its dense basis are large enough to pay for compiling."""
    return (_state["enabled"] and uniform is not None
            and xt.shape[0] * out_dim >= MIN_EDGES
            and xt.shape[0] * n_basis * xt.shape[1] >= MIN_ENTRIES)


def _make_weights(k: int, n_basis: int):
    def weights(coef, scale_base, scale_sp, mask):
        """The product's weights (in * (n_basis + 1), out): each input's spline weights
        coef * scale_sp * mask (one row per basis function), then its base weights."""
        rows, out_dim, _ = coef.shape
        w_sp = (coef * (scale_sp * mask).unsqueeze(-1)).transpose(1, 2)
        w_all = torch.cat([w_sp, (scale_base * mask).unsqueeze(1)], 1)
        return w_all.reshape(rows * (n_basis + 1), out_dim)

    return weights


def _make_param_grads(k: int, n_basis: int):
    def param_grads(g_w, coef, scale_sp, mask):
        """(coef, scale_base, scale_sp) gradients from that of the weights, (out, in *
        (n_basis + 1)) as ``gy @ features^T`` gives it."""
        rows, out_dim, _ = coef.shape
        g = g_w.view(out_dim, rows, n_basis + 1).permute(1, 0, 2)
        g_wsp = g[..., :n_basis]
        return (g_wsp * (scale_sp * mask).unsqueeze(-1), g[..., n_basis] * mask,
                (g_wsp * coef).sum(-1) * mask)

    return param_grads


_MAKERS = {"features": _make_features, "grad_x": _make_grad_x, "weights": _make_weights,
           "param_grads": _make_param_grads}


def _function(name: str, k: int, n_basis: int, rows: int, compiled: bool):
    """One compiled function per kind, spline order, basis size and layer width: each
    layer gets kernels specialised to its shape (a new batch size recompiles once, then
    that dimension is dynamic)."""
    key = (name, k, n_basis, rows if compiled else 0, compiled)
    fn = _state["compiled"].get(key)
    if fn is None:
        fn = _MAKERS[name](k, n_basis)
        if compiled:
            fn = torch.compile(fn)
        _state["compiled"][key] = fn
    return fn


def _run(name, k, n_basis, rows, *args):
    """The compiled function's result; the eager one's once compiling has failed here."""
    if _state["enabled"]:
        try:
            return _function(name, k, n_basis, rows, True)(*args)
        except Exception as err:  # no working compiler here: the general path from now on
            _state["enabled"] = False
            first = str(err).splitlines()[0] if str(err) else ""
            warnings.warn(f"kanrun: the fused B-spline layer is off ({type(err).__name__}: "
                          f"{first}); large layers use the general path", RuntimeWarning,
                          stacklevel=3)
            if name == "features":
                return None
    return _function(name, k, n_basis, rows, False)(*args)


def weights(coef, scale_base, scale_sp, mask, k: int):
    """The fused path's weight matrix (see :func:`_make_weights`)."""
    return _run("weights", k, coef.shape[2], coef.shape[0], coef, scale_base, scale_sp, mask)


def param_grads(g_w, coef, scale_sp, mask, k: int):
    """The fused path's parameter gradients (see :func:`_make_param_grads`)."""
    return _run("param_grads", k, coef.shape[2], coef.shape[0], g_w, coef, scale_sp, mask)


def features(xt, uniform, k: int, n_basis: int):
    """The fused features (see :func:`_make_features`), or None where compiling failed."""
    t0, inv_h, _ = uniform
    return _run("features", k, n_basis, xt.shape[0], xt, t0, inv_h)


def grad_x(g_feat, xt, uniform, k: int, n_basis: int):
    """The input gradient of a fused forward (eager where compiling has failed since)."""
    t0, inv_h, _ = uniform
    return _run("grad_x", k, n_basis, xt.shape[0], g_feat, xt, t0, inv_h)
