"""B-spline maths as pure functions: knot vectors, the basis, and least-squares fits.

Shapes: ``x`` is (batch, in); a knot vector ``grid`` is (in, G + 2k + 1) (G intervals inside
the grid range plus k extension knots on each side); a basis is (batch, in, G + k); spline
coefficients are (in, out, G + k).

The basis is computed locally: for each input only the k + 1 B-splines that are non-zero at
that point are evaluated (de Boor's triangular scheme on (batch, in) tensors), then scattered
into the dense basis. Nothing is recursed over (in, out) pairs and no tensor wider than the
basis is formed. The derivative with respect to ``x`` is computed in the same pass and used by
a custom autograd function, so backward never replays the recursion.
"""

from __future__ import annotations

import torch

__all__ = [
    "uniform_grid",
    "extend_grid",
    "interior",
    "bspline_basis",
    "basis_tables",
    "local_basis",
    "dense_basis",
    "basis_with_derivative",
    "solve_least_squares",
    "curve_to_coef",
    "refit_coef",
    "sample_points",
]


def uniform_grid(in_dim: int, num: int, grid_range, dtype=None, device=None) -> torch.Tensor:
    """Interior knots: ``num`` equal intervals over ``grid_range`` for each input, (in, num+1)."""
    lo, hi = float(grid_range[0]), float(grid_range[1])
    knots = torch.linspace(lo, hi, num + 1, dtype=dtype, device=device)
    return knots.unsqueeze(0).expand(in_dim, num + 1).contiguous()


def extend_grid(knots: torch.Tensor, k: int) -> torch.Tensor:
    """Add ``k`` knots on each side at the mean spacing: (in, G+1) -> (in, G+2k+1)."""
    if k == 0:
        return knots
    h = (knots[:, -1:] - knots[:, :1]) / (knots.shape[1] - 1)
    steps = torch.arange(1, k + 1, dtype=knots.dtype, device=knots.device)
    left = knots[:, :1] - h * steps.flip(0)
    right = knots[:, -1:] + h * steps
    return torch.cat([left, knots, right], dim=1)


def interior(grid: torch.Tensor, k: int) -> torch.Tensor:
    """The knots inside the grid range: (in, G+2k+1) -> (in, G+1)."""
    return grid[:, k : grid.shape[1] - k] if k > 0 else grid


def _local_basis(x: torch.Tensor, grid: torch.Tensor, k: int, with_derivative: bool):
    """The k+1 non-zero B-splines of order k at each x, their first indices and derivatives.

    Returns ``(values, first, deriv)``: values (batch, in, k+1) hold B_{first+r}(x) for
    r = 0..k; ``first`` (batch, in) may be negative or past the last basis function, in which
    case the out-of-range entries are zero. Points outside the knot vector get all zeros.
    """
    n_knots = grid.shape[1]
    # idx: the knot interval holding x, t[idx] <= x < t[idx+1]
    idx = torch.searchsorted(grid, x.t().contiguous(), right=True).t() - 1
    inside = (idx >= 0) & (idx <= n_knots - 2)
    idx = idx.clamp(0, n_knots - 2)
    # pad the knot vector so that t[idx-k .. idx+k+1] always exists
    if k > 0:
        h = (grid[:, -1:] - grid[:, :1]) / (n_knots - 1)
        steps = torch.arange(1, k + 2, dtype=grid.dtype, device=grid.device)
        padded = torch.cat([grid[:, :1] - h * steps[:k].flip(0), grid, grid[:, -1:] + h * steps], 1)
    else:
        padded = torch.cat([grid, grid[:, -1:] + 1], 1)
    # knots[..., m] = t[idx - k + m] for m = 0 .. 2k+1 (padded offset k)
    gather_idx = idx.t().unsqueeze(-1) + torch.arange(2 * k + 2, device=x.device)
    knots = torch.gather(padded.unsqueeze(1).expand(-1, x.shape[0], -1), 2, gather_idx)
    knots = knots.permute(1, 0, 2)  # (batch, in, 2k+2)
    left = [None] + [x - knots[..., k + 1 - j] for j in range(1, k + 1)]  # x - t[idx+1-j]
    right = [None] + [knots[..., k + j] - x for j in range(1, k + 1)]  # t[idx+j] - x
    values = [torch.ones_like(x)]
    prev = values
    for j in range(1, k + 1):
        prev = values
        saved = torch.zeros_like(x)
        nxt = []
        for r in range(j):
            temp = prev[r] / (right[r + 1] + left[j - r])
            nxt.append(saved + right[r + 1] * temp)
            saved = left[j - r] * temp
        nxt.append(saved)
        values = nxt
    mask = inside.unsqueeze(-1).to(x.dtype)
    vals = torch.stack(values, dim=-1) * mask
    deriv = None
    if with_derivative:
        if k == 0:
            deriv = torch.zeros_like(vals)
        else:
            # B'_{i,k} = k (B_{i,k-1} / (t_{i+k} - t_i) - B_{i+1,k-1} / (t_{i+k+1} - t_{i+1}))
            # for i = idx-k+r; prev[s] holds B_{idx-k+1+s, k-1}
            low = torch.stack(prev, dim=-1)
            zero = torch.zeros_like(x).unsqueeze(-1)
            lower = torch.cat([zero, low, zero], dim=-1)  # (batch, in, k+2)
            span = knots[..., k:] - knots[..., : k + 2]  # t[idx+m] - t[idx-k+m], m = 0..k+1
            ratio = torch.where(span > 0, lower / span.clamp_min(torch.finfo(span.dtype).tiny), torch.zeros_like(span))
            deriv = k * (ratio[..., :-1] - ratio[..., 1:]) * mask
    return vals, idx - k, deriv


