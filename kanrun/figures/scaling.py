"""Paper Fig 3.1: scaling laws — test RMSE against parameters, KANs vs MLPs."""

from __future__ import annotations

from .context import FigureContext, sci
from .output import (
    log_slope,
    markdown_table,
    new_figure,
    positive,
    save_png,
    write_csv,
    write_markdown,
)
from .training import mlp_widths, train_kans_and_mlps

ABOUT = "paper Fig 3.1: scaling laws of the five toy functions, KANs vs MLPs"
PAPER_SLOPE = -4.0  # KAN theory alpha = k + 1; the paper's KANs "almost saturate" it


def kan_slope(rows: list[dict]) -> float | None:
    """Slope of log test RMSE vs log parameters, from the first grid to the best one."""
    tests = [r["test_rmse"] for r in rows]
    if not any(tests):
        return None
    best = min(range(len(rows)), key=lambda i: tests[i] if tests[i] else float("inf"))
    part = rows[: best + 1]
    if len(part) < 3:
        return None
    return log_slope([r["n_params"] for r in part], [r["test_rmse"] for r in part])


def _jobs(s: dict):
    kan_jobs, mlp_jobs = [], []
    for f in s["functions"]:
        data = {**s["dataset"], "function": f["function"]}
        grids = [g for g in s["grids"] if g <= f.get("max_grid", max(s["grids"]))]
        kan_jobs.append({"dataset": data, "dtype": s["dtype"], "width": list(f["width"]),
                         "grids": grids, "steps": int(s["steps"]), "seed": int(s["seed"]),
                         "update_grid": f.get("update_grid", s["update_grid"]),
                         "refine_margin": s["refine_margin"]})
        if f.get("kan_options"):
            kan_jobs[-1]["kan_options"] = dict(f["kan_options"])
        n_in, n_out = f["width"][0], f["width"][-1]
        for width in mlp_widths(n_in, n_out, s["mlp"]["depths"], s["mlp"]["widths"]):
            mlp_jobs.append({"dataset": data, "dtype": s["dtype"], "width": width,
                             "activation": s["mlp"]["activation"],
                             "steps": int(s["mlp"]["steps"]), "seed": int(s["seed"])})
    return kan_jobs, mlp_jobs


def run(ctx: FigureContext) -> None:
    s = ctx.settings()
    kan_jobs, mlp_jobs = _jobs(s)
    kans, mlps = train_kans_and_mlps(ctx, kan_jobs, mlp_jobs)
    points = []
    for job, res in zip(kan_jobs, kans, strict=True):
        for r in res["rows"]:
            points.append({"function": job["dataset"]["function"], "model": "KAN",
                           "shape": str(job["width"]), "grid": r["grid"],
                           "n_params": r["n_params"], "train_rmse": r["train_rmse"],
                           "test_rmse": r["test_rmse"], "seconds": r["seconds"]})
    for job, res in zip(mlp_jobs, mlps, strict=True):
        points.append({"function": job["dataset"]["function"], "model": "MLP",
                       "shape": str(job["width"]), "grid": None, **res})
    write_csv(ctx.out / "points.csv", ["function", "model", "shape", "grid", "n_params",
                                       "train_rmse", "test_rmse", "seconds"], points)
    summary = []
    for f, job, res in zip(s["functions"], kan_jobs, kans, strict=True):
        name = f["function"]
        mine = [p for p in points if p["function"] == name and p["model"] == "MLP"]
        best_mlp = min((p for p in mine if p["test_rmse"]), key=lambda p: p["test_rmse"],
                       default=None)
        best_kan = min((r for r in res["rows"] if r["test_rmse"]),
                       key=lambda r: r["test_rmse"], default=None)
        summary.append({
            "function": name, "kan_shape": str(job["width"]),
            "kan_slope": kan_slope(res["rows"]),
            "kan_best_test": best_kan and best_kan["test_rmse"],
            "kan_best_params": best_kan and best_kan["n_params"],
            "mlp_best_test": best_mlp and best_mlp["test_rmse"],
            "mlp_best_shape": best_mlp and best_mlp["shape"],
            "mlp_slope": log_slope([p["n_params"] for p in mine],
                                   [p["test_rmse"] for p in mine]),
        })
    write_csv(ctx.out / "slopes.csv", list(summary[0]), summary)
    _plot(ctx, s, points)
    _readme(ctx, s, summary, points)


