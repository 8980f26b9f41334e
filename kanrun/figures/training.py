"""Figure jobs that train one model: a KAN over a grid schedule, or an MLP baseline.

Each job is a plain dict of settings (it travels to a worker process and keys the result
cache) and returns JSON-safe numbers.
"""

from __future__ import annotations

import time

import torch

from kanrun.common.dtypes import torch_dtype
from kanrun.common.metrics import rmse
from kanrun.data import load_dataset
from kanrun.kan import KAN, NonFiniteLossError

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
    data = dataset(job["dataset"])
    dtype = torch_dtype(job.get("dtype", "float32"))
    data = {k: v.to(dtype) for k, v in data.items()}
    model = KAN(width=job["width"], grid=job["grids"][0], k=job.get("k", 3),
                seed=job["seed"], dtype=dtype, **job.get("kan_options", {}))
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
        rows.append({
            "grid": grid, "n_params": model.n_params, "status": status,
            "train_rmse": finite(_rmse(model, data["train_input"], data["train_label"])),
            "test_rmse": finite(_rmse(model, data["test_input"], data["test_label"])),
            "seconds": round(time.perf_counter() - start, 2),
        })
    return {"rows": rows, "steps": steps_rows}


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

    return (ctx.map(kan_schedule, kan_jobs, label=label("KAN")),
            ctx.map(mlp_job, mlp_jobs, label=label("MLP")))


def mlp_widths(n_in: int, n_out: int, depths, widths) -> list[list[int]]:
    """Every MLP shape [n_in, w, ..., w, n_out] with ``depth`` linear layers."""
    return [[n_in] + [w] * (d - 1) + [n_out] for d in depths for w in widths]