def basis_tables(grid: torch.Tensor, k: int):
    """Per-interval polynomial tables that make the basis a few gathers and one matmul.

    On knot interval q of input i, the k+1 non-zero B-splines are polynomials in
    u = (x - t_q) / (t_{q+1} - t_q). Row ``s`` of the tables (s = searchsorted(t, x, right))
    describes interval q = s - 1; rows 0 and n_knots stand for points left of or right of all
    knots (zero polynomials). Returns ``(table, cols, offsets)``:
    table (in*(n_knots+1), 2 + (2k+1)(k+1)) = [t_q, 1/h_q, C_0..C_k, D_0..D_{k-1}] where C_p
    (k+1 values, one per local basis function r) is the coefficient of u^p and D_p = (p+1)
    C_{p+1} that of the derivative in u; cols (in*(n_knots+1), k+1)
    the basis index of each local polynomial (clamped; its P row is zero when out of range),
    offsets (in,) the first row of each input.
    """
    in_dim, n_knots = grid.shape
    n_basis = n_knots - k - 1
    g = grid.to(torch.float64)
    n_int = n_knots - 1
    width = g[:, 1:] - g[:, :-1]  # (in, n_int)
    nodes = (torch.arange(k + 1, dtype=torch.float64, device=g.device) + 0.5) / (k + 1)
    pts = g[:, :-1].unsqueeze(-1) + width.unsqueeze(-1) * nodes  # (in, n_int, k+1)
    vals, first, _ = _local_basis(pts.reshape(in_dim, -1).t(), g, k, with_derivative=False)
    vals = vals.reshape(n_int, k + 1, in_dim, k + 1).permute(2, 0, 3, 1)  # (in, q, r, sample)
    vander = nodes.unsqueeze(-1) ** torch.arange(k + 1, dtype=torch.float64, device=g.device)
    # vals[..., r, s] = sum_p P[r, p] * nodes[s]^p  ->  P = vals @ inv(vander)^T
    poly = vals @ torch.linalg.inv(vander).t()  # (in, q, r, p)
    q = torch.arange(n_int, device=g.device)
    basis_idx = q.view(1, -1, 1) - k + torch.arange(k + 1, device=g.device).view(1, 1, -1)
    valid = (basis_idx >= 0) & (basis_idx < n_basis) & (width > 0).unsqueeze(-1)
    poly = poly * valid.unsqueeze(-1)
    inv_h = torch.where(width > 0, 1.0 / width.clamp_min(1e-300), torch.zeros_like(width))
    by_power = poly.transpose(-1, -2)  # (in, q, p, r)
    ks = torch.arange(1, k + 1, dtype=torch.float64, device=g.device).view(1, 1, -1, 1)
    deriv = by_power[:, :, 1:] * ks  # (in, q, k, r)
    body = torch.cat([g[:, :-1].unsqueeze(-1), inv_h.unsqueeze(-1), by_power.flatten(2),
                      deriv.flatten(2)], dim=-1)
    edge = torch.zeros(in_dim, 1, body.shape[-1], dtype=torch.float64, device=g.device)
    table = torch.cat([edge, body, edge], dim=1).reshape(in_dim * (n_knots + 1), -1)
    cols = basis_idx.clamp(0, n_basis - 1).expand(in_dim, -1, -1)
    zero_cols = torch.zeros(in_dim, 1, k + 1, dtype=torch.long, device=g.device)
    cols = torch.cat([zero_cols, cols, zero_cols], dim=1).reshape(in_dim * (n_knots + 1), k + 1)
    offsets = torch.arange(in_dim, device=g.device) * (n_knots + 1)
    del first
    return table.to(grid.dtype), cols.contiguous(), offsets