def _plot(ctx, s, points) -> None:
    names = [f["function"] for f in s["functions"]]
    fig = new_figure(3.2 * len(names), 3.4)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        kan = [p for p in points if p["function"] == name and p["model"] == "KAN"]
        mlp = [p for p in points if p["function"] == name and p["model"] == "MLP"]
        n = [p["n_params"] for p in kan]
        ax.plot(n, positive([p["train_rmse"] for p in kan]), "o:", color="tab:blue",
                alpha=0.6, ms=3, label="KAN train")
        ax.plot(n, positive([p["test_rmse"] for p in kan]), "o-", color="tab:blue", ms=4,
                label=f"KAN {kan[0]['shape'] if kan else ''} test")
        for depth in s["mlp"]["depths"]:
            pts = sorted((p for p in mlp if p["shape"].count(",") == depth),
                         key=lambda p: p["n_params"])
            ax.plot([p["n_params"] for p in pts], positive([p["test_rmse"] for p in pts]),
                    "s-", ms=3, lw=0.8, alpha=0.8, label=f"MLP depth {depth} test")
        if kan and kan[0]["test_rmse"]:
            n0, r0 = kan[0]["n_params"], kan[0]["test_rmse"]
            xs = [n0, max(n)]
            ax.plot(xs, [r0 * (x / n0) ** PAPER_SLOPE for x in xs], "r--", lw=1, label="N^-4")
        ax.set(xscale="log", yscale="log", xlabel="parameters", title=name)
        ax.set_ylim(bottom=1e-8)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("RMSE")
    save_png(fig, ctx.out / "scaling.png")


def _options(s) -> str:
    chosen = [f"{f['function']} {dict(f['kan_options'])}" for f in s["functions"]
              if f.get("kan_options")]
    chosen += [f"{f['function']} update_grid={f['update_grid']}" for f in s["functions"]
               if f.get("update_grid")]
    return ", ".join(chosen) or "none"


def _readme(ctx, s, summary, points) -> None:
    rows = [[r["function"], r["kan_shape"], f"{r['kan_slope']:.2f}" if r["kan_slope"] else "-",
             sci(r["kan_best_test"]), r["kan_best_params"] or "-", sci(r["mlp_best_test"]),
             r["mlp_best_shape"] or "-",
             f"{r['mlp_slope']:.2f}" if r["mlp_slope"] else "-"] for r in summary]
    minutes = sum(p["seconds"] or 0 for p in points) / 60
    text = f"""# Scaling laws (paper Fig 3.1){' — quick variant' if ctx.quick else ''}

KANs of the paper's shapes trained {s['steps']} LBFGS steps on each grid of {s['grids']}
(grid extension between grids; per-function KAN options: {_options(s)}); MLPs of
depths {s['mlp']['depths']} and widths {s['mlp']['widths']} ({s['mlp']['activation']})
trained {s['mlp']['steps']} LBFGS steps.
{s['dataset']['n_train']} training points, {s['dtype']}, seed {s['seed']}.
Compute: {minutes:.1f} CPU-minutes (one thread per job).

![scaling](scaling.png)

KAN slope: least-squares slope of log10(test RMSE) against log10(parameters) from the first
grid up to the grid with the lowest test RMSE (the paper: close to -4 = -(k+1)).
MLP slope: the same fit over all MLP shapes.

{markdown_table(['function', 'KAN shape', 'KAN slope (paper ~ -4)', 'KAN best test RMSE',
                 'KAN params', 'MLP best test RMSE', 'best MLP', 'MLP slope'], rows)}

Files: points.csv (every model), slopes.csv (the table above).
"""
    write_markdown(ctx.out / "README.md", text)
