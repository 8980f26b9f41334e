"""Figure jobs that train one model: a KAN over a grid schedule, or an MLP baseline.

Each job is a plain dict of settings (it travels to a worker process and keys the result
cache) and returns JSON-safe numbers.
"""

from __future__ import annotations

import json
import time

import torch

from kanrun.common.dtypes import torch_dtype
from kanrun.common.metrics import rmse
from kanrun.data import load_dataset
from kanrun.kan import KAN, KANEnsemble, NonFiniteLossError
from kanrun.kan.fastpath import is_plain

from .context import finite
from .mlp import fit_mlp, make_mlp, n_params


def dataset(spec: dict) -> dict:
    return load_dataset(dict(spec)).data


def _rmse(model, x, y) -> float:
    with torch.no_grad():
        return rmse(model(x), y)


def kan_schedule(job: dict) -> dict:
    """Train ``job['width']`` on grid ``grids[0]``, then extend to each further grid.

    ``update_grid``: 'first' (grid updates from samples in the first stage only, the
    setting deep or long schedules need), 'always' (every stage, pykan's default) or 'never'.
    ``kan_options``: more KAN arguments (e.g. sb_trainable). ``refine_margin``: see
    KAN.refine (None keeps the old grid range, only widened to cover the data).
    Returns one row per grid and, with ``record_steps``, every step's losses.
    """
    data = _data(job)
    model = _model(job, job["seed"], data)
    mode = job.get("update_grid", "first")
    rows, steps_rows = [], []
    for i, grid in enumerate(job["grids"]):
        start = time.perf_counter()
        if i:
            model = model.refine(grid, data["train_input"], margin=job.get("refine_margin"))
        update = mode == "always" or (mode == "first" and i == 0)
        status = "ok"
        try:
            history = model.fit(data, opt="LBFGS", steps=job["steps"], update_grid=update,
                                lamb=job.get("lamb", 0.0))
        except NonFiniteLossError as err:  # the model keeps its last finite state
            history, status = err.history, "non-finite loss"
        if job.get("record_steps"):
            for tr, te in zip(history["train_loss"], history["test_loss"], strict=True):
                steps_rows.append([grid, finite(tr), finite(te)])
        rows.append(_grid_row(model, data, grid, status, time.perf_counter() - start))
    return {"rows": rows, "steps": steps_rows}


def _data(job: dict) -> dict:
    data = dataset(job["dataset"])
    dtype = torch_dtype(job.get("dtype", "float32"))
    return {k: v.to(dtype) for k, v in data.items()}


def _model(job: dict, seed: int, data: dict) -> KAN:
    return KAN(width=job["width"], grid=job["grids"][0], k=job.get("k", 3), seed=seed,
               dtype=data["train_input"].dtype, **job.get("kan_options", {}))


def _grid_row(model, data, grid, status: str, seconds: float) -> dict:
    return {"grid": grid, "n_params": model.n_params, "status": status,
            "train_rmse": finite(_rmse(model, data["train_input"], data["train_label"])),
            "test_rmse": finite(_rmse(model, data["test_input"], data["test_label"])),
            "seconds": round(seconds, 2)}


def same_but_seed(job: dict) -> str:
    """The grouping key of :func:`kan_schedules`: a job's settings without its seed."""
    return json.dumps({k: v for k, v in job.items() if k != "seed"}, sort_keys=True,
                      default=str)


def kan_schedules(jobs: list[dict]) -> list[dict]:
    """:func:`kan_schedule` for jobs that differ only in their seed, the seeds fitted at
    once: one :class:`~kanrun.kan.KANEnsemble` per grid (each member is its solo fit, bit
    for bit). A row's ``seconds`` is the stage's time shared out over the members. Models
    an ensemble cannot fit (not plain KANs) run one by one."""
    first = jobs[0]
    data = _data(first)
    models = [_model(first, job["seed"], data) for job in jobs]
    if len(jobs) < 2 or not all(is_plain(m) for m in models):
        return [kan_schedule(job) for job in jobs]
    mode = first.get("update_grid", "first")
    rows, steps_rows = [[] for _ in jobs], [[] for _ in jobs]
    for i, grid in enumerate(first["grids"]):
        start = time.perf_counter()
        if i:
            models = [m.refine(grid, data["train_input"], margin=first.get("refine_margin"))
                      for m in models]
        update = mode == "always" or (mode == "first" and i == 0)
        histories = KANEnsemble.from_models(models).fit(
            data, opt="LBFGS", steps=first["steps"], update_grid=update,
            lamb=first.get("lamb", 0.0))
        seconds = (time.perf_counter() - start) / len(jobs)
        for j, (model, history) in enumerate(zip(models, histories, strict=True)):
            if first.get("record_steps"):
                for tr, te in zip(history["train_loss"], history["test_loss"], strict=True):
                    steps_rows[j].append([grid, finite(tr), finite(te)])
            status = "non-finite loss" if "error" in history else "ok"
            rows[j].append(_grid_row(model, data, grid, status, seconds))
    return [{"rows": r, "steps": st} for r, st in zip(rows, steps_rows, strict=True)]


def mlp_job(job: dict) -> dict:
    """Train an MLP of ``job['width']`` for ``job['steps']`` L-BFGS steps."""
    data = dataset(job["dataset"])
    dtype = torch_dtype(job.get("dtype", "float32"))
    data = {k: v.to(dtype) for k, v in data.items()}
    start = time.perf_counter()
    model = make_mlp(job["width"], job.get("activation", "silu"), job["seed"], dtype)
    result = fit_mlp(model, data, job["steps"])
    return {"n_params": n_params(model), "train_rmse": finite(result["train_rmse"]),
            "test_rmse": finite(result["test_rmse"]),
            "seconds": round(time.perf_counter() - start, 2)}


def train_kans_and_mlps(ctx, kan_jobs: list[dict], mlp_jobs: list[dict]):
    """Run the KAN and the MLP jobs of a per-function figure; returns both result lists."""
    def label(kind):
        return lambda j: f"{kind} {j['width']} on {j['dataset']['function']}"

    return (ctx.map(kan_schedule, kan_jobs, label=label("KAN"),
                    batched=(kan_schedules, same_but_seed)),
            ctx.map(mlp_job, mlp_jobs, label=label("MLP")))


def mlp_widths(n_in: int, n_out: int, depths, widths) -> list[list[int]]:
    """Every MLP shape [n_in, w, ..., w, n_out] with ``depth`` linear layers."""
    return [[n_in] + [w] * (d - 1) + [n_out] for d in depths for w in widths]
