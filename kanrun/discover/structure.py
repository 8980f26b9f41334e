"""The KAN route: the smallest network that fits, turned into a formula.

Shapes are tried smallest first -- [n,1], [n,1,1], [n,2,1], [n,[0,1],1] (one
multiplication node), [n,3,1], [n,2,1,1] -- each from a few seeds fitted at once (one
KANEnsemble); the first seed of the first shape whose holdout RMSE reaches the target (the
noise floor, or a fraction of the spread of y) wins.
Inputs whose attribution is negligible are dropped and the shape refitted. The network is
then made symbolic with the library's auto_symbolic and exported; the formula's constants
are refitted jointly in float64 (snap.refit) by the caller's ranking.
"""

from __future__ import annotations

import numpy as np
import sympy
import torch

from kanrun.common.clock import now as clock

SHAPES = ([1], [1, 1], [2, 1], [[0, 1], 1], [3, 1], [2, 1, 1])
SEEDS = (0, 1, 2)
UNUSED_SCORE = 1e-2  # attribution below this share of the largest: the input is unused


def _data(x: np.ndarray, y: np.ndarray, train, hold) -> dict:
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return {"train_input": t(x[train]), "train_label": t(y[train, None]),
            "test_input": t(x[hold]), "test_label": t(y[hold, None])}


def _fit(width, data, seed: int, steps: int):
    from kanrun.kan import KAN, NonFiniteLossError

    model = KAN(width=width, grid=5, k=3, seed=seed, dtype="float64")
    try:
        rows = model.fit(data, opt="LBFGS", steps=steps, update_grid=True)
    except NonFiniteLossError:
        return None, np.inf
    return model, float(rows["test_loss"][-1])


def _fit_seeds(width, data, seeds, steps: int) -> list:
    """[(model or None, holdout rmse)] for each seed: one batched KANEnsemble fit where the
    shape is plain (its members are their solo fits, bit for bit), else one fit per seed."""
    from kanrun.kan import KANEnsemble

    if any(isinstance(w, (list, tuple)) for w in width) or len(seeds) < 2:
        return [_fit(width, data, seed, steps) for seed in seeds]
    ens = KANEnsemble(width=width, grid=5, k=3, seeds=seeds, dtype="float64")
    histories = ens.fit(data, opt="LBFGS", steps=steps, update_grid=True)
    return [(None, np.inf) if "error" in h or not h["test_loss"] else
            (model, float(h["test_loss"][-1])) for model, h in zip(ens, histories, strict=True)]


def shape_search(x: np.ndarray, y: np.ndarray, train, hold, target: float, deadline: float,
                 steps: int = 40):
    """(model, width, holdout rmse, inputs kept): the smallest shape reaching ``target``
    (else the best seen) before ``deadline``."""
    data = _data(x, y, train, hold)
    n = x.shape[1]
    best = None
    for hidden in SHAPES:
        if clock() > deadline:
            return best
        width = [n, *hidden]
        for seed, (model, err) in zip(SEEDS, _fit_seeds(width, data, SEEDS, steps),
                                      strict=True):
            if model is not None and (best is None or err < best[2]):
                best = (model, width, err, list(range(n)))
            if err <= target:  # the first seed that reaches the target, as one by one
                return _drop_unused(best, x, y, train, hold, seed, steps)
    return best


def _drop_unused(found, x, y, train, hold, seed, steps):
    model, width, err, kept = found
    try:
        scores = np.asarray(model.feature_score(torch.as_tensor(x[train]))).reshape(-1)
    except (RuntimeError, ValueError, TypeError):
        return found
    used = [i for i, s in enumerate(scores) if s >= UNUSED_SCORE * float(np.max(scores))]
    if len(used) == len(kept) or not used:
        return found
    smaller = _data(x[:, used], y, train, hold)
    model2, err2 = _fit([len(used), *width[1:]], smaller, seed, steps)
    if model2 is not None and err2 <= 1.5 * err:
        return model2, [len(used), *width[1:]], err2, used
    return found


def kan_formula(x: np.ndarray, y: np.ndarray, symbols, train, hold, target: float,
                deadline: float) -> sympy.Expr | None:
    """A formula over ``symbols`` from the smallest fitting KAN, or None."""
    found = shape_search(x, y, train, hold, target, deadline)
    if found is None or clock() > deadline:
        return None
    model, _, _, kept = found
    try:
        model.auto_symbolic(x=torch.as_tensor(x[train][:, kept]), weight_simple=0.0)
        formulas, _ = model.symbolic_formula(var_names=[str(symbols[i]) for i in kept],
                                             digits=None)
    except (RuntimeError, ValueError, TypeError, KeyError) as err:  # the library's own errors
        del err
        return None
    expr = formulas[0]  # pykan's pair (formulas, variables): the one output's formula
    names = {str(s): s for s in symbols}
    expr = sympy.sympify(expr)
    return expr.xreplace({s: names.get(s.name, s) for s in expr.free_symbols})
