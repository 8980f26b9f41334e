"""Report figures: test RMSE vs parameter count (Pareto front marked) and test RMSE vs grid
size per network shape. Each function returns a Figure or None when there is nothing to draw.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from kanrun.pipeline.plots import plain_log_ticks


def _figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 4.2), layout="constrained")


def pareto_figure(table: pd.DataFrame):
    """Scatter of test RMSE against parameter count; the Pareto front joined by a line."""
    cost = pd.to_numeric(table["n_params_spline"], errors="coerce")
    cost = cost.where(cost.notna(), pd.to_numeric(table["n_params"], errors="coerce"))
    error = pd.to_numeric(table["test_rmse"], errors="coerce")
    ok = cost.notna() & error.notna() & (cost > 0) & (error > 0)
    if not ok.any():
        return None
    fig = _figure()
    ax = fig.add_subplot()
    failed = ok & (table["status"] != "completed")
    done = ok & ~failed
    ax.scatter(cost[done], error[done], s=18, color="tab:blue", alpha=0.7, label="runs")
    if failed.any():
        ax.scatter(cost[failed], error[failed], s=22, marker="x", color="tab:gray",
                   label="not completed")
    front = ok & table["pareto"].astype(bool)
    order = cost[front].sort_values().index
    ax.plot(cost[order], error[order], "-o", color="tab:red", ms=5, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("parameters (spline network)")
    ax.set_ylabel("test RMSE")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def grid_figure(records: list[dict[str, Any]]):
    """Best test RMSE reached at each grid size (over the runs and their stages), one line
    per configured network shape."""
    best: dict[str, dict[float, float]] = defaultdict(dict)
    for record in records:
        shape = record.get("shape") or "?"
        for grid, rmse in record.get("grid_curve") or []:
            if math.isfinite(grid) and math.isfinite(rmse) and rmse > 0:
                previous = best[shape].get(grid, math.inf)
                best[shape][grid] = min(previous, rmse)
    if not best:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for shape in sorted(best):
        grids = sorted(best[shape])
        ax.plot(grids, [best[shape][g] for g in grids], "-o", ms=4, label=f"shape {shape}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("grid size G")
    ax.set_ylabel("test RMSE (best over runs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
