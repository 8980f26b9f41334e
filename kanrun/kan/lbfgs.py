"""L-BFGS with a strong-Wolfe line search on one flat parameter vector.

Same iteration semantics as ``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` (which
pykan uses): up to ``max_iter`` iterations and ``max_eval`` evaluations per ``step``, the
curvature history kept across steps. The difference is cost, which matters for the small
models of science where every evaluation takes a millisecond or less:

- parameters are views of one flat tensor, so a trial point is one copy;
- gradients come from ``torch.autograd.grad`` straight into that layout (no accumulation);
- the optimizer's own arithmetic (directions, dot products, the line search) runs in
  float64 on the host; the curvature pairs live in preallocated buffers and the two-loop
  recursion is one compiled call (:mod:`kanrun.kan.hidden_c`; NumPy where it is not built);
- on the CPU the flat vector is read and written through a NumPy view (no tensor copies),
  and a closure may return its loss and gradient as a float and a NumPy array.

The iteration itself (:class:`LBFGSCore`) is a generator of the points to evaluate, so
:class:`~kanrun.kan.lbfgs_batched.BatchedLBFGS` runs the same code for many problems at
once, one batched evaluation serving them all (tests/test_ensemble.py checks it bit for
bit against solo fits).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import hidden_c


class FlatParameters:
    """Make ``params`` views of one flat vector; :meth:`release` gives them storage back."""

    def __init__(self, params):
        self.params = list(params)
        first = self.params[0]
        total = sum(p.numel() for p in self.params)
        self.x = torch.empty(total, dtype=first.dtype, device=first.device)
        offset = 0
        for p in self.params:
            n = p.numel()
            self.x[offset : offset + n].copy_(p.detach().reshape(-1))
            p.data = self.x[offset : offset + n].view_as(p)
            offset += n
        self.view = None  # NumPy view of x where the dtype and device allow one
        if self.x.device.type == "cpu" and self.x.dtype in (torch.float32, torch.float64):
            self.view = self.x.numpy()

    def get(self) -> np.ndarray:
        if self.view is not None:
            return self.view.astype(np.float64)
        return self.x.detach().cpu().numpy().astype(np.float64)

    def set(self, values: np.ndarray) -> None:
        if self.view is not None:
            self.view[...] = values  # bypasses torch's version counter (nothing keys on it)
        else:
            self.x.copy_(torch.from_numpy(values).to(self.x.dtype))

    def all_finite(self) -> bool:
        if self.view is not None:
            return bool(np.isfinite(self.view).all())
        return bool(torch.isfinite(self.x).all())

    def release(self) -> None:
        for p in self.params:
            p.data = p.data.clone()


def _cubic_min(x1, f1, g1, x2, f2, g2, lo, hi):
    """Minimizer of the cubic through two points with slopes, clipped to [lo, hi]."""
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2
    d2 = math.sqrt(disc)
    if x1 <= x2:
        denom = g2 - g1 + 2 * d2
        t = x2 - (x2 - x1) * (g2 + d2 - d1) / denom if denom != 0 else (lo + hi) / 2
    else:
        denom = g1 - g2 + 2 * d2
        t = x1 - (x1 - x2) * (g1 + d2 - d1) / denom if denom != 0 else (lo + hi) / 2
    if not math.isfinite(t):
        return (lo + hi) / 2
    return min(max(t, lo), hi)


class LBFGSCore:
    """The L-BFGS iteration on one flat float64 vector, without the parameters: the
    curvature history and :meth:`iterate`, a generator that yields each point to evaluate
    and receives its ``(loss, gradient)``. :class:`LBFGS` drives it with a closure; the
    batched optimizer (:mod:`kanrun.kan.lbfgs_batched`) drives one per member with a single
    batched evaluation, so a member takes exactly the steps of its solo fit."""

    def __init__(self, n, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, c1=1e-4, c2=0.9, max_ls=25):
        self.lr, self.max_iter = lr, int(max_iter)
        self.max_eval = int(max_eval) if max_eval is not None else int(max_iter * 5 / 4)
        self.tol_grad, self.tol_change = tolerance_grad, tolerance_change
        self.m, self.c1, self.c2, self.max_ls = int(history_size), c1, c2, int(max_ls)
        self.S = np.zeros((self.m, n))  # curvature pairs in rows 0..count-1, oldest first
        self.Y = np.zeros((self.m, n))
        self.rho = np.zeros(self.m)  # 1 / (y . s) of each pair
        self.count = 0
        self._compiled = hidden_c.lbfgs_direction()  # the two loops in C, where built
        self._alpha = np.zeros(self.m)
        self._ptrs = (self.S.ctypes.data, self.Y.ctypes.data, self.rho.ctypes.data,
                      self._alpha.ctypes.data)
        self.d = self.t = self.g_prev = self.loss_prev = None
        self.gamma = 1.0
        self.n_iter = 0

    # ----------------------------------------------------------------- pieces
    def _direction(self, g):
        """-H g by :func:`two_loop` on this optimizer's history."""
        c = self.count
        if c == 0:
            return -g
        if self._compiled is not None:
            g = np.ascontiguousarray(g, dtype=np.float64)
            d = np.empty_like(g)
            s_ptr, y_ptr, rho_ptr, alpha_ptr = self._ptrs
            self._compiled(c, g.shape[0], s_ptr, y_ptr, rho_ptr, self.gamma, g.ctypes.data,
                           d.ctypes.data, alpha_ptr)
            return d
        return two_loop(self.S[:c], self.Y[:c], self.rho[:c], self.gamma, g)

    def _push(self, s, y, ys):
        c = self.count
        if c == self.m:  # drop the oldest pair
            self.S[:-1], self.Y[:-1], self.rho[:-1] = self.S[1:], self.Y[1:], self.rho[1:]
            c -= 1
        self.S[c], self.Y[c] = s, y
        self.rho[c] = 1.0 / ys
        self.count = c + 1
        self.gamma = ys / float(y @ y)

    def _line_search(self, x0, t, d, f, g, gtd):
        """Strong-Wolfe search along d from x0 (a generator, as :meth:`iterate`); returns
        (loss, gradient, step length, evaluations) of the chosen point."""
        c1, c2, tol = self.c1, self.c2, self.tol_change
        d_norm = float(np.abs(d).max())
        f_new, g_new = yield x0 + t * d
        gtd_new = float(g_new @ d)
        evals = 1
        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        bracket = None
        while evals < self.max_ls:
            if f_new > f + c1 * t * gtd or (evals > 2 and f_new >= f_prev):
                bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
                break
            if abs(gtd_new) <= -c2 * gtd:
                return f_new, g_new, t, evals
            if gtd_new >= 0:
                bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
                break
            t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                t + 0.01 * (t - t_prev), t * 10)
            t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
            t = t_next
            f_new, g_new = yield x0 + t * d
            gtd_new = float(g_new @ d)
            evals += 1
        if bracket is None:
            bracket = [(0.0, f, g, gtd), (t, f_new, g_new, gtd_new)]
        # zoom: shrink the bracket around a point satisfying both Wolfe conditions
        insufficient = False
        low = 0 if bracket[0][1] <= bracket[1][1] else 1
        while evals < self.max_ls:
            (ta, fa, _, gtda), (tb, fb, _, gtdb) = bracket
            if abs(tb - ta) * d_norm < tol:
                break
            lo_b, hi_b = min(ta, tb), max(ta, tb)
            t = _cubic_min(ta, fa, gtda, tb, fb, gtdb, lo_b, hi_b)
            eps = 0.1 * (hi_b - lo_b)
            if min(hi_b - t, t - lo_b) < eps:
                if insufficient or t >= hi_b or t <= lo_b:
                    t = hi_b - eps if abs(t - hi_b) < abs(t - lo_b) else lo_b + eps
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new = yield x0 + t * d
            gtd_new = float(g_new @ d)
            evals += 1
            high = 1 - low
            if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
                bracket[high] = (t, f_new, g_new, gtd_new)
                low = 0 if bracket[0][1] <= bracket[1][1] else 1
            else:
                if abs(gtd_new) <= -c2 * gtd:
                    return f_new, g_new, t, evals
                if gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                    bracket[high] = bracket[low]
                bracket[low] = (t, f_new, g_new, gtd_new)
        t, f_best, g_best, _ = bracket[low]
        return f_best, g_best, t, evals

    # ----------------------------------------------------------------- step
    def iterate(self, x):
        """Up to ``max_iter`` iterations from ``x`` (float64): a generator that yields the
        points to evaluate (None: ``x`` itself) and is sent each point's (loss, gradient);
        it returns (loss, final point)."""
        loss, g = yield None
        evals = 1
        if float(np.abs(g).max()) <= self.tol_grad:
            return loss, x
        for it in range(self.max_iter):
            self.n_iter += 1
            if self.n_iter == 1:
                d = -g
                self.count = 0
                self.gamma = 1.0
            else:
                y = g - self.g_prev
                s = self.d * self.t
                ys = float(y @ s)
                if ys > 1e-10:
                    self._push(s, y, ys)
                d = self._direction(g)
            self.g_prev, self.loss_prev = g, loss
            t = (min(1.0, 1.0 / float(np.abs(g).sum())) if self.n_iter == 1 else 1.0) * self.lr
            gtd = float(g @ d)
            if gtd > -self.tol_change:
                break
            loss, g, t, ls_evals = yield from self._line_search(x, t, d, loss, g, gtd)
            x = x + t * d
            self.d, self.t = d, t
            evals += ls_evals
            if it == self.max_iter - 1 or evals >= self.max_eval:
                break
            if float(np.abs(g).max()) <= self.tol_grad:
                break
            if float(np.abs(d).max()) * t <= self.tol_change:
                break
            if abs(loss - self.loss_prev) < self.tol_change:
                break
        return loss, x


