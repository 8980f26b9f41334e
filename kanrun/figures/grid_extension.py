"""Paper Fig 2.3: grid extension on exp(sin(pi x) + y^2) — the staircase and RMSE vs G."""

from __future__ import annotations

from .context import FigureContext, sci
from .output import markdown_table, new_figure, positive, save_png, write_csv, write_markdown
from .training import kan_schedule, kan_schedules, same_but_seed

ABOUT = "paper Fig 2.3: grid extension 3 -> 1000 on exp(sin(pi x)+y^2), [2,1,1] and [2,5,1]"

# test RMSE per grid, from ../shared/reference/paper-results.md (section 1a)
PYKAN_028 = {
    "[2, 1, 1]": {3: 1.4e-2, 5: 7.2e-3, 10: 4.9e-4, 20: 1.4e-4, 50: 6.6e-5, 100: 6.9e-5,
                  200: 4.0e-4, 500: 3.7},
    "[2, 5, 1]": {3: 1.7e-3, 5: 6.5e-4, 10: 2.2e-4, 20: 6.3e-5, 50: 6.5e-5, 100: 1.1e-4,
                  200: 0.29},
}
PYKAN_00_DOCS = {"[2, 1, 1]": {5: 6.6e-3, 10: 4.2e-4, 20: 4.5e-5, 50: 1.0e-5, 100: 8.2e-6}}
TARGET_G50 = 1e-5
DIVERGED = 1e-2  # a test RMSE above this at a large grid counts as diverged


def shape_name(width) -> str:
    return str([int(w) for w in width])


def _jobs(s: dict) -> list[dict]:
    return [{"dataset": s["dataset"], "dtype": s["dtype"], "width": list(width),
             "grids": list(s["grids"]), "steps": int(s["steps"]), "seed": int(seed),
             "update_grid": s["update_grid"], "refine_margin": s["refine_margin"],
             "record_steps": True}
            for width in s["shapes"] for seed in s["seeds"]]


def best_run(runs: list[dict]) -> dict:
    """The seed with the lowest final *train* RMSE (the model a user would keep)."""
    return min(runs, key=lambda r: r["rows"][-1]["train_rmse"] or float("inf"))


def run(ctx: FigureContext) -> None:
    s = ctx.settings()
    jobs = _jobs(s)
    results = ctx.map(kan_schedule, jobs,
                      label=lambda j: f"{shape_name(j['width'])} seed {j['seed']}",
                      batched=(kan_schedules, same_but_seed))
    by_shape: dict[str, list[dict]] = {}
    grid_rows, step_rows = [], []
    for job, res in zip(jobs, results, strict=True):
        name = shape_name(job["width"])
        by_shape.setdefault(name, []).append({**res, "seed": job["seed"]})
        for row in res["rows"]:
            grid_rows.append({"shape": name, "seed": job["seed"], **row})
        for step, (grid, tr, te) in enumerate(res["steps"], start=1):
            step_rows.append({"shape": name, "seed": job["seed"], "step": step, "grid": grid,
                              "train_rmse": tr, "test_rmse": te})
    write_csv(ctx.out / "grids.csv", ["shape", "seed", "grid", "n_params", "train_rmse",
                                      "test_rmse", "seconds", "status"], grid_rows)
    write_csv(ctx.out / "steps.csv", ["shape", "seed", "step", "grid", "train_rmse",
                                      "test_rmse"], step_rows)
    best = {name: best_run(runs) for name, runs in by_shape.items()}
    _plot(ctx, best, s)
    _readme(ctx, s, by_shape, best)


