"""One KAN layer: a learnable activation phi_ij on every edge from input i to output j.

    phi_ij(x) = mask_ij * (scale_base_ij * b(x) + scale_sp_ij * spline_ij(x))
              + symbolic_mask_ij * (c_ij * f_ij(a_ij * x + b_ij) + d_ij)
    y_j = sum_i phi_ij(x_i)

Shapes: x (batch, in) -> y (batch, out); ``coef`` (in, out, G+k); ``knots`` (in, G+2k+1),
the knot vector of each input's splines (G = ``n_intervals``, the grid size, k extra knots
on each side); ``mask``, ``scale_base``, ``scale_sp`` (in, out). The forward pass evaluates
each input's basis once and contracts it with all coefficients in one matmul; per-edge
values (batch, in, out) are only formed by :meth:`edge_values`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import spline
from .cache import TensorCache, cached_on
from .kernels import BASE_FUNCTIONS, SplineLayerFunction
from .spec import KANSpec
from .symbolic.edges import SymbolicEdges


class KANLayerError(ValueError):
    """A layer was asked for something it cannot do (no inputs or outputs, a bad refine)."""


class KANLayer(nn.Module):
    """A KAN layer with B-spline activations plus a residual base function on each edge."""

    def __init__(self, in_dim: int, out_dim: int, spec: KANSpec | None = None, *,
                 generator: torch.Generator | None = None, device=None, **arguments):
        """An ``in_dim -> out_dim`` layer with the edge settings of ``spec`` (its ``grid``,
        ``k``, ``base_fun``, scales, ``grid_range``, ``dtype``...; the width is the model's).

        ``arguments`` are KANSpec fields replacing those of ``spec`` (without a spec:
        ``KANLayer(2, 3, grid=5, k=3)`` builds one). ``generator`` draws the initial curves.
        """
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise KANLayerError(
                f"a layer needs at least one input and output, got {in_dim}->{out_dim}")
        if spec is None:
            spec = KANSpec(width=[int(in_dim), int(out_dim)], **arguments)
        elif arguments:
            spec = spec.replace(**arguments)
        self.spec = spec
        dtype = spec.torch_dtype
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.n_intervals, self.k = spec.grid, spec.k
        self.base_fun_name = spec.base_fun
        self.grid_eps = spec.grid_eps
        g = self.n_intervals
        knots = spline.uniform_grid(in_dim, g, spec.grid_range, dtype=torch.float64, device=device)
        full = spline.extend_grid(knots, self.k)
        self.register_buffer("knots", full.to(dtype))
        self.register_buffer("mask", torch.ones(in_dim, out_dim, dtype=dtype, device=device))

        def rand(*shape):
            return torch.rand(*shape, generator=generator, dtype=torch.float64).to(device)

        # small random curves: noise at the grid points, fitted by least squares
        if spec.noise_scale:
            noise = (rand(g + 1, in_dim, out_dim) - 0.5) * spec.noise_scale / g
            coef = spline.curve_to_coef(knots.t(), noise, full, self.k, ridge=1e-8)
        else:
            coef = torch.zeros(in_dim, out_dim, g + self.k, dtype=torch.float64,
                               device=device)
        self.coef = nn.Parameter(coef.to(dtype))
        root = 1.0 / math.sqrt(in_dim)
        sb = (spec.scale_base_mu * root
              + spec.scale_base_sigma * (rand(in_dim, out_dim) * 2 - 1) * root)
        self.scale_base = nn.Parameter(sb.to(dtype), requires_grad=spec.sb_trainable)
        sp = torch.full((in_dim, out_dim), spec.scale_sp * root, dtype=torch.float64,
                        device=device)
        self.scale_sp = nn.Parameter(sp.to(dtype), requires_grad=spec.sp_trainable)
        self.symbolic = SymbolicEdges(in_dim, out_dim, dtype=dtype, device=device)

    # pykan's names of the same two things (its layers' ``grid`` and ``num``), read-only;
    # kanrun's own code says knots and n_intervals
    @property
    def grid(self) -> torch.Tensor:
        return self.knots

    @property
    def num(self) -> int:
        return self.n_intervals

    # ------------------------------------------------------------------ forward
    @property
    def n_basis(self) -> int:
        return self.n_intervals + self.k

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return BASE_FUNCTIONS[self.base_fun_name](x)

    @cached_on("knots")
    def tables(self):
        """Basis tables for the current knots (rebuilt only when the grid changes)."""
        return spline.basis_tables(self.knots, self.k)

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """Dense basis of this layer's knots: (batch, in) -> (batch, in, G+k)."""
        return spline.bspline_basis(x, self.knots, self.k)

    def cache_inputs(self, enabled: bool) -> None:
        """Keep the basis of the last two constant inputs (used by fit for the data)."""
        self.__dict__["_input_cache"] = TensorCache(2) if enabled else None

    def cached_inputs(self, xt: torch.Tensor):
        """``(basis (in * n_basis, batch), base (in, batch))`` of a constant feature-major
        input while :meth:`cache_inputs` is on (computed on first sight), else (None, None)."""
        cache = self.__dict__.get("_input_cache")
        if cache is None or xt.requires_grad:
            return None, None
        return cache.get((xt, self.knots), lambda: self._input_features(xt))

    def _input_features(self, xt: torch.Tensor):
        with torch.no_grad():
            vals, cols, _ = spline.fast_local_basis(xt, self.knots, self.k, False, self.tables())
            basis = spline.dense_basis(vals, cols, self.n_basis).view(-1, xt.shape[1])
            return basis, self.base(xt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) -> (batch, out)."""
        return self.forward_t(x.t().contiguous()).t()

    def forward_t(self, xt: torch.Tensor) -> torch.Tensor:
        """Feature-major forward: (in, batch) contiguous -> (out, batch)."""
        if self.numeric_off():  # every edge symbolic or removed: no spline work at all
            y_t = xt.new_zeros(self.out_dim, xt.shape[1])
        else:
            basis_t, base_t = self.cached_inputs(xt)
            if base_t is None and self.base_fun_name != "silu":
                base_t = self.base(xt)
            y_t = SplineLayerFunction.apply(
                xt, base_t, self.coef, self.scale_base, self.scale_sp, self.mask,
                self.knots, self.tables(), self.k, basis_t,
            )
        if self.symbolic.active:
            y_t = y_t + self.symbolic(xt.t()).t()
        return y_t

    @cached_on("mask")
    def numeric_off(self) -> bool:
        """True when no edge has a numeric part (the mask is all zero); cached on the mask."""
        return not bool(self.mask.any())

    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """The raw splines (without scales or mask): (batch, in) -> (batch, in, out)."""
        return torch.einsum("bip,iop->bio", self.basis(x), self.coef)

    def edge_values(self, x: torch.Tensor, numeric_only: bool = False) -> torch.Tensor:
        """Per-edge activations phi_ij(x_i): (batch, in) -> (batch, in, out).

        ``numeric_only`` leaves out symbolic edges (what the sparsity penalty acts on).
        """
        spl = self.spline_values(x)
        vals = self.mask * (self.scale_base * self.base(x).unsqueeze(-1) + self.scale_sp * spl)
        if not numeric_only and self.symbolic.active:
            vals = vals + self.symbolic.edge_values(x)
        return vals

    # ------------------------------------------------------------------ grids
    def interior_knots(self) -> torch.Tensor:
        return spline.interior(self.knots, self.k)

    def _refit(self, new_knots: torch.Tensor, points: torch.Tensor) -> None:
        with torch.no_grad():
            coef = spline.refit_coef(points, self.knots, self.coef, new_knots, self.k)
            self.knots.copy_(new_knots.to(self.knots.dtype))
            self.coef.copy_(coef)

    def adaptive_knots(self, x: torch.Tensor) -> torch.Tensor:
        """Interior knots from samples: ``grid_eps`` * uniform + (1 - grid_eps) * percentiles."""
        if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
            x_sorted = torch.from_numpy(np.sort(x.detach().numpy(), axis=0))  # ~6x torch's
        else:
            x_sorted = torch.sort(x.detach(), dim=0).values
        m = x_sorted.shape[0]
        ids = [int(m / self.n_intervals * i) for i in range(self.n_intervals)] + [m - 1]
        adaptive = x_sorted[ids, :].t()  # (in, G+1)
        lo, hi = adaptive[:, :1], adaptive[:, -1:]
        steps = torch.arange(self.n_intervals + 1, dtype=x.dtype, device=x.device)
        uniform = lo + (hi - lo) / self.n_intervals * steps
        knots = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive
        # an input whose samples (nearly) all coincide keeps its current knots
        old = self.interior_knots()
        flat = (hi - lo).squeeze(1) <= 1e-6 * (1 + lo.abs().squeeze(1))
        return torch.where(flat.unsqueeze(1), old.to(knots.dtype), knots)

    def update_grid(self, x: torch.Tensor, alpha: float = 1.0) -> None:
        """Move the knots to the sample distribution of ``x`` (m, in) and refit each spline
        to its previous values on the samples (least squares). ``alpha`` < 1 moves them
        only that fraction of the way (a smaller change of the function)."""
        with torch.no_grad():
            x = x.to(self.knots.dtype)
            knots = self.adaptive_knots(x)
            if alpha != 1.0:
                old = self.interior_knots().to(knots.dtype)
                knots = old + float(alpha) * (knots - old)
            self._refit(spline.extend_grid(knots, self.k), x)

    def refined(self, n_intervals: int, x: torch.Tensor | None = None,
                margin: float | None = None) -> KANLayer:
        """A copy with ``n_intervals`` intervals whose splines are least-squares fits of this.

        The new knots interpolate the current ones (keeping a sample-adapted spacing). When
        samples ``x`` of this layer's inputs are given, the grid range also covers them, so
        the function is kept wherever the data go, even outside the current grid. With a
        ``margin`` the grid instead spans exactly the range of ``x`` widened by ``margin``
        times that range on each side (no empty intervals where the data no longer reach, and
        room for test points slightly beyond the training data).
        """
        if int(n_intervals) < 1:
            raise KANLayerError(
                f"grid must be a positive number of intervals, got {n_intervals}")
        if margin is not None and not float(margin) >= 0:
            raise KANLayerError(f"margin must be a non-negative fraction, got {margin}")
        old = self.interior_knots().to(torch.float64)
        pos = torch.linspace(0, self.n_intervals, int(n_intervals) + 1, dtype=torch.float64,
                             device=old.device)
        lower = pos.floor().long().clamp(max=self.n_intervals - 1)
        frac = (pos - lower).unsqueeze(0)
        knots = old[:, lower] * (1 - frac) + old[:, lower + 1] * frac
        if x is not None:
            xd = x.detach().to(torch.float64)
            lo, hi = xd.min(0).values, xd.max(0).values
            if margin is None:
                knots[:, 0] = torch.minimum(knots[:, 0], lo)
                knots[:, -1] = torch.maximum(knots[:, -1], hi)
            else:
                pad = float(margin) * (hi - lo)
                lo, hi = (lo - pad).unsqueeze(1), (hi + pad).unsqueeze(1)
                first, span = knots[:, :1], knots[:, -1:] - knots[:, :1]
                moved = lo + (knots - first) / span.clamp_min(1e-300) * (hi - lo)
                usable = (hi - lo > 1e-12 * (1 + hi.abs())) & (span > 0)  # constant inputs
                knots = torch.where(usable, moved, knots)
        new_knots = spline.extend_grid(knots, self.k)
        points = spline.sample_points(knots, self.k + 2)
        if x is not None:
            points = torch.cat([points, x.detach().to(torch.float64)])
        coef = spline.refit_coef(
            points, self.knots.to(torch.float64), self.coef, new_knots, self.k
        )
        new = self._empty_like(int(n_intervals))
        with torch.no_grad():
            new.knots.copy_(new_knots.to(self.knots.dtype))
            new.coef.copy_(coef)
        return new

    def _copy_spec(self, **changes) -> KANSpec:
        """This layer's spec as it stands now (current dtype, trainability), changed."""
        return self.spec.replace(
            noise_scale=0.0, dtype=self.coef.dtype, sp_trainable=self.scale_sp.requires_grad,
            sb_trainable=self.scale_base.requires_grad, **changes)

    def _empty_like(self, n_intervals: int) -> KANLayer:
        """A layer with this one's settings and values but ``n_intervals`` intervals (coef
        zeroed)."""
        new = KANLayer(self.in_dim, self.out_dim, self._copy_spec(grid=int(n_intervals)),
                       device=self.coef.device)
        with torch.no_grad():
            new.scale_base.copy_(self.scale_base)
            new.scale_sp.copy_(self.scale_sp)
            new.mask.copy_(self.mask)
        new.symbolic.load_from(self.symbolic)
        return new

    # ------------------------------------------------------------------ structure
    def subset(self, in_ids, out_ids) -> KANLayer:
        """A layer keeping only inputs ``in_ids`` and outputs ``out_ids`` (same values)."""
        in_ids = torch.as_tensor(list(in_ids), dtype=torch.long, device=self.coef.device)
        out_ids = torch.as_tensor(list(out_ids), dtype=torch.long, device=self.coef.device)
        if len(in_ids) == 0 or len(out_ids) == 0:
            raise KANLayerError("a layer must keep at least one input and one output")
        new = KANLayer(len(in_ids), len(out_ids), self._copy_spec(grid=self.n_intervals),
                       device=self.coef.device)
        with torch.no_grad():
            new.knots.copy_(self.knots[in_ids])
            new.coef.copy_(self.coef[in_ids][:, out_ids])
            new.scale_base.copy_(self.scale_base[in_ids][:, out_ids])
            new.scale_sp.copy_(self.scale_sp[in_ids][:, out_ids])
            new.mask.copy_(self.mask[in_ids][:, out_ids])
        new.symbolic = self.symbolic.subset(in_ids, out_ids)
        return new

    def extra_repr(self) -> str:
        return (
            f"in={self.in_dim}, out={self.out_dim}, grid={self.n_intervals}, k={self.k}, "
            f"base_fun={self.base_fun_name}"
        )
