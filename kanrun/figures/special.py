"""Paper Table 1: special functions — smallest and best KAN per function vs MLPs."""

from __future__ import annotations

from .context import FigureContext, sci
from .output import markdown_table, new_figure, save_png, write_csv, write_markdown
from .training import mlp_widths, train_kans_and_mlps

ABOUT = "paper Table 1: the 15 special functions, smallest/best KAN vs MLP"

# paper Table 1 (../shared/reference/paper-results.md, 1c):
# (min shape, its RMSE, best shape, best RMSE, MLP RMSE)
PAPER = {
    "ellipj": ("[2,2,1]", 7.29e-3, "[2,3,2,1,1]", 1.33e-4, 6.48e-4),
    "ellipkinc": ("[2,2,1,1]", 1.00e-3, "[2,2,1,1,1]", 1.24e-4, 5.52e-4),
    "ellipeinc": ("[2,2,1,1]", 8.36e-5, "[2,2,1,1]", 8.26e-5, 3.04e-4),
    "jv": ("[2,2,1]", 4.93e-3, "[2,3,1,1,1]", 1.64e-3, 5.52e-3),
    "yv": ("[2,3,1]", 1.89e-3, "[2,2,2,1]", 1.49e-5, 3.45e-4),
    "kv": ("[2,1,1]", 4.89e-3, "[2,2,1]", 2.52e-5, 1.67e-4),
    "iv": ("[2,4,3,2,1,1]", 9.28e-3, "[2,4,3,2,1,1]", 9.28e-3, 1.07e-2),
    "lpmv_m0": ("[2,2,1]", 5.25e-5, "[2,2,1]", 5.25e-5, 1.74e-2),
    "lpmv_m1": ("[2,4,1]", 6.90e-4, "[2,4,1]", 6.90e-4, 1.50e-3),
    "lpmv_m2": ("[2,2,1]", 4.88e-3, "[2,3,2,1]", 2.26e-4, 9.43e-4),
    "sph_harm_m0_n1": ("[2,1,1]", 2.21e-7, "[2,1,1]", 2.21e-7, 1.25e-6),
    "sph_harm_m1_n1": ("[2,2,1]", 7.86e-4, "[2,3,2,1]", 1.22e-4, 6.70e-4),
    "sph_harm_m0_n2": ("[2,1,1]", 1.95e-7, "[2,1,1]", 1.95e-7, 2.85e-6),
    "sph_harm_m1_n2": ("[2,2,1]", 4.70e-4, "[2,2,1,1]", 1.50e-5, 1.84e-3),
    "sph_harm_m2_n2": ("[2,2,1]", 1.12e-3, "[2,2,3,2,1]", 9.45e-5, 6.21e-4),
}


def _edges(width) -> int:
    return sum(a * b for a, b in zip(width[:-1], width[1:], strict=False))


def _jobs(s):
    kan_jobs, mlp_jobs = [], []
    for name in s["functions"]:
        data = {**s["dataset"], "function": name}
        for width in s["shapes"]:
            kan_jobs.append({"dataset": data, "dtype": s["dtype"], "width": list(width),
                             "grids": list(s["grids"]), "steps": int(s["steps"]),
                             "seed": int(s["seed"]), "update_grid": s["update_grid"],
                             "refine_margin": s["refine_margin"]})
        for width in mlp_widths(2, 1, s["mlp"]["depths"], s["mlp"]["widths"]):
            mlp_jobs.append({"dataset": data, "dtype": s["dtype"], "width": width,
                             "activation": s["mlp"]["activation"],
                             "steps": int(s["mlp"]["steps"]), "seed": int(s["seed"])})
    return kan_jobs, mlp_jobs


def summarize(name: str, kan_runs: list[tuple[list, dict]], mlp_runs: list[tuple[list, dict]],
              threshold: float) -> dict:
    """Best grid of every shape; the smallest shape under ``threshold``; the best shape."""
    per_shape = []
    for width, res in kan_runs:
        rows = [r for r in res["rows"] if r["test_rmse"] is not None]
        if rows:
            best = min(rows, key=lambda r: r["test_rmse"])
            per_shape.append((width, best))
    under = [p for p in per_shape if p[1]["test_rmse"] < threshold]
    smallest = min(under, key=lambda p: (_edges(p[0]), p[1]["test_rmse"]), default=None)
    best = min(per_shape, key=lambda p: p[1]["test_rmse"], default=None)
    mlps = [(w, r) for w, r in mlp_runs if r["test_rmse"] is not None]
    mlp_best = min(mlps, key=lambda p: p[1]["test_rmse"], default=None)
    return {
        "function": name,
        "min_shape": str(smallest[0]) if smallest else None,
        "min_rmse": smallest[1]["test_rmse"] if smallest else None,
        "min_grid": smallest[1]["grid"] if smallest else None,
        "best_shape": str(best[0]) if best else None,
        "best_rmse": best[1]["test_rmse"] if best else None,
        "best_grid": best[1]["grid"] if best else None,
        "mlp_rmse": mlp_best[1]["test_rmse"] if mlp_best else None,
        "mlp_shape": str(mlp_best[0]) if mlp_best else None,
    }


