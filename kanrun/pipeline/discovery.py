"""The discovery run: no network shape given, the formula searched from the data.

Selected when ``model.width`` is null or ``pipeline.order`` is ``[discover]``
(``pipeline=discover``). It writes what a staged run writes where that makes sense:
formula.json/.txt/.tex, metrics.json, stages.csv (one row), state.json, and
candidates.csv (every candidate formula the search kept: complexity, holdout error). The
truth is read only after the search, for the ``recovered`` and strict columns.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import sympy

from kanrun.common.metrics import rmse
from kanrun.data import DatasetBundle
from kanrun.data.strict import STRICT_TOLERANCE, relative_error
from kanrun.discover import discover
from kanrun.discover.candidate import complexity, numpy_function

from . import artifacts
from .errors import RunConfigError
from .formula import Formula, FormulaOutput, _recovered, write_formula
from .record import RunRecord
from .schema import STAGE_NAMES

log = logging.getLogger("kanrun.run")

DISCOVER = "discover"
CANDIDATE_COLUMNS = ("output", "rank", "complexity", "holdout_rmse", "route", "expr")


# datasets whose law a run is asked to find: with no shape given they run discovery; the
# others (toy demos, special functions, classification) train a KAN of the default shape
DISCOVERY_DATASETS = ("feynman", "formula", "csv")


def uses_discovery(cfg) -> bool:
    """Discovery runs when the pipeline is ``[discover]``, or when neither ``model.width``
    nor ``model.hidden`` is given for a dataset of :data:`DISCOVERY_DATASETS` and the
    pipeline is the full default one (a chosen pipeline such as ``numeric`` trains a KAN)."""
    if list(cfg.pipeline.order) == [DISCOVER]:
        return True
    no_shape = cfg.model.width is None and cfg.model.hidden is None
    return (no_shape and cfg.dataset.name in DISCOVERY_DATASETS
            and tuple(cfg.pipeline.order) == STAGE_NAMES)


def check_discovery(cfg, bundle: DatasetBundle) -> None:
    if bundle.task != "regression":
        raise RunConfigError("discovery (no model.width, or pipeline=discover) fits regression "
                             "data only; for classification give a shape, e.g. "
                             "model.hidden=[5]")
    if not cfg.pipeline.discover.budget > 0:
        raise RunConfigError(f"pipeline.discover.budget must be a positive number of seconds, "
                             f"got {cfg.pipeline.discover.budget}")


def _rmse(expr, symbols, x, y) -> float | None:
    try:
        value = rmse(numpy_function(expr, symbols)(x), y)
    except (TypeError, ValueError, NameError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def run_discovery(prepared, run_dir: Path, display, resume: bool = False):
    """Search a formula per output; write the run folder; return a RunOutcome."""
    from .runner import EXIT_FAILED, RunOutcome, versions

    cfg, bundle = prepared.cfg, prepared.bundle
    run_dir = Path(run_dir)
    record = RunRecord.load(run_dir) if resume else RunRecord(run_dir=run_dir)
    if resume and DISCOVER in record.done_names() and (run_dir / "metrics.json").is_file():
        metrics = artifacts.read_json(run_dir / "metrics.json")
        log.info("discovery already completed in %s", run_dir)
        return RunOutcome(status=metrics.get("status", "completed"), exit_code=0, metrics=metrics)
    settings = cfg.pipeline.discover
    start, cpu_start = time.perf_counter(), time.process_time()
    data = {k: v.detach().cpu().double().numpy() for k, v in bundle.data.items()}
    names = list(bundle.input_names)
    symbols = [sympy.Symbol(n, real=True) for n in names]
    n_out = bundle.n_outputs
    exprs, found, rows = [], [], []
    with display:
        display.stage_start(DISCOVER, 0, 1, 0)
        for j in range(n_out):
            y = data["train_label"][:, j]
            result = discover(
                data["train_input"], y, names, budget=float(settings.budget) / n_out,
                seed=int(cfg.seed), snap_constants=bool(settings.snap),
                kan_route=bool(settings.kan),
                progress=lambda m: display.note(f"[discover] {m}", logging.INFO))
            found.append(result)
            exprs.append(result.expr)
            for rank, c in enumerate(result.candidates[:20]):
                rows.append({"output": bundle.output_names[j], "rank": rank,
                             "complexity": c.complexity, "holdout_rmse": c.holdout_rmse,
                             "route": c.route, "expr": str(c.expr)})
            if result.out_of_time:
                display.note(f"discovery used its budget of {settings.budget:g} CPU s; the best "
                             f"formula so far is kept (raise pipeline.discover.budget to "
                             f"search longer)", logging.WARNING)
        formula = _formula(exprs, symbols, bundle, data, cfg.pipeline.recovery_seconds)
        seconds = time.perf_counter() - start
        train = [_rmse(e, symbols, data["train_input"], data["train_label"][:, j])
                 for j, e in enumerate(exprs)]
        row = {"stage": DISCOVER, "width": None, "n_params": None, "n_edges": None,
               "grid": None, "train_rmse": _combined(train), "test_rmse": formula.test_rmse,
               "seconds": round(seconds, 3), "status": "completed"}
        display.stage_end({**row, "width": "-", "n_params": 0, "grid": 0,
                           "train_rmse": math.nan if row["train_rmse"] is None
                           else row["train_rmse"],
                           "test_rmse": math.nan if row["test_rmse"] is None
                           else row["test_rmse"]})
        record.mark_done(row, None, seconds)
        artifacts.write_csv(run_dir / "candidates.csv", CANDIDATE_COLUMNS, rows)
        write_formula(run_dir, formula)
        strict = [_strict(o, bundle) for o in formula.outputs]
        metrics = {
            "status": "completed", "error": None, "pipeline": DISCOVER,
            "train_rmse": row["train_rmse"], "test_rmse": formula.test_rmse,
            "formula_test_rmse": formula.test_rmse, "recovered": formula.recovered,
            "strict_rel_error": _worst(strict),
            "strict_recovered": None if _worst(strict) is None
            else _worst(strict) <= STRICT_TOLERANCE,
            "complexity": sum(complexity(e) for e in exprs),
            "noise_floor": [r.noise for r in found],
            "formula_status": _status(formula, found, data),
            "routes": [r.candidates[0].route if r.candidates else None for r in found],
            "out_of_time": any(r.out_of_time for r in found),
            "n_params": None, "n_edges": None, "width": None, "grid": None,
            "seconds": round(time.perf_counter() - start, 3),
            "cpu_seconds": round(time.process_time() - cpu_start, 3),
            "stages_done": record.done_names(), "dataset": bundle.description,
            "versions": versions(),
        }
        artifacts.write_json(run_dir / "metrics.json", metrics)
        display.finish([row], formula, metrics)
        verdict = ("formula approximate: no exact law found; "
                   if metrics["formula_status"] == "approximate" else "")
        log.info("%srun folder: %s", verdict, run_dir)
    code = 0 if metrics["status"] == "completed" else EXIT_FAILED
    return RunOutcome(status="completed", exit_code=code, metrics=metrics, formula=formula)


APPROXIMATE_FACTOR = 3.0  # a formula this many times above the noise floor is approximate


def _status(formula: Formula, found, data) -> str:
    """``accurate`` when every output's formula reaches its noise floor (within
    APPROXIMATE_FACTOR, or 1e-9 of the label's spread), else ``approximate``: discovery's
    honest verdict, as the staged runs judge a formula against their network."""
    for j, (out, result) in enumerate(zip(formula.outputs, found, strict=False)):
        spread = float(np.std(data["test_label"][:, j])) or 1.0
        limit = max(APPROXIMATE_FACTOR * result.noise, 1e-9 * spread)
        if out.test_rmse is None or not out.test_rmse <= limit:
            return "approximate"
    return "accurate"


def _combined(values):
    if not values or any(v is None for v in values):
        return None
    return math.sqrt(sum(v * v for v in values) / len(values))


def _worst(values):
    if not values or any(v is None for v in values):
        return None
    return max(values)


def _strict(out: FormulaOutput, bundle: DatasetBundle):
    if out.truth is None or not bundle.ranges:
        return None
    return relative_error(out.expr, out.truth, dict(bundle.ranges))


def _formula(exprs, symbols, bundle: DatasetBundle, data, seconds: float) -> Formula:
    plain = [e.xreplace({s: sympy.Symbol(s.name) for s in e.free_symbols}) for e in exprs]
    original = bundle.to_original_units(plain)
    truths = bundle.truth or [None] * len(original)
    variables = dict(bundle.ranges) if bundle.ranges else list(bundle.input_names)
    formula = Formula(variables=list(bundle.input_names))
    for j, (expr, expr_orig) in enumerate(zip(exprs, original, strict=False)):
        truth = truths[j] if j < len(truths) else None
        found = None
        if truth is not None:  # the only place the truth is read
            found = _recovered(expr_orig, truth, variables, seconds, formula.notes)
        formula.outputs.append(FormulaOutput(
            name=bundle.output_names[j], expr=expr_orig,
            test_rmse=_rmse(expr, symbols, data["test_input"], data["test_label"][:, j]),
            truth=truth, recovered=found))
    return formula
