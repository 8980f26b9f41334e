"""L-BFGS for many independent problems at once: one objective call evaluates them all.

Each member follows the iteration of :class:`kanrun.kan.lbfgs.LBFGS` (strong-Wolfe line
search, ``max_iter`` iterations and ``max_eval`` evaluations per step, curvature history
kept across steps) and takes the same decisions from the same numbers; only the arithmetic
is vectorized over members. The solo optimizer is a sequence of statements between
evaluations; here each member sits in a phase (awaiting the step's first evaluation, a
bracketing trial, a zoom trial, or done) and after every batched evaluation the members are
moved, phase by phase and with masks, to their next trial point. Members whose step ended
(converged, out of evaluations) keep their parameters while the others go on.

Parameters are one float64 array ``x`` of shape (members, n); the objective maps such an
array to ``(losses (members,), gradients (members, n))``. Members with fewer parameters pad
with zeros (their gradient entries stay zero, so nothing depends on the padding).
"""

from __future__ import annotations

import numpy as np

from .lbfgs import two_loop

_START, _BRACKET, _ZOOM, _DONE = 0, 1, 2, 3


def cubic_min(x1, f1, g1, x2, f2, g2, lo, hi):
    """Vectorized :func:`kanrun.kan.lbfgs._cubic_min` (same branches, elementwise)."""
    with np.errstate(all="ignore"):
        mid = (lo + hi) / 2
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        disc = d1 * d1 - g1 * g2
        d2 = np.sqrt(np.maximum(disc, 0.0))
        first = x1 <= x2
        denom = np.where(first, g2 - g1 + 2 * d2, g1 - g2 + 2 * d2)
        t = np.where(first, x2 - (x2 - x1) * (g2 + d2 - d1) / denom,
                     x1 - (x1 - x2) * (g1 + d2 - d1) / denom)
        t = np.where((disc < 0) | (denom == 0) | ~np.isfinite(t), mid, t)
    return np.minimum(np.maximum(t, lo), hi)


def _dot(a, b):
    """Row-wise dot products, each the BLAS dot of the solo optimizer (same bits)."""
    return np.array([float(x @ y) for x, y in zip(a, b, strict=True)])