class LBFGS(LBFGSCore):
    """L-BFGS over ``params`` (tensors with ``requires_grad``); call :meth:`step`.

    The closure returns the loss (with its graph; it must not call ``backward`` itself), or
    a pair ``(loss, flat_gradient)`` already computed in the order of ``params``.
    """

    def __init__(self, params, **options):
        self.flat = FlatParameters(params)
        super().__init__(self.flat.x.numel(), **options)

    def close(self):
        self.flat.release()

    def _evaluate(self, closure):
        params = self.flat.params
        with torch.enable_grad():
            out = closure()
            if isinstance(out, tuple):  # (loss, flat gradient) computed by the closure
                loss, flat = out
                if isinstance(flat, np.ndarray):
                    return float(loss), flat.astype(np.float64, copy=False)
            else:
                grads = torch.autograd.grad(out, params, allow_unused=True)
                loss = out
                flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                  for g, p in zip(grads, params, strict=True)])
        return float(loss.detach()), flat.detach().cpu().numpy().astype(np.float64)

    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations from the current parameters; leaves them at
        the last accepted point and returns its loss."""
        run = self.iterate(self.flat.get())
        point = next(run)
        try:
            while True:
                if point is not None:
                    self.flat.set(point)
                point = run.send(self._evaluate(closure))
        except StopIteration as done:
            loss, x = done.value
        if point is not None:  # the search may end on an earlier point than its last trial
            self.flat.set(x)
        return loss


def two_loop(S, Y, rho, gamma: float, g):
    """-H g: the L-BFGS two-loop recursion, its dot products taken from S Y products.

    ``S``, ``Y`` (c, n) hold the last c pairs (oldest first), ``rho[i] = 1 / (y_i . s_i)``.
    With ``sy[i][j] = s_i . y_j`` the first loop's ``s_i . q`` and the second's ``y_i . r``
    follow from scalars, so the vectors are touched by four products only. This is the
    fallback of the compiled recursion (``hidden_c.lbfgs_direction``, the textbook loops);
    the solo and the batched optimizer both take the same one, so their iterates agree to
    the last bit.
    """
    rho = np.asarray(rho, dtype=np.float64).tolist()
    c = len(rho)
    sy = (S @ Y.T).tolist()
    sq = (S @ g).tolist()
    alpha = [0.0] * c
    for i in range(c - 1, -1, -1):  # q = -g - sum_{j>i} alpha_j y_j
        row, t = sy[i], -sq[i]
        for j in range(i + 1, c):
            t -= alpha[j] * row[j]
        alpha[i] = t * rho[i]
    q = np.asarray(alpha) @ Y
    q += g
    q *= -1.0
    yq = (Y @ q).tolist()
    step = []
    for i in range(c):  # r = gamma q + sum_{j<i} (alpha_j - beta_j) s_j
        t = gamma * yq[i]
        for j in range(i):
            t += step[j] * sy[j][i]
        step.append(alpha[i] - t * rho[i])
    q *= gamma
    q += np.asarray(step) @ S
    return q
