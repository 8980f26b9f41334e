"""L-BFGS for many independent problems at once: one objective call evaluates them all.

Each member runs the solo iteration itself (:meth:`kanrun.kan.lbfgs.LBFGSCore.iterate`, a
generator of the points it wants evaluated), so it takes the line-search steps, the
stops and the curvature history of its solo fit from the same numbers; this module only
gathers the members' trial points into one array, evaluates them in one call and hands
each member its row. Members whose step ended keep their parameters while the others go on.

Parameters are one float64 array ``x`` of shape (members, n); the objective maps such an
array to ``(losses (members,), gradients (members, n))``. Members with fewer parameters pad
with zeros (their gradient entries stay zero, so nothing depends on the padding).
"""

from __future__ import annotations

import numpy as np

from .lbfgs import LBFGSCore


class BatchedLBFGS:
    """L-BFGS over the rows of ``x0`` (members, n); call :meth:`step` with the objective.
    The options are those of :class:`~kanrun.kan.lbfgs.LBFGS`, the same for every member."""

    def __init__(self, x0, **options):
        self.x = np.array(x0, dtype=np.float64)
        n_members, n = self.x.shape
        self.members = [LBFGSCore(n, **options) for _ in range(n_members)]
        self.last_loss = np.full(n_members, np.nan)
        self.last_aux = None

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
        self.last_loss[:] = np.nan
        runs, points = {}, {}
        for i in np.flatnonzero(active):
            runs[i] = self.members[i].iterate(self.x[i].copy())
            points[i] = next(runs[i])
        trial = self.x.copy()
        waiting = np.zeros(n_members, dtype=bool)
        while runs:
            waiting[:] = False
            for i, point in points.items():
                waiting[i] = True
                trial[i] = self.x[i] if point is None else point
            out = objective(trial, waiting)
            f_e = np.asarray(out[0], dtype=np.float64)
            g_e = np.asarray(out[1], dtype=np.float64)
            idx = np.flatnonzero(waiting)
            self.last_loss[idx] = f_e[idx]
            if len(out) > 2:  # something the caller wants from each member's last evaluation
                aux = np.asarray(out[2], dtype=np.float64)
                if self.last_aux is None or self.last_aux.shape != aux.shape:
                    self.last_aux = np.zeros_like(aux)
                self.last_aux[idx] = aux[idx]
            for i in idx:
                try:
                    points[i] = runs[i].send((float(f_e[i]), g_e[i]))
                except StopIteration as done:
                    self.x[i] = done.value[1]
                    del runs[i], points[i]
        return self.last_loss.copy()
