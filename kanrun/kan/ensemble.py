"""Many small KANs fitted at once: one batched model, one batched L-BFGS.

Science runs thousands of tiny fits (seeds, shapes, penalties, datasets); for a [2, 5, 1]
KAN the arithmetic of one evaluation is microseconds and the rest is per-operation cost.
:class:`KANEnsemble` stacks members of the same shape and grid size so that an evaluation
of all of them is the same few operations as one: every layer's knots, coefficients and
scales are stacked along the input rows (member-major), the basis of all members is one
evaluation on those rows and the layer is one batched matrix product per member. Members
with different grid sizes form separate stacks; all stacks share one
:class:`~kanrun.kan.lbfgs_batched.BatchedLBFGS`, so each member takes the line-search
steps and stops that its solo :func:`~kanrun.kan.fit.fit` would take.

    ens = KANEnsemble(width=[2, 5, 1], grid=5, k=3, seeds=range(32))
    histories = ens.fit(data, opt="LBFGS", steps=20)       # or a list of datasets
    model = ens[3]                                          # a plain KAN
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .ensemble_stack import NumpyStack, Stack
from .fastpath_numpy import numpy_serves
from .fit import FitError, mse
from .lbfgs_batched import BatchedLBFGS
from .model import KAN


class KANEnsemble:
    """Members ``KAN(width, grid, k, seed=s, **kwargs)`` for each seed; ``grid`` and
    ``lamb`` may be one value or one per member (``lamb`` is given to :meth:`fit`)."""

    def __init__(self, width, grid=5, k=3, seeds=range(1), **kwargs):
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise FitError("an ensemble needs at least one seed")
        grids = list(grid) if isinstance(grid, (list, tuple, range)) else [grid] * len(seeds)
        if len(grids) != len(seeds):
            raise FitError(f"grid lists {len(grids)} values for {len(seeds)} seeds")
        self.members = [KAN(width, grid=int(g), k=k, seed=s, **kwargs)
                        for s, g in zip(seeds, grids, strict=True)]

    @classmethod
    def from_models(cls, models) -> KANEnsemble:
        """An ensemble of existing KANs (e.g. refined members); they are fitted in place."""
        models = list(models)
        if not models or not all(isinstance(m, KAN) for m in models):
            raise FitError("from_models needs a non-empty list of KAN models")
        ens = cls.__new__(cls)
        ens.members = models
        return ens

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, i) -> KAN:
        return self.members[i]

    def __iter__(self):
        return iter(self.members)

    def fit(self, data, opt: str = "LBFGS", steps: int = 100, lamb=0.0, lamb_l1: float = 1.0,
            lamb_entropy: float = 2.0, update_grid: bool = True, grid_update_num: int = 10,
            start_grid_update_step: int = -1, stop_grid_update_step: int = 50,
            lr: float = 1.0, max_iter: int = 20, history_size: int = 10,
            exact_test: bool = False) -> list[dict]:
        """Fit every member in place; returns one history per member, as :func:`fit`'s.

        ``data`` is one dataset for all members or a list with one per member (equal
        sizes). ``lamb`` is one penalty weight or one per member. Only full-batch L-BFGS
        with the mean-squared error is batched; a member whose loss becomes non-finite is
        restored to its last finite state and stops (its history gets ``"error"``).
        For the small models that :func:`fit` trains through the NumPy objective, the
        per-step test losses are those of their solo fits, bit for bit. For the others they
        come from one batched forward (within ~1e-9 of :func:`fit`'s in float64, ~1e-6 in
        float32); ``exact_test`` takes them from each member's own forward instead, as
        :func:`fit` does, bit for bit (slower).
        """
        if opt != "LBFGS":
            raise FitError(f"an ensemble fits with opt='LBFGS' only, got {opt!r}")
        n = len(self.members)
        datasets = list(data) if isinstance(data, (list, tuple)) else [data] * n
        if len(datasets) != n:
            raise FitError(f"{len(datasets)} datasets for {n} members")
        lambs = list(lamb) if isinstance(lamb, (list, tuple, np.ndarray)) else [lamb] * n
        if len(lambs) != n:
            raise FitError(f"lamb lists {len(lambs)} values for {n} members")
        steps = int(steps)
        if steps < 0:
            raise FitError(f"steps must be >= 0, got {steps}")
        groups = {}  # penalized or not: a solo fit takes a different path for each
        for i, member in enumerate(self.members):
            groups.setdefault((member.grid, float(lambs[i]) > 0), []).append(i)
        hist = [{"train_loss": [], "test_loss": [], "reg": []} for _ in range(n)]
        settings = dict(lr=lr, max_iter=max_iter, history_size=history_size, steps=steps,
                        update_grid=update_grid, grid_update_num=grid_update_num,
                        start=start_grid_update_step, stop=stop_grid_update_step)
        for ids in groups.values():  # one stack and one optimizer per group
            members = [self.members[i] for i in ids]
            kind = NumpyStack if numpy_serves(members[0]) else Stack  # as fit decides
            stack = kind(members, [datasets[i] for i in ids], [float(lambs[i]) for i in ids],
                         lamb_l1, lamb_entropy)
            exact = None
            if exact_test and kind is Stack:  # NumpyStack's test losses are fit's already
                def exact(ids=ids):
                    return np.array([_test_mse(self.members[i], datasets[i]) for i in ids])
            for i, h in zip(ids, _fit_stack(stack, exact, **settings), strict=True):
                hist[i] = h
        for member, data_i in zip(self.members, datasets, strict=True):
            member.reference_inputs = data_i["train_input"]  # as fit: refine's default
        return hist


def _test_mse(member, data) -> float:
    """The test loss of one member as :func:`fit` computes it (the model's own forward)."""
    x = data["test_input"].to(device=member.device, dtype=member.dtype)
    y = data["test_label"].to(device=member.device, dtype=member.dtype)
    with torch.no_grad():
        return float(mse(member(x), y))


def _fit_stack(stack, exact_test, lr, max_iter, history_size, steps, update_grid,
               grid_update_num, start, stop) -> list[dict]:
    """fit's loop (grid updates, L-BFGS steps, test losses) for every member of a stack;
    ``exact_test`` None or a function giving the members' test losses from their models."""
    n = len(stack)

    def objective(x, waiting):
        stack.set(x)
        f, g = stack.loss_and_grad(waiting)
        return f, g, np.stack([stack.last_mse, stack.last_reg], 1)

    engine = BatchedLBFGS(stack.get(), lr=lr, max_iter=max_iter, history_size=history_size,
                          tolerance_grad=1e-32, tolerance_change=1e-32)
    freq = max(1, int(stop / max(1, grid_update_num)))
    alive = np.ones(n, dtype=bool)
    hist = [{"train_loss": [], "test_loss": [], "reg": []} for _ in range(n)]
    for step in range(steps):
        if not alive.any():
            break
        backup = stack.get()
        if update_grid and step % freq == 0 and start <= step < stop:
            stack.update_grid()
        engine.step(objective, alive, x=stack.get())
        x = np.where(alive[:, None], engine.x, backup)
        stack.set(x)
        if exact_test is None:
            test = stack.test_loss()
        else:
            stack.write_back()
            test = exact_test()
        for row in np.flatnonzero(alive):
            train = engine.last_aux[row, 0]  # the data term, as fit reports it
            if not (math.isfinite(train) and np.isfinite(x[row]).all()):
                x[row] = backup[row]
                alive[row] = False
                hist[row]["error"] = f"the training loss became {train} at step {step}"
                continue
            hist[row]["train_loss"].append(math.sqrt(max(train, 0.0)))
            hist[row]["test_loss"].append(math.sqrt(max(float(test[row]), 0.0)))
            hist[row]["reg"].append(float(engine.last_aux[row, 1]))
        stack.set(x)
    stack.write_back()
    return hist


__all__ = ["KANEnsemble"]