def local_basis(x: torch.Tensor, grid: torch.Tensor, tables, k: int, with_derivative: bool):
    """Values (batch, in, k+1), basis columns (batch, in, k+1) and optional d/dx, from tables.

    The k+1 local polynomials are evaluated by Horner's rule on (batch*in, k+1) slabs.
    """
    table, cols, offsets = tables
    s = torch.searchsorted(grid, x.t().contiguous(), right=True)
    rows = (s + offsets.unsqueeze(1)).t().reshape(-1)
    sel = table.index_select(0, rows)  # (batch*in, width)
    col = cols.index_select(0, rows).view(*x.shape, k + 1)
    inv_h = sel[:, 1:2]
    u = (x.reshape(-1, 1) - sel[:, 0:1]) * inv_h
    w = k + 1
    vals = sel[:, 2 + k * w : 2 + (k + 1) * w]
    for p in range(k - 1, -1, -1):
        vals = torch.addcmul(sel[:, 2 + p * w : 2 + (p + 1) * w], vals, u)
    deriv = None
    if with_derivative:
        if k == 0:
            deriv = torch.zeros(*x.shape, w, dtype=x.dtype, device=x.device)
        else:
            base = 2 + (k + 1) * w
            deriv = sel[:, base + (k - 1) * w : base + k * w]
            for p in range(k - 2, -1, -1):
                deriv = torch.addcmul(sel[:, base + p * w : base + (p + 1) * w], deriv, u)
            deriv = (deriv * inv_h).view(*x.shape, w)
    return vals.view(*x.shape, w), col, deriv


def dense_basis(vals: torch.Tensor, cols: torch.Tensor, n_basis: int) -> torch.Tensor:
    """Scatter local values (batch, in, k+1) into the dense basis (batch, in, n_basis)."""
    out = vals.new_zeros(*vals.shape[:-1], n_basis)
    return out.scatter_add_(-1, cols, vals)


class _Basis(torch.autograd.Function):
    """Dense B-spline basis with an analytic derivative in backward."""

    @staticmethod
    def forward(ctx, x, grid, tables, k):
        vals, cols, deriv = local_basis(x, grid, tables, k, with_derivative=x.requires_grad)
        if x.requires_grad:
            ctx.save_for_backward(cols, deriv)
        return dense_basis(vals, cols, grid.shape[1] - k - 1)

    @staticmethod
    def backward(ctx, grad_basis):
        cols, deriv = ctx.saved_tensors
        return (torch.gather(grad_basis, -1, cols) * deriv).sum(-1), None, None, None


def bspline_basis(x: torch.Tensor, grid: torch.Tensor, k: int, tables=None) -> torch.Tensor:
    """B-spline basis of order ``k`` on per-input knot vectors: (batch, in) -> (batch, in, G+k).

    Differentiable in ``x`` (the knots are constants). ``tables`` from :func:`basis_tables`
    may be passed to skip rebuilding them.
    """
    if tables is None:
        tables = basis_tables(grid, k)
    return _Basis.apply(x, grid, tables, k)


