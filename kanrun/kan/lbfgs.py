"""L-BFGS with a strong-Wolfe line search on one flat parameter vector.

Same iteration semantics as ``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` (which
pykan uses): up to ``max_iter`` iterations and ``max_eval`` evaluations per ``step``, history
kept across steps. The difference is cost: parameters live as views of one flat tensor, so
moving along a direction is one ``add`` and reading the gradient is free, and the inverse
Hessian product uses the compact form (a few small matrix products) instead of the two-loop
recursion over the history.
"""

from __future__ import annotations

import math

import torch


class FlatParameters:
    """Make ``params`` views of one flat vector (and their ``.grad`` views of another).

    Use as a context manager: on exit every parameter gets its own storage back.
    """

    def __init__(self, params):
        self.params = list(params)
        first = self.params[0]
        total = sum(p.numel() for p in self.params)
        self.x = torch.empty(total, dtype=first.dtype, device=first.device)
        self.g = torch.zeros(total, dtype=first.dtype, device=first.device)
        offset = 0
        for p in self.params:
            n = p.numel()
            self.x[offset : offset + n].copy_(p.detach().reshape(-1))
            p.data = self.x[offset : offset + n].view_as(p)
            p.grad = self.g[offset : offset + n].view_as(p)
            offset += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.params:
            p.data = p.data.clone()
            p.grad = None
        return False


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


