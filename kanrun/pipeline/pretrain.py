"""The first training stages of a seed sweep, fitted at once (``+launcher=ensemble``).

Runs of a sweep that differ only in their seeds start with the same stages on models of
one shape. Where those stages are full-batch L-BFGS fits of plain KANs on the CPU with the
mean-squared error (``train``, then ``sparsify`` without the coefficient penalties), one
:class:`~kanrun.kan.KANEnsemble` fits the runs' models together; each member is its solo
fit bit for bit (test losses included: ``exact_test``), so every run folder is what the
run would have written alone. The launcher calls :func:`pretrain` before the jobs run; the
runner then takes a stage's model and loss rows with :func:`take` instead of fitting.
Anything else (another optimizer, minibatches, a classification task, a failed fit) runs
as usual.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import asdict

from kanrun.kan import KANEnsemble
from kanrun.kan.fastpath import is_plain
from kanrun.kan.fastpath_numpy import numpy_serves

log = logging.getLogger("kanrun.run")

BATCHED_STAGES = ("train", "sparsify")
_DONE: dict[tuple[str, str], tuple] = {}  # (run key, stage) -> (model, loss rows)


def run_key(cfg) -> str:
    """The identity of a run's settings (a RunConfig), seed included."""
    text = json.dumps(asdict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _group_key(cfg) -> str:
    """The settings without the seeds: runs with equal keys can be fitted together."""
    values = asdict(cfg)
    values.pop("seed", None)
    values["model"].pop("seed", None)
    return json.dumps(values, sort_keys=True, default=str)


def _why_not(prepared) -> str | None:
    """None where the stages can be batched; else the reason (for the log)."""
    cfg, model = prepared.cfg, prepared.model
    if model is None:
        return "a discovery run"
    if prepared.bundle.task != "regression":
        return f"a {prepared.bundle.task} task"
    if not (is_plain(model) and numpy_serves(model)):
        return "not a small plain KAN on the CPU"
    if not cfg.pipeline.order or cfg.pipeline.order[0] != "train":
        return "the pipeline does not start with train"
    return None


def _stages(cfg) -> list[tuple[str, object, dict]]:
    """(name, settings, penalty) of the leading stages that can be batched."""
    out = []
    for name in cfg.pipeline.order:
        if name not in BATCHED_STAGES or any(n == name for n, _, _ in out):
            break
        settings = getattr(cfg.pipeline.stages, name)
        if settings.optimizer != "LBFGS" or settings.batch != -1:
            break
        penalty = {}
        if name == "sparsify":
            if settings.lamb_coef or settings.lamb_coefdiff:
                break
            penalty = {"lamb": settings.lamb, "lamb_l1": settings.lamb_l1,
                       "lamb_entropy": settings.lamb_entropy}
        out.append((name, settings, penalty))
    return out


def pretrain(prepared_runs, progress=log.info) -> int:
    """Fit the batchable leading stages of ``prepared_runs`` (:class:`Prepared` of each
    job) group by group; returns how many runs got at least one stage."""
    groups: dict[str, list] = {}
    for prepared in prepared_runs:
        why = _why_not(prepared)
        if why is None:
            groups.setdefault(_group_key(prepared.cfg), []).append(prepared)
        else:
            progress(f"ensemble launcher: run with seed {prepared.cfg.seed} fits alone ({why})")
    served = 0
    for members in groups.values():
        if len(members) < 2:
            continue
        stages = _stages(members[0].cfg)
        if not stages:
            continue
        seeds = [int(p.cfg.seed) for p in members]
        progress(f"ensemble launcher: fitting {', '.join(n for n, _, _ in stages)} of "
                 f"{len(members)} runs at once (seeds {seeds})")
        served += _fit_group(members, stages)
    return served


def _fit_group(members, stages) -> int:
    models = [copy.deepcopy(p.model) for p in members]
    datasets = [p.bundle.data for p in members]
    keys = [run_key(p.cfg) for p in members]
    alive = list(range(len(members)))
    for name, settings, penalty in stages:
        grids = [int(models[i].grid) for i in alive]
        histories = KANEnsemble.from_models([models[i] for i in alive]).fit(
            [datasets[i] for i in alive], opt="LBFGS", steps=settings.steps, lr=settings.lr,
            update_grid=settings.update_grid, grid_update_num=settings.grid_update_num,
            stop_grid_update_step=settings.stop_grid_update_step, exact_test=True, **penalty)
        still = []
        for i, grid, history in zip(alive, grids, histories, strict=True):
            if "error" in history:  # the run fits this stage itself and reports the failure
                continue
            rows = [{"grid": grid, "train_rmse": tr, "test_rmse": te, "reg": reg}
                    for tr, te, reg in zip(history["train_loss"], history["test_loss"],
                                           history["reg"], strict=True)]
            _DONE[(keys[i], name)] = (copy.deepcopy(models[i]), rows)
            still.append(i)
        alive = still
        if len(alive) < 2:
            break
    return len({k for k, _ in _DONE if k in keys})


def take(cfg, stage: str):
    """(model, loss rows) of ``stage`` fitted ahead for the run ``cfg``, or None."""
    if not _DONE:
        return None
    return _DONE.pop((run_key(cfg), stage), None)


def clear() -> None:
    _DONE.clear()