def basis_with_derivative(x: torch.Tensor, grid: torch.Tensor, k: int):
    """The dense basis and its derivative in x, both (batch, in, G+k); not differentiable."""
    with torch.no_grad():
        vals, cols, deriv = local_basis(x, grid, basis_tables(grid, k), k, with_derivative=True)
        n_basis = grid.shape[1] - k - 1
        return dense_basis(vals, cols, n_basis), dense_basis(deriv, cols, n_basis)


def solve_least_squares(gram: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """Solve (gram + ridge * mean(diag) * I) c = rhs in float64 with a Cholesky factorization.

    ``gram`` is (in, n, n) and ``rhs`` (in, n, out). Deterministic; the relative ridge keeps
    the system positive definite when some basis functions see little or no data.
    """
    g = gram.to(torch.float64)
    r = rhs.to(torch.float64)
    n = g.shape[-1]
    scale = torch.diagonal(g, dim1=-2, dim2=-1).mean(-1).clamp_min(1e-300)
    eye = torch.eye(n, dtype=g.dtype, device=g.device)
    reg = ridge * scale[:, None, None] * eye + 1e-300 * eye
    chol, info = torch.linalg.cholesky_ex(g + reg)
    if bool((info != 0).any()):
        # fall back to a stronger ridge where the factorization failed
        chol, info = torch.linalg.cholesky_ex(g + reg * 1e4 + 1e-12 * eye)
    return torch.cholesky_solve(r, chol)


def curve_to_coef(
    x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, k: int, ridge: float = 1e-10
) -> torch.Tensor:
    """Least-squares spline coefficients for samples ``y`` (m, in, out) at ``x`` (m, in).

    Returns (in, out, G+k) in ``y``'s dtype.
    """
    with torch.no_grad():
        basis = bspline_basis(x, grid, k).to(torch.float64)  # (m, in, nb)
        gram = torch.einsum("mip,miq->ipq", basis, basis)
        rhs = torch.einsum("mip,mio->ipo", basis, y.to(torch.float64))
        coef = solve_least_squares(gram, rhs, ridge)  # (in, nb, out)
    return coef.permute(0, 2, 1).to(y.dtype).contiguous()


def refit_coef(
    x: torch.Tensor,
    old_grid: torch.Tensor,
    old_coef: torch.Tensor,
    new_grid: torch.Tensor,
    k: int,
    ridge: float = 1e-10,
) -> torch.Tensor:
    """Coefficients on ``new_grid`` whose spline best matches the old spline at points ``x``.

    Works through the basis overlap (in, new, old), never forming per-edge values.
    """
    with torch.no_grad():
        a = bspline_basis(x, new_grid, k).to(torch.float64)
        b = bspline_basis(x, old_grid, k).to(torch.float64)
        gram = torch.einsum("mip,miq->ipq", a, a)
        cross = torch.einsum("mip,miq->ipq", a, b)
        rhs = cross @ old_coef.to(torch.float64).permute(0, 2, 1)  # (in, new, out)
        coef = solve_least_squares(gram, rhs, ridge)
    return coef.permute(0, 2, 1).to(old_coef.dtype).contiguous()


def sample_points(knots: torch.Tensor, per_interval: int) -> torch.Tensor:
    """Points covering each interval of ``knots`` (in, G+1): (G*per_interval + 1, in).

    ``per_interval`` points per interval (the left end included) plus the last knot, so every
    basis function is seen by enough points for a well-posed least-squares fit.
    """
    frac = torch.arange(per_interval, dtype=knots.dtype, device=knots.device) / per_interval
    left = knots[:, :-1].unsqueeze(-1)
    width = (knots[:, 1:] - knots[:, :-1]).unsqueeze(-1)
    pts = (left + width * frac).reshape(knots.shape[0], -1)
    pts = torch.cat([pts, knots[:, -1:]], dim=1)
    return pts.t().contiguous()