class LBFGS:
    """L-BFGS over ``params`` (tensors with ``requires_grad``); call :meth:`step`."""

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, c1=1e-4, c2=0.9, max_ls=25):
        self.flat = FlatParameters(params)
        self.lr, self.max_iter = lr, int(max_iter)
        self.max_eval = int(max_eval) if max_eval is not None else int(max_iter * 5 / 4)
        self.tol_grad, self.tol_change = tolerance_grad, tolerance_change
        self.m, self.c1, self.c2, self.max_ls = int(history_size), c1, c2, int(max_ls)
        self.S = self.Y = None  # (m, n) histories, oldest first
        self.d = self.t = self.g_prev = self.loss_prev = None
        self.gamma = 1.0
        self.n_iter = 0

    def close(self):
        self.flat.__exit__(None, None, None)

    # ----------------------------------------------------------------- pieces
    def _evaluate(self, closure):
        self.flat.g.zero_()
        with torch.enable_grad():
            loss = closure()
        return float(loss.detach()), self.flat.g.clone()

    def _direction(self, g):
        """-H g with the compact L-BFGS representation."""
        if self.S is None:
            return -g
        S, Y, gamma = self.S, self.Y, self.gamma
        m = S.shape[0]
        W = torch.cat([S, Y])
        ab = W @ g
        a, b = ab[:m], ab[m:]
        gram = W @ W.t()
        sty = gram[:m, m:]
        yty = gram[m:, m:]
        R = torch.triu(sty)
        D = torch.diagonal(sty)
        p = torch.linalg.solve_triangular(R, a.unsqueeze(1), upper=True).squeeze(1)
        rhs = D * p + gamma * (yty @ p) - gamma * b
        u = torch.linalg.solve_triangular(R.t(), rhs.unsqueeze(1), upper=False).squeeze(1)
        hg = gamma * g + W.t() @ torch.cat([u, -gamma * p])
        return -hg

    def _push(self, s, y, ys):
        s, y = s.unsqueeze(0), y.unsqueeze(0)
        if self.S is None:
            self.S, self.Y = s, y
        else:
            self.S = torch.cat([self.S, s])[-self.m :]
            self.Y = torch.cat([self.Y, y])[-self.m :]
        self.gamma = ys / float(y @ y.t())

    def _phi(self, closure, x0, t, d):
        torch.add(x0, d, alpha=t, out=self.flat.x)
        loss, g = self._evaluate(closure)
        return loss, g, float(g @ d)

    def _line_search(self, closure, x0, t, d, f, g, gtd):
        """Strong-Wolfe search along d from x0; leaves the parameters at the chosen point."""
        c1, c2, tol = self.c1, self.c2, self.tol_change
        d_norm = float(d.abs().max())
        f_new, g_new, gtd_new = self._phi(closure, x0, t, d)
        evals = 1
        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        bracket = None
        done = False
        while evals < self.max_ls:
            if f_new > f + c1 * t * gtd or (evals > 2 and f_new >= f_prev):
                bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
                break
            if abs(gtd_new) <= -c2 * gtd:
                done = True
                break
            if gtd_new >= 0:
                bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
                break
            lo, hi = t + 0.01 * (t - t_prev), t * 10
            t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, lo, hi)
            t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
            t = t_next
            f_new, g_new, gtd_new = self._phi(closure, x0, t, d)
            evals += 1
        if not done and bracket is None:
            bracket = [(0.0, f, g, gtd), (t, f_new, g_new, gtd_new)]
        if done:
            return f_new, g_new, t, evals
        # zoom phase
        insufficient = False
        low_i = 0 if bracket[0][1] <= bracket[1][1] else 1
        while evals < self.max_ls:
            (ta, fa, ga, gtda), (tb, fb, gb, gtdb) = bracket
            if abs(tb - ta) * d_norm < tol:
                break
            t = _cubic_min(ta, fa, gtda, tb, fb, gtdb, min(ta, tb), max(ta, tb))
            lo_b, hi_b = min(ta, tb), max(ta, tb)
            eps = 0.1 * (hi_b - lo_b)
            if min(hi_b - t, t - lo_b) < eps:
                if insufficient or t >= hi_b or t <= lo_b:
                    t = hi_b - eps if abs(t - hi_b) < abs(t - lo_b) else lo_b + eps
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new, gtd_new = self._phi(closure, x0, t, d)
            evals += 1
            high_i = 1 - low_i
            t_low, f_low, _, _ = bracket[low_i]
            if f_new > f + c1 * t * gtd or f_new >= f_low:
                bracket[high_i] = (t, f_new, g_new, gtd_new)
                low_i = 0 if bracket[0][1] <= bracket[1][1] else 1
            else:
                if abs(gtd_new) <= -c2 * gtd:
                    return f_new, g_new, t, evals
                if gtd_new * (bracket[high_i][0] - t_low) >= 0:
                    bracket[high_i] = bracket[low_i]
                bracket[low_i] = (t, f_new, g_new, gtd_new)
        (ta, fa, ga, _), (tb, fb, gb, _) = bracket
        t, f_best, g_best = (ta, fa, ga) if fa <= fb else (tb, fb, gb)
        torch.add(x0, d, alpha=t, out=self.flat.x)
        return f_best, g_best, t, evals

    # ----------------------------------------------------------------- step
    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` returns the loss after backward.

        The closure must not reset gradients itself (they are zeroed here).
        """
        loss, g = self._evaluate(closure)
        evals = 1
        if float(g.abs().max()) <= self.tol_grad:
            return loss
        for it in range(self.max_iter):
            self.n_iter += 1
            if self.n_iter == 1:
                d = -g
                self.S = self.Y = None
                self.gamma = 1.0
            else:
                y = g - self.g_prev
                s = self.d * self.t
                ys = float(y @ s)
                if ys > 1e-10:
                    self._push(s, y, ys)
                d = self._direction(g)
            self.g_prev, self.loss_prev = g, loss
            if self.n_iter == 1:
                t = min(1.0, 1.0 / float(g.abs().sum())) * self.lr
            else:
                t = self.lr
            gtd = float(g @ d)
            if gtd > -self.tol_change:
                break
            x0 = self.flat.x.clone()
            loss, g, t, ls_evals = self._line_search(closure, x0, t, d, loss, g, gtd)
            self.d, self.t = d, t
            evals += ls_evals
            if it == self.max_iter - 1 or evals >= self.max_eval:
                break
            if float(g.abs().max()) <= self.tol_grad:
                break
            if float(d.abs().max()) * t <= self.tol_change:
                break
            if abs(loss - self.loss_prev) < self.tol_change:
                break
        return loss
