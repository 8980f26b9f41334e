"""From a fitted (pruned) KAN to the simplest formula that fits: the whole search.

1. :func:`~.candidates.edge_candidates`: a few candidates per edge;
2. beam search over the edges' candidates, most uncertain edges first, each combination
   judged by the error of the whole formula after a joint float64 refit of its constants
   (:func:`~.refit.refit`) on held-out points;
3. the best combinations get exact constants (:func:`~.snap.snap_constants`) and a
   time-bounded sympy simplification that must evaluate to the same numbers;
   Beside the network's combinations, whole-formula candidates from the data's
   log-space view (:mod:`.monomial`, :mod:`.products`: products of powers with binomial,
   trigonometric, exp and log factors inside a few outer functions, over all inputs;
   they read the data, not the network's edges) are refit and snapped the same way.
4. every formula goes on a :class:`~.pareto.ParetoFront`; the simplest within tolerance
   of the best is chosen, and :meth:`FormulaSearch.status` says whether it is near the
   network's accuracy.

Only ``x, y`` (and optional test points) are read: never a ground truth.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import sympy
import torch

from kanrun.common import clock

from ..attribution import attribute, edge_records
from .candidates import SPLINE, Candidate, edge_candidates
from .export import _relevant as relevant_mask
from .monomial import monomial_template
from .pareto import FormulaCandidate, ParetoFront, complexity
from .products import product_templates
from .refit import TemplateError, build_template, compile_expr, refit, rmse
from .simplify import simplify_bounded
from .snap import round_free, snap_constants, threshold


@dataclass
class FormulaSearch:
    """What :func:`formula_from_model` found."""

    front: ParetoFront
    choice: dict = field(default_factory=dict)  # edge -> Candidate of the best combination
    candidates: list = field(default_factory=list)  # EdgeCandidates per edge
    seconds: float = 0.0
    evaluated: int = 0

    @property
    def best(self) -> FormulaCandidate | None:
        return self.front.best()

    @property
    def expr(self):
        best = self.best
        return None if best is None else best.expr

    def status(self, factor: float = 2.0) -> str:
        return self.front.status(factor)


def _as_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def _split(x, y, x_val, y_val):
    if x_val is not None and y_val is not None:
        return x, y, x_val, y_val
    n = x.shape[0]
    val = np.arange(n) % 5 == 4
    return x[~val], y[~val], x[val], y[val]


def _relevant(model):
    masks, _ = relevant_mask(model)
    return [(li, i, j) for li, m in enumerate(masks) for i, j in m.nonzero().tolist()]


def _state_key(state, order):
    return tuple(state[e] for e in order)


def formula_from_model(model, x, y, x_val=None, y_val=None, lib=None, var_names=None,
                       output: int = 0, topk: int = 3, beam_width: int = 2,
                       rel_tol: float = 0.05, seconds: float = 60.0,
                       network_rmse: float | None = None, x_test=None, y_test=None,
                       zero_threshold: float = 1e-3, simplify_seconds: float = 2.0,
                       tolerance: float = 0.5, snap_top: int = 2,
                       n_beam: int = 300, digits: int = 4,
                       snap_seconds: float = 10.0, product_top: int = 2) -> FormulaSearch:
    """The formula search on ``model`` with data ``x`` (n, d), ``y`` (n,) or (n, outputs).

    ``x_val, y_val``: held-out points for judging and snapping (default: every 5th row of
    ``x, y``). ``network_rmse``: the network's test error (for :meth:`FormulaSearch.status`),
    ``x_test, y_test``: points to report each formula's test error on.
    ``seconds`` bounds the beam search, ``snap_seconds`` the snapping of each of the
    best ``snap_top`` combinations and of the ``product_top`` best whole-formula candidates
    (product of powers, :mod:`.products`) (soft limits); ``product_top=0`` leaves the
    data-driven templates of :mod:`.products` out (the network's structure alone).
    ``digits``: the fewest significant digits kept in a decimal constant of the final
    form (more where the held-out error needs them).
    """
    t0 = time.monotonic()  # reported seconds are wall-clock; the limits count CPU time
    deadline = clock.deadline(seconds)
    abs_tol = _precision(y)
    X, Y = _as_numpy(x), _as_numpy(y).reshape(len(x), -1)[:, output]
    Xf, Yf, Xv, Yv = _split(X, Y, None if x_val is None else _as_numpy(x_val),
                            None if y_val is None else
                            _as_numpy(y_val).reshape(len(x_val), -1)[:, output])
    names = var_names or [f"x_{k + 1}" for k in range(X.shape[1])]
    variables = [sympy.Symbol(str(n)) for n in names]
    front = ParetoFront(network_rmse=network_rmse, tolerance=tolerance,
                        y_scale=float(np.std(Yf)) or 1.0, variables=list(names))
    result = FormulaSearch(front)
    xt = torch.as_tensor(X, dtype=model.dtype, device=model.device)
    relevant = _relevant(model)
    records = edge_records(model, xt)
    scores = attribute(model, records=records).edge_scores
    weak = {e for e in relevant if float(scores[e[0]][e[1], e[2]]) <= zero_threshold}
    strong = [e for e in relevant if e not in weak]
    cands = edge_candidates(model, xt, lib=lib, topk=topk, edges=strong) if strong else []
    result.candidates = cands
    options = {ec.edge: [c for c in ec.candidates if c.name != SPLINE] for ec in cands}
    for li, i, j in weak:
        mean = float(records[li]["edges"][:, i, j].mean())
        options[(li, i, j)] = [Candidate("0", (1.0, 0.0, 1.0, mean), 0.0, 0.0)]
    if any(not v for v in options.values()):
        front.notes.append("an edge has no symbolic candidate; no formula")
        result.seconds = time.monotonic() - t0
        return result
    Xt = None if x_test is None else _as_numpy(x_test)
    Yt = None if y_test is None else _as_numpy(y_test).reshape(len(x_test), -1)[:, output]
    cache: dict = {}
    Xs, Ys = Xf[:n_beam], Yf[:n_beam]  # the beam's refits run on a subsample
    order = sorted((ec.edge for ec in cands if len(options[ec.edge]) > 1),
                   key=lambda e: -next(c.uncertainty for c in cands if c.edge == e))
    every = list(options)

    def evaluate(state):
        key = _state_key(state, every)
        if key in cache:
            return cache[key]
        choice = {e: options[e][state[e]] for e in every}
        try:
            tpl = build_template(model, choice, relevant, variables, output)
            fn = compile_expr(tpl.expr, variables, tpl.params)
        except (TemplateError, TypeError, ValueError, NameError, SyntaxError) as err:
            cache[key] = None
            front.notes.append(f"a combination could not be compiled: {err}")
            return None
        theta, train = refit(fn, Xs, Ys, tpl.values, max_nfev=100)
        theta, train = refit(fn, Xf, Yf, theta, max_nfev=30)
        val = rmse(fn(Xv, theta), Yv)
        expr = tpl.substitute(theta)
        item = (val, complexity(expr), tpl, fn, theta, train, choice)
        cache[key] = item
        result.evaluated += 1
        _add(front, expr, train, val, t0, "refit", choice, Xt, Yt, variables)
        return item

    def rank(state):
        item = evaluate(state)
        if item is None:
            return math.inf
        return math.log10(item[0] + 1e-300 + 1e-15 * front.y_scale) + 0.01 * item[1]

    beam = [{e: 0 for e in every}]
    evaluate(beam[0])
    for e in order:
        if clock.now() > deadline:
            front.notes.append(f"beam search stopped at the time limit ({seconds:g} CPU s)")
            break
        pool = []
        for state in beam:
            for k in range(len(options[e])):
                pool.append({**state, e: k})
        unique = {_state_key(s, every): s for s in pool}
        beam = sorted(unique.values(), key=rank)[:beam_width]
    finals = sorted((v for v in cache.values() if v is not None), key=lambda v: v[0])
    best_items = finals[: max(1, snap_top)]
    inputs = sorted({i for li, i, _ in strong if li == 0})
    templates = []
    if product_top > 0:  # 0: only the network's own structure (and its inputs' monomial)
        found = _products(Xf, Yf, Xv, Yv, variables, range(X.shape[1]), front, t0, Xt, Yt)
        templates = sorted(found, key=lambda v: v[0])[:product_top]
    monomial = _monomial(Xf, Yf, Xv, Yv, variables, inputs, front, t0, Xt, Yt)
    if monomial is not None:  # the simplest template is always snapped: on noisy data
        templates.append(monomial)  # the richer ones can beat it on error by overfitting
    best_items[:0] = sorted(templates, key=lambda v: v[0])
    if best_items:
        result.choice = best_items[0][6]
    for _v, _, tpl, fn, theta, _t, choice in best_items:
        _exact_forms(front, tpl, fn, theta, Xf, Yf, Xv, Yv, choice, variables, rel_tol,
                     snap_seconds, simplify_seconds, t0, Xt, Yt, digits, abs_tol)
    best = front.best()
    if best is not None and best.functions:
        result.choice = best.functions
    result.seconds = time.monotonic() - t0
    return result


def _precision(y) -> float:
    """The error, relative to the labels' spread, that their storage precision alone
    allows: labels stored in float32 carry ~1e-7 relative rounding, which a snapped
    constant may not beat (float64: 1e-10)."""
    eps = torch.finfo(y.dtype).eps if isinstance(y, torch.Tensor) and y.is_floating_point() \
        else np.finfo(np.asarray(y).dtype).eps if np.asarray(y).dtype.kind == "f" else 0.0
    if eps <= 1e-15:
        return 1e-10
    Y = _as_numpy(y).reshape(-1)
    scale = float(np.std(Y)) or 1.0
    return max(1e-10, 8 * eps * float(np.sqrt(np.mean(Y * Y))) / scale)


def _monomial(Xf, Yf, Xv, Yv, variables, inputs, front, t0, Xt, Yt):
    """The product-of-powers candidate over the inputs the network uses (or None)."""
    tpl = monomial_template(Xf, Yf, variables, inputs)
    if tpl is None:
        return None
    try:
        fn = compile_expr(tpl.expr, variables, tpl.params)
    except (TypeError, ValueError, NameError, SyntaxError):
        return None
    theta, train = refit(fn, Xf, Yf, tpl.values, max_nfev=200)
    val = rmse(fn(Xv, theta), Yv)
    if not math.isfinite(val):
        return None
    expr = tpl.substitute(theta)
    _add(front, expr, train, val, t0, "monomial", {}, Xt, Yt, variables)
    return (val, complexity(expr), tpl, fn, theta, train, {})


def _products(Xf, Yf, Xv, Yv, variables, inputs, front, t0, Xt, Yt):
    """The log-space candidates of :mod:`.products` over ``inputs``, each refit jointly.
    The search passes every input: a symbolic model whose last refit went astray (its
    edges all weak) must not take the data's own templates down with it."""
    out = []
    for source, tpl in product_templates(Xf, Yf, variables, inputs):
        try:
            fn = compile_expr(tpl.expr, variables, tpl.params)
        except (TypeError, ValueError, NameError, SyntaxError):
            continue
        theta, train = refit(fn, Xf, Yf, tpl.values, max_nfev=200)
        val = rmse(fn(Xv, theta), Yv)
        if not math.isfinite(val):
            continue
        expr = tpl.substitute(theta)
        _add(front, expr, train, val, t0, source, {}, Xt, Yt, variables)
        out.append((val, complexity(expr), tpl, fn, theta, train, {}))
    return out


def _add(front, expr, train, val, t0, source, choice, Xt, Yt, variables):
    test = None
    if Xt is not None:
        fn = compile_expr(expr, variables, [])
        test = rmse(fn(Xt, []), Yt)
    front.add(FormulaCandidate(expr, complexity(expr), train, val, time.monotonic() - t0,
                               source, test, dict(choice)))


def _exact_forms(front, tpl, fn, theta, Xf, Yf, Xv, Yv, choice, variables, rel_tol,
                 snap_seconds, simplify_seconds, t0, Xt, Yt, digits=4, abs_tol=1e-10):
    snapped = snap_constants(fn, Xf, Yf, Xv, Yv, theta, tpl.kinds, rel_tol=rel_tol,
                             abs_tol=abs_tol, deadline=clock.deadline(snap_seconds))
    exact = {tpl.params[k]: v for k, v in snapped.exact.items()}
    expr = tpl.substitute(snapped.theta, exact)
    origin = "" if choice else "template-"  # no edge choice: a whole-formula template
    _add(front, expr, snapped.train_rmse, snapped.val_rmse, t0, origin + "snap", choice, Xt,
         Yt, variables)
    ref = rmse(fn(Xv, theta), Yv)
    limit = threshold(ref, float(np.std(Yv)) or 1.0, rel_tol, abs_tol)
    simple = simplify_bounded(expr, variables, Xv, simplify_seconds)
    simple = round_free(simple, lambda e: _val(e, variables, Xv, Yv) <= limit,
                        digits_from=max(1, int(digits)))
    val = _val(simple, variables, Xv, Yv)
    train = _val(simple, variables, Xf, Yf)
    _add(front, simple, train, val, t0, origin + "exact", choice, Xt, Yt, variables)


def _val(expr, variables, X, Y) -> float:
    return rmse(compile_expr(expr, variables, [])(X, []), Y)


__all__ = ["FormulaSearch", "formula_from_model"]
