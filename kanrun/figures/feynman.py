"""Paper Table 2: Feynman equations — pruned shapes, KAN vs MLP RMSE, recovered formulas."""

from __future__ import annotations

from pathlib import Path

from .context import FigureContext, FigureError, sci
from .feynman_table import EQUATIONS
from .output import markdown_table, new_figure, save_png, write_csv, write_markdown
from .pipeline_run import pipeline_job
from .training import mlp_job, mlp_widths

ABOUT = "paper Table 2: 27 Feynman equations, pruned shape, KAN vs MLP, recovered formula"


def _equations(s):
    if s["equations"] == "all":
        return EQUATIONS
    known = {e.name: e for e in EQUATIONS}
    unknown = [n for n in s["equations"] if n not in known]
    if unknown:
        raise FigureError(f"unknown equation(s) {unknown}; Table 2 has: {', '.join(known)}")
    return [known[n] for n in s["equations"]]


def run(ctx: FigureContext) -> None:
    s = ctx.settings()
    eqs = _equations(s)
    kan_jobs, mlp_jobs = [], []
    for e in eqs:
        data = {"name": "formula", "expr": e.expr, "ranges": e.ranges,
                "n_train": s["n_train"], "n_test": s["n_test"], "seed": s["seed"],
                "dtype": s["dtype"]}
        n = len(e.ranges)
        kan_jobs.append({
            "run_dir": str((ctx.out / "runs" / e.name).resolve()),
            "overrides": ["+experiment=feynman", "dataset=formula", f"seed={s['seed']}",
                          f"dtype={s['dtype']}", "quiet=true",
                          f"model.width=[{n},{s['hidden']},1]", *s["overrides"]],
            "dataset": {k: v for k, v in data.items() if k != "name"},
        })
        for act in s["mlp"]["activations"]:
            for width in mlp_widths(n, 1, s["mlp"]["depths"], s["mlp"]["widths"]):
                mlp_jobs.append({"dataset": data, "dtype": s["dtype"], "width": width,
                                 "activation": act, "steps": int(s["mlp"]["steps"]),
                                 "seed": int(s["seed"]), "equation": e.name})
    kans = ctx.map(pipeline_job, kan_jobs, label=lambda j: f"KAN {Path(j['run_dir']).name}")
    mlps = ctx.map(mlp_job, mlp_jobs,
                   label=lambda j: f"MLP {j['width']} {j['activation']} {j['equation']}")
    rows = []
    for e, res in zip(eqs, kans, strict=False):
        mine = [r for j, r in zip(mlp_jobs, mlps, strict=False)
                if j["equation"] == e.name and r["test_rmse"] is not None]
        best = min(mine, key=lambda r: r["test_rmse"], default=None)
        rows.append({"equation": e.name, "expr": e.expr, **res,
                     "mlp_test_rmse": best and best["test_rmse"],
                     "paper_pruned_shape": e.paper_pruned_shape,
                     "paper_pruned": e.paper_pruned, "paper_unpruned": e.paper_unpruned,
                     "paper_mlp": e.paper_mlp})
    write_csv(ctx.out / "table2.csv", list(rows[0]), rows)
    _plot(ctx, rows)
    _readme(ctx, s, rows, mlps)


def _plot(ctx, rows) -> None:
    fig = new_figure(11, 4)
    ax = fig.subplots()
    xs = list(range(len(rows)))
    for key, marker, color, label, fill in (
            ("kan_test_rmse", "o", "tab:blue", "pruned KAN (ours)", True),
            ("mlp_test_rmse", "s", "tab:orange", "MLP (ours)", True),
            ("paper_pruned", "o", "tab:blue", "pruned KAN (paper)", False),
            ("paper_mlp", "s", "tab:orange", "MLP (paper)", False)):
        ax.plot(xs, [r[key] or float("nan") for r in rows], marker, color=color, label=label,
                mfc=None if fill else "none")
    ax.set_xticks(xs, [r["equation"] for r in rows], rotation=70, fontsize=7)
    ax.set(yscale="log", ylabel="test RMSE", title="Feynman equations (paper Table 2)")
    ax.legend(fontsize=7)
    save_png(fig, ctx.out / "feynman.png")


def _readme(ctx, s, rows, mlps) -> None:
    table = [[r["equation"], f"`{r['expr']}`", r["width"] or "-", r["paper_pruned_shape"],
              sci(r["kan_test_rmse"]), sci(r["paper_pruned"]), sci(r["unpruned_test_rmse"]),
              sci(r["paper_unpruned"]), sci(r["mlp_test_rmse"]), sci(r["paper_mlp"]),
              sci(r["formula_test_rmse"]),
              {True: "yes", False: "no"}.get(r["recovered"], "-"),
              f"`{r['formula']}`" if r["formula"] else "-"] for r in rows]
    recovered = sum(1 for r in rows if r["recovered"])
    kan_wins = sum(1 for r in rows if r["kan_test_rmse"] and r["mlp_test_rmse"]
                   and r["kan_test_rmse"] <= r["mlp_test_rmse"])
    failed = [r["equation"] for r in rows if r["exit_code"]]
    minutes = (sum(r["seconds"] or 0 for r in rows)
               + sum(m["seconds"] or 0 for m in mlps)) / 60
    text = f"""# Feynman equations (paper Table 2){' — quick variant' if ctx.quick else ''}

Each equation runs the full pipeline (`kanrun train +experiment=feynman` with
`model.width=[n,{s['hidden']},1]` and {' '.join(s['overrides'])}), {s['dtype']},
{s['n_train']} training points, seed {s['seed']}; run folders under runs/NAME. MLPs:
depths {s['mlp']['depths']}, widths {s['mlp']['widths']}, {s['mlp']['activations']},
{s['mlp']['steps']} LBFGS steps; the best by test RMSE is listed. The paper reports the
best of 3 seeds over many shapes (width 5, depth 2-6). Compute: {minutes:.1f} CPU-minutes.

**Recovered exactly (`recovered`): {recovered} of {len(rows)}.** Pruned KAN at or below
our MLP: {kan_wins} of {len(rows)}.{f" Failed runs: {failed}." if failed else ""}

![feynman](feynman.png)

"pruned KAN" = test RMSE after pruning and grid extension (before symbolic snapping);
"unpruned" = after sparsification, before pruning (grid {s['overrides'][0].split('=')[1]});
"formula" = test RMSE of the exported formula.

{markdown_table(['eq', 'expression', 'pruned shape', 'paper pruned shape', 'pruned KAN',
                 'paper pruned', 'unpruned', 'paper unpruned', 'MLP', 'paper MLP', 'formula',
                 'recovered', 'formula found'], table)}

Files: table2.csv, runs/NAME/ (each run's folder: losses, stages, plots, formula).
"""
    write_markdown(ctx.out / "README.md", text)