def _plot(ctx: FigureContext, best: dict, s: dict) -> None:
    fig = new_figure(11, 4.2)
    ax_steps, ax_grid = fig.subplots(1, 2)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for color, (name, run) in zip(colors, best.items(), strict=False):
        steps = list(range(1, len(run["steps"]) + 1))
        ax_steps.plot(steps, positive([r[1] for r in run["steps"]]), color=color, lw=1,
                      label=f"{name} train")
        ax_steps.plot(steps, positive([r[2] for r in run["steps"]]), color=color, lw=1,
                      ls="--", label=f"{name} test")
        grids = [r["grid"] for r in run["rows"]]
        ax_grid.plot(grids, positive([r["test_rmse"] for r in run["rows"]]), "o-",
                     color=color, label=f"{name} test (seed {run['seed']})")
        ax_grid.plot(grids, positive([r["train_rmse"] for r in run["rows"]]), "x:",
                     color=color, alpha=0.6, label=f"{name} train")
    ref = best.get("[2, 1, 1]") or next(iter(best.values()))
    anchor = next((r for r in ref["rows"] if r["test_rmse"]), None)
    if anchor is not None:
        gs = [g for g in s["grids"] if g >= anchor["grid"]]
        for power, style in ((3, "k--"), (4, "k:")):
            ax_grid.plot(gs, [anchor["test_rmse"] * (g / anchor["grid"]) ** -power for g in gs],
                         style, lw=1, label=f"G^-{power}")
    for i in range(1, len(s["grids"])):
        ax_steps.axvline(i * s["steps"], color="0.85", lw=0.8)
    ax_steps.set(yscale="log", xlabel="LBFGS step", ylabel="RMSE",
                 title=f"grid extension every {int(s['steps'])} steps")
    ax_grid.set(xscale="log", yscale="log", xlabel="grid size G", ylabel="RMSE",
                title="RMSE after each grid")
    ax_steps.legend(fontsize=7)
    ax_grid.legend(fontsize=7)
    save_png(fig, ctx.out / "grid_extension.png")


def _readme(ctx: FigureContext, s: dict, by_shape: dict, best: dict) -> None:
    grids = list(s["grids"])
    header = ["source"] + [f"G={g}" for g in grids]
    rows = []
    for name, runs in by_shape.items():
        b = best[name]
        test = {r["grid"]: r["test_rmse"] for r in b["rows"]}
        rows.append([f"**kanrun {name}** (seed {b['seed']}, best of {len(runs)} by train RMSE)"]
                    + [sci(test.get(g)) for g in grids])
        for run in runs:
            if run is not b:
                t = {r["grid"]: r["test_rmse"] for r in run["rows"]}
                rows.append([f"kanrun {name} seed {run['seed']}"] + [sci(t.get(g)) for g in grids])
        if name in PYKAN_028:
            rows.append([f"pykan 0.2.8 {name} (measured, seed 0)"]
                        + [sci(PYKAN_028[name].get(g)) for g in grids])
        if name in PYKAN_00_DOCS:
            rows.append([f"pykan 0.0 docs {name} (50 steps/G)"]
                        + [sci(PYKAN_00_DOCS[name].get(g)) for g in grids])
    checks = []
    b = best.get("[2, 1, 1]")
    if b is not None:
        test = {r["grid"]: r["test_rmse"] for r in b["rows"]}
        if 50 in test:
            ok = test[50] is not None and test[50] <= TARGET_G50
            checks.append(f"- [2, 1, 1] test RMSE at G=50: {sci(test[50])} (target <= "
                          f"{sci(TARGET_G50)}; pykan 0.2.8 6.6e-05): {'met' if ok else 'NOT met'}")
    for name in by_shape:
        big = [(r["grid"], r["test_rmse"]) for r in best[name]["rows"] if r["grid"] >= 500]
        if big:
            bad = [g for g, t in big if t is None or t > DIVERGED]
            checks.append(f"- {name} at G >= 500: test RMSE "
                          + ", ".join(f"G={g} {sci(t)}" for g, t in big)
                          + (f": DIVERGED at {bad}" if bad else " (no divergence)"))
    minutes = sum(r["seconds"] for runs in by_shape.values() for run in runs
                  for r in run["rows"]) / 60
    text = f"""# Grid extension (paper Fig 2.3){' — quick variant' if ctx.quick else ''}

f(x,y) = exp(sin(pi x) + y^2), {s['dataset']['n_train']} training points, {s['dtype']},
{s['steps']} LBFGS steps per grid, grid updates from samples: {s['update_grid']},
refine margin {s['refine_margin']}.
Seeds {list(s['seeds'])}; the plotted run per shape is the seed with the lowest final train RMSE.
Compute: {minutes:.1f} CPU-minutes (one thread per job).

![grid extension](grid_extension.png)

Test RMSE after each grid:

{markdown_table(header, rows)}

{chr(10).join(checks)}

Files: grids.csv (one row per shape, seed and grid), steps.csv (every LBFGS step).
"""
    write_markdown(ctx.out / "README.md", text)