class BatchedLBFGS:
    """L-BFGS over the rows of ``x0`` (members, n); call :meth:`step` with the objective."""

    def __init__(self, x0, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, c1=1e-4, c2=0.9, max_ls=25):
        self.x = np.array(x0, dtype=np.float64)
        n_members, n = self.x.shape
        self.lr, self.max_iter = float(lr), int(max_iter)
        self.max_eval = int(max_eval) if max_eval is not None else int(max_iter * 5 / 4)
        self.tol_grad, self.tol_change = tolerance_grad, tolerance_change
        self.m, self.c1, self.c2, self.max_ls = int(history_size), c1, c2, int(max_ls)
        shape = (n_members, n)
        self.S = np.zeros((n_members, self.m, n))  # rows 0..count-1 per member, oldest first
        self.Y = np.zeros((n_members, self.m, n))
        self.rho = np.zeros((n_members, self.m))
        self.count = np.zeros(n_members, dtype=np.int64)
        self.gamma = np.ones(n_members)
        self.n_iter = np.zeros(n_members, dtype=np.int64)
        self.d, self.d_new, self.g_prev = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        self.t = np.zeros(n_members)
        self.loss_prev = np.zeros(n_members)
        # per step / line search state
        self.f, self.g = np.zeros(n_members), np.zeros(shape)
        self.phase = np.full(n_members, _DONE)
        self.it = np.zeros(n_members, dtype=np.int64)
        self.evals = np.zeros(n_members, dtype=np.int64)
        self.ls_evals = np.zeros(n_members, dtype=np.int64)
        self.t_try = np.zeros(n_members)
        self.gtd0 = np.zeros(n_members)
        self.d_norm = np.zeros(n_members)
        # previous bracketing point and the bracket [2 ends]
        self.tp, self.fp, self.gtdp = np.zeros(n_members), np.zeros(n_members), np.zeros(
            n_members)
        self.gp = np.zeros(shape)
        self.bt, self.bf, self.bgtd = (np.zeros((n_members, 2)) for _ in range(3))
        self.bg = np.zeros((n_members, 2, n))
        self.low = np.zeros(n_members, dtype=np.int64)
        self.insufficient = np.zeros(n_members, dtype=bool)
        self.last_loss = np.full(n_members, np.nan)
        self.last_aux = None

    # ----------------------------------------------------------------- step driver
    def step(self, objective, active=None, x=None):
        """Up to ``max_iter`` iterations for each member in ``active`` (default: all), from
        ``x`` (default: where the last step ended).

        ``objective(x, waiting)`` returns (losses, gradients) or (losses, gradients, aux)
        for the members in the mask ``waiting`` (the others' rows are ignored), with aux
        an array of rows per member, kept from each member's last evaluation in
        ``last_aux``.
        Returns the loss of each member's last evaluation in this step (NaN for members
        that did not take part)."""
        n_members = self.x.shape[0]
        if x is not None:
            self.x[...] = x
        active = np.ones(n_members, dtype=bool) if active is None else np.asarray(active)
        self.phase[:] = np.where(active, _START, _DONE)
        self.last_loss[:] = np.nan
        while True:
            waiting = self.phase != _DONE
            if not waiting.any():
                break
            trial = self.x.copy()
            ls = np.flatnonzero((self.phase == _BRACKET) | (self.phase == _ZOOM))
            trial[ls] += self.t_try[ls, None] * self.d_new[ls]
            out = objective(trial, waiting)
            f_e, g_e = out[0], out[1]
            f_e = np.asarray(f_e, dtype=np.float64)
            g_e = np.asarray(g_e, dtype=np.float64)
            idx = np.flatnonzero(waiting)
            self.last_loss[idx] = f_e[idx]
            if len(out) > 2:  # something the caller wants from each member's last evaluation
                aux = np.asarray(out[2], dtype=np.float64)
                if self.last_aux is None or self.last_aux.shape != aux.shape:
                    self.last_aux = np.zeros_like(aux)
                self.last_aux[idx] = aux[idx]
            phases = self.phase.copy()
            for code, handler in ((_START, self._on_start), (_BRACKET, self._on_bracket),
                                  (_ZOOM, self._on_zoom)):
                sel = np.flatnonzero(phases == code)
                if sel.size:
                    handler(sel, f_e[sel], g_e[sel])
        return self.last_loss.copy()

    # ----------------------------------------------------------------- transitions
    def _on_start(self, idx, f_e, g_e):
        self.f[idx], self.g[idx] = f_e, g_e
        self.evals[idx] = 1
        self.it[idx] = 0
        flat = np.abs(g_e).max(1) <= self.tol_grad
        self.phase[idx[flat]] = _DONE
        self._begin_iteration(idx[~flat])

    def _begin_iteration(self, idx):
        if not idx.size:
            return
        self.n_iter[idx] += 1
        first = self.n_iter[idx] == 1
        g = self.g[idx]
        d = np.empty_like(g)
        i1, i2 = idx[first], idx[~first]
        if i1.size:
            d[first] = -g[first]
            self.count[i1] = 0
            self.rho[i1] = 0.0
            self.S[i1], self.Y[i1] = 0.0, 0.0
            self.gamma[i1] = 1.0
        if i2.size:
            y = self.g[i2] - self.g_prev[i2]
            s = self.d[i2] * self.t[i2, None]
            ys = _dot(y, s)
            ok = ys > 1e-10
            if ok.any():
                self._push(i2[ok], s[ok], y[ok], ys[ok])
            d[~first] = self._direction(i2, self.g[i2])
        self.g_prev[idx], self.loss_prev[idx] = g, self.f[idx]
        with np.errstate(divide="ignore"):
            t_first = np.minimum(1.0, 1.0 / np.array([float(np.abs(r).sum()) for r in g]))
        t = np.where(first, t_first, 1.0) * self.lr
        gtd = _dot(g, d)
        self.d_new[idx] = d  # the search direction; kept in d once the search is done
        stop = gtd > -self.tol_change
        self.phase[idx[stop]] = _DONE
        go = ~stop
        j = idx[go]
        if not j.size:
            return
        self.gtd0[j] = gtd[go]
        self.d_norm[j] = np.abs(d[go]).max(1)
        self.t_try[j] = t[go]
        self.ls_evals[j] = 0
        self.tp[j], self.fp[j], self.gtdp[j] = 0.0, self.f[j], gtd[go]
        self.gp[j] = g[go]
        self.phase[j] = _BRACKET

    def _on_bracket(self, idx, f_n, g_n):
        t = self.t_try[idx]
        gtd_n = _dot(g_n, self.d_new[idx])
        self.ls_evals[idx] += 1
        n_ev = self.ls_evals[idx]
        f0, gtd0 = self.f[idx], self.gtd0[idx]
        more = n_ev < self.max_ls
        armijo = (f_n > f0 + self.c1 * t * gtd0) | ((n_ev > 2) & (f_n >= self.fp[idx]))
        wolfe = np.abs(gtd_n) <= -self.c2 * gtd0
        to_zoom = more & (armijo | (~wolfe & (gtd_n >= 0)))
        accept = more & ~armijo & wolfe
        extend = more & ~armijo & ~wolfe & (gtd_n < 0)
        exhausted = ~more
        # bracket [previous point, new point] or, out of evaluations, [start, new point]
        for mask, from_start in ((to_zoom, False), (exhausted, True)):
            j = idx[mask]
            if not j.size:
                continue
            if from_start:
                self.bt[j, 0], self.bf[j, 0], self.bgtd[j, 0] = 0.0, self.f[j], self.gtd0[j]
                self.bg[j, 0] = self.g[j]
            else:
                self.bt[j, 0], self.bf[j, 0], self.bgtd[j, 0] = self.tp[j], self.fp[j], \
                    self.gtdp[j]
                self.bg[j, 0] = self.gp[j]
            self.bt[j, 1], self.bf[j, 1], self.bgtd[j, 1] = t[mask], f_n[mask], gtd_n[mask]
            self.bg[j, 1] = g_n[mask]
        zoom = idx[to_zoom | exhausted]
        if zoom.size:
            self.low[zoom] = np.where(self.bf[zoom, 0] <= self.bf[zoom, 1], 0, 1)
            self.insufficient[zoom] = False
        j = idx[extend]
        if j.size:
            tj = t[extend]
            t_next = cubic_min(self.tp[j], self.fp[j], self.gtdp[j], tj, f_n[extend],
                               gtd_n[extend], tj + 0.01 * (tj - self.tp[j]), tj * 10)
            self.tp[j], self.fp[j], self.gtdp[j] = tj, f_n[extend], gtd_n[extend]
            self.gp[j] = g_n[extend]
            self.t_try[j] = t_next
        if accept.any():
            self._search_done(idx[accept], t[accept], f_n[accept], g_n[accept])
        if zoom.size:
            self._zoom_trial(zoom)

    def _zoom_trial(self, idx):
        """The top of the zoom loop: stop, or choose the next trial point."""
        ta, tb = self.bt[idx, 0], self.bt[idx, 1]
        stop = (self.ls_evals[idx] >= self.max_ls) | (
            np.abs(tb - ta) * self.d_norm[idx] < self.tol_change)
        if stop.any():
            j = idx[stop]
            low = self.low[j]
            self._search_done(j, self.bt[j, low], self.bf[j, low], self.bg[j, low])
        go = ~stop
        j = idx[go]
        if not j.size:
            return
        ta, tb = ta[go], tb[go]
        lo_b, hi_b = np.minimum(ta, tb), np.maximum(ta, tb)
        t = cubic_min(ta, self.bf[j, 0], self.bgtd[j, 0], tb, self.bf[j, 1], self.bgtd[j, 1],
                      lo_b, hi_b)
        eps = 0.1 * (hi_b - lo_b)
        near = np.minimum(hi_b - t, t - lo_b) < eps
        ins = self.insufficient[j]
        push = near & (ins | (t >= hi_b) | (t <= lo_b))
        moved = np.where(np.abs(t - hi_b) < np.abs(t - lo_b), hi_b - eps, lo_b + eps)
        t = np.where(push, moved, t)
        self.insufficient[j] = near & ~push
        self.t_try[j] = t
        self.phase[j] = _ZOOM

    def _on_zoom(self, idx, f_n, g_n):
        t = self.t_try[idx]
        gtd_n = _dot(g_n, self.d_new[idx])
        self.ls_evals[idx] += 1
        low = self.low[idx]
        high = 1 - low
        f0, gtd0 = self.f[idx], self.gtd0[idx]
        worse = (f_n > f0 + self.c1 * t * gtd0) | (f_n >= self.bf[idx, low])
        wolfe = ~worse & (np.abs(gtd_n) <= -self.c2 * gtd0)
        rest = ~worse & ~wolfe
        # worse: the new point replaces the high end; then the low end is re-chosen
        j, h = idx[worse], high[worse]
        if j.size:
            self.bt[j, h], self.bf[j, h], self.bgtd[j, h] = t[worse], f_n[worse], gtd_n[worse]
            self.bg[j, h] = g_n[worse]
            self.low[j] = np.where(self.bf[j, 0] <= self.bf[j, 1], 0, 1)
        # otherwise the new point becomes the low end (the old low end may become high)
        j, lo, h = idx[rest], low[rest], high[rest]
        if j.size:
            swap = gtd_n[rest] * (self.bt[j, h] - self.bt[j, lo]) >= 0
            js, ls_, hs = j[swap], lo[swap], h[swap]
            if js.size:
                self.bt[js, hs], self.bf[js, hs] = self.bt[js, ls_], self.bf[js, ls_]
                self.bgtd[js, hs] = self.bgtd[js, ls_]
                self.bg[js, hs] = self.bg[js, ls_]
            self.bt[j, lo], self.bf[j, lo], self.bgtd[j, lo] = t[rest], f_n[rest], gtd_n[rest]
            self.bg[j, lo] = g_n[rest]
        if wolfe.any():
            self._search_done(idx[wolfe], t[wolfe], f_n[wolfe], g_n[wolfe])
        again = idx[worse | rest]
        if again.size:
            self._zoom_trial(again)

    def _search_done(self, idx, t, f_new, g_new):
        """After the line search: move, count evaluations, test the stopping rules."""
        d = self.d_new[idx]
        self.x[idx] += t[:, None] * d
        self.d[idx], self.t[idx] = d, t
        self.f[idx], self.g[idx] = f_new, g_new
        self.evals[idx] += self.ls_evals[idx]
        stop = (self.it[idx] == self.max_iter - 1) | (self.evals[idx] >= self.max_eval)
        stop |= np.abs(g_new).max(1) <= self.tol_grad
        stop |= np.abs(d).max(1) * t <= self.tol_change
        stop |= np.abs(f_new - self.loss_prev[idx]) < self.tol_change
        self.phase[idx[stop]] = _DONE
        j = idx[~stop]
        self.it[j] += 1
        self._begin_iteration(j)

    # ----------------------------------------------------------------- history
    def _push(self, idx, s, y, ys):
        full = self.count[idx] == self.m
        j = idx[full]
        if j.size:  # drop the oldest pair
            self.S[j, :-1], self.Y[j, :-1] = self.S[j, 1:], self.Y[j, 1:]
            self.rho[j, :-1] = self.rho[j, 1:]
            self.count[j] -= 1
        c = self.count[idx]
        self.S[idx, c], self.Y[idx, c] = s, y
        self.rho[idx, c] = 1.0 / ys
        self.count[idx] = c + 1
        self.gamma[idx] = ys / _dot(y, y)

    def _direction(self, idx, g):
        """-H g by the two-loop recursion on each member's own history, member by member
        in the solo optimizer's operations (:meth:`kanrun.kan.lbfgs.LBFGS._direction`)."""
        out = np.empty_like(g)
        for r, j in enumerate(idx):
            c = int(self.count[j])
            if c == 0:
                out[r] = -g[r]
                continue
            out[r] = two_loop(self.S[j, :c], self.Y[j, :c], self.rho[j].tolist()[:c],
                              float(self.gamma[j]), g[r])
        return out
