"""The hellokan walkthrough (paper Fig 2.4): the network plot after each pipeline stage."""

from __future__ import annotations

from pathlib import Path

from kanrun.pipeline.artifacts import read_stage_rows

from .context import FigureContext, sci
from .output import markdown_table, new_figure, save_png, write_markdown
from .pipeline_run import pipeline_job

ABOUT = "paper Fig 2.4 / hellokan: the network after each pipeline stage, and the formula"

# pykan hellokan.ipynb (0.2.x, float64, seed 42): (train RMSE, test RMSE) after each step
PYKAN = {"train": (1.85e-2, 1.77e-2), "prune": (1.79e-2, 1.72e-2),
         "grid_extend": (4.67e-4, 4.73e-4), "fit_symbolic": (3.33e-10, 7.20e-11)}
PYKAN_FORMULA = "1.0*exp(1.0*x_2**2 + 1.0*sin(3.1416*x_1))"


def run(ctx: FigureContext) -> None:
    s = ctx.settings()
    run_dir = (ctx.out / "run").resolve()
    job = {"run_dir": str(run_dir), "overrides": list(s["overrides"]), "dataset": {}}
    (res,) = ctx.map(pipeline_job, [job], label=lambda j: "hellokan pipeline")
    stages = read_stage_rows(run_dir / "stages.csv")
    panels = [(row["stage"], run_dir / "plots" / f"network_{row['stage']}.png")
              for row in stages]
    panels = [(name, path) for name, path in panels if path.is_file()]
    _montage(ctx.out / "hellokan.png", panels)
    _readme(ctx, s, res, stages)


def _montage(path: Path, panels) -> None:
    from matplotlib.image import imread

    cols = 3
    rows = max(1, -(-len(panels) // cols))
    fig = new_figure(4 * cols, 3.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (name, png) in zip(axes, panels, strict=False):
        ax.imshow(imread(png))
        ax.set_title(f"after {name}", fontsize=10)
    save_png(fig, path)


def _readme(ctx, s, res, stages) -> None:
    rows = []
    for row in stages:
        theirs = PYKAN.get(row["stage"], (None, None))
        rows.append([row["stage"], row.get("width", "-"), row.get("grid", "-"),
                     sci(_float(row.get("train_rmse"))), sci(_float(row.get("test_rmse"))),
                     sci(theirs[0]), sci(theirs[1]), row.get("seconds", "-")])
    text = f"""# hellokan walkthrough (paper Fig 2.4){' — quick variant' if ctx.quick else ''}

`kanrun train {' '.join(s['overrides'])}`: exp(sin(pi x1) + x2^2) on a [2, 5, 1] KAN,
trained, sparsified, pruned, grid-extended, made symbolic and refitted. The run folder is
run/ (losses, stages, per-stage network plots, formula).

![network after each stage](hellokan.png)

Formula: `{res['formula']}` (recovered: {res['recovered']}; test RMSE of the formula
{sci(res['formula_test_rmse'])}). pykan's tutorial ends with `{PYKAN_FORMULA}`.

{markdown_table(['stage', 'width', 'grid', 'train RMSE', 'test RMSE', 'pykan train',
                 'pykan test', 'seconds'], rows)}

pykan column: pykan's hellokan.ipynb (0.2.x, float64, seed 42, lamb=1e-3); its rows are
measured after retraining: prune = prune then 50 steps, grid_extend = refine(10) then 50
steps, fit_symbolic = auto_symbolic then 50 steps. Ours are right after each stage.
Pipeline time: {res['seconds']:.0f} s (one thread).
"""
    write_markdown(ctx.out / "README.md", text)


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