def run(ctx: FigureContext) -> None:
    s = ctx.settings()
    kan_jobs, mlp_jobs = _jobs(s)
    kans, mlps = train_kans_and_mlps(ctx, kan_jobs, mlp_jobs)
    all_rows, summary = [], []
    for name in s["functions"]:
        k = [(j["width"], r) for j, r in zip(kan_jobs, kans, strict=True)
             if j["dataset"]["function"] == name]
        m = [(j["width"], r) for j, r in zip(mlp_jobs, mlps, strict=True)
             if j["dataset"]["function"] == name]
        for width, res in k:
            for r in res["rows"]:
                all_rows.append({"function": name, "model": "KAN", "shape": str(width), **r})
        for width, r in m:
            all_rows.append({"function": name, "model": "MLP", "shape": str(width),
                             "grid": None, **r})
        summary.append(summarize(name, k, m, float(s["threshold"])))
    write_csv(ctx.out / "runs.csv", ["function", "model", "shape", "grid", "n_params",
                                     "train_rmse", "test_rmse", "seconds"], all_rows)
    write_csv(ctx.out / "table1.csv", list(summary[0]), summary)
    _plot(ctx, summary)
    _readme(ctx, s, summary, all_rows)


def _plot(ctx, summary) -> None:
    fig = new_figure(10, 4)
    ax = fig.subplots()
    xs = range(len(summary))
    series = [("best KAN (ours)", "best_rmse", "o", "tab:blue"),
              ("MLP (ours)", "mlp_rmse", "s", "tab:orange")]
    for label, key, marker, color in series:
        ax.plot(xs, [r[key] or float("nan") for r in summary], marker, color=color,
                label=label)
    ax.plot(xs, [PAPER.get(r["function"], (0, 0, 0, float("nan")))[3] for r in summary], "o",
            mfc="none", color="tab:blue", label="best KAN (paper)")
    ax.plot(xs, [PAPER.get(r["function"], (0,) * 4 + (float("nan"),))[4] for r in summary],
            "s", mfc="none", color="tab:orange", label="MLP (paper)")
    ax.set_xticks(list(xs), [r["function"] for r in summary], rotation=60, fontsize=7)
    ax.set(yscale="log", ylabel="test RMSE", title="special functions")
    ax.legend(fontsize=7)
    save_png(fig, ctx.out / "special.png")


def _readme(ctx, s, summary, all_rows) -> None:
    rows = []
    wins = 0
    for r in summary:
        p = PAPER.get(r["function"], ("-", None, "-", None, None))
        if r["best_rmse"] is not None and p[3] is not None and r["best_rmse"] <= p[3]:
            wins += 1
        rows.append([r["function"], r["min_shape"] or "-", sci(r["min_rmse"]), p[0], sci(p[1]),
                     f"{r['best_shape']} G={r['best_grid']}", sci(r["best_rmse"]), p[2],
                     sci(p[3]), sci(r["mlp_rmse"]), sci(p[4])])
    minutes = sum(r["seconds"] or 0 for r in all_rows) / 60
    text = f"""# Special functions (paper Table 1){' — quick variant' if ctx.quick else ''}

KAN shapes {s['shapes']}, {s['steps']} LBFGS steps on each grid of {s['grids']}, no pruning;
MLPs of depths {s['mlp']['depths']} x widths {s['mlp']['widths']} ({s['mlp']['activation']}),
{s['mlp']['steps']} LBFGS steps. {s['dataset']['n_train']} training points, {s['dtype']},
seed {s['seed']} (the paper: 3 seeds, pruned and unpruned KANs of width 5 and depth 2-6,
grids 3 -> 200). "min" = the smallest shape (fewest edges) with test RMSE < {s['threshold']}.
Compute: {minutes:.1f} CPU-minutes.

![special functions](special.png)

{markdown_table(['function', 'min shape', 'min RMSE', 'paper min shape', 'paper min RMSE',
                 'best KAN', 'best RMSE', 'paper best shape', 'paper best RMSE',
                 'MLP RMSE', 'paper MLP RMSE'], rows)}

Our best KAN is at or below the paper's best RMSE on {wins} of {len(summary)} functions.
Files: runs.csv (every model and grid), table1.csv (the table above).
"""
    write_markdown(ctx.out / "README.md", text)
