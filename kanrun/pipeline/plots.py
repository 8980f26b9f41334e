"""The run's figures: loss curves with stage boundaries, the grid-extension curve, and the
model's own network diagram. Figures are built without pyplot (no global state) and saved
atomically as PNG.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from kanrun.common.atomic import write_bytes

log = logging.getLogger(__name__)


def _figure(width: float = 6.4, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes(path, buffer.getvalue())


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (80, 0.003, 1e-05), not 8x10^1, on major and
    minor ticks alike."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    lo, hi = axis.get_view_interval()
    if lo > 0 and hi / lo < 100:  # under two decades: label the minor ticks too
        axis.set_minor_locator(LogLocator(subs=(2, 5)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    else:
        axis.set_minor_formatter(NullFormatter())


def _positive(values):
    return [v if v is not None and v > 0 else float("nan") for v in values]


def loss_figure(loss_rows: list[dict], stage_rows: list[dict] | None = None,
                task: str = "regression"):
    """Train and test RMSE per optimizer step (log scale), stages shaded and labelled.

    Stages without optimizer steps (prune, auto_symbolic) are marked by a vertical line
    where they ran. For classification the curves are sqrt(cross-entropy)."""
    fig = _figure()
    ax = fig.add_subplot()
    steps = [r["step"] for r in loss_rows]
    ax.plot(steps, _positive([r["train_rmse"] for r in loss_rows]), label="train", lw=1.2)
    ax.plot(steps, _positive([r["test_rmse"] for r in loss_rows]), label="test", lw=1.2)
    spans: list[tuple[str, int, int]] = []
    for r in loss_rows:
        if spans and spans[-1][0] == r["stage"]:
            spans[-1] = (r["stage"], spans[-1][1], r["step"])
        else:
            spans.append((r["stage"], r["step"], r["step"]))
    for i, (stage, first, last) in enumerate(spans):
        if i % 2:
            ax.axvspan(first - 0.5, last + 0.5, color="0.92", zorder=0)
        if i:
            ax.axvline(first - 0.5, color="0.6", lw=0.8, ls="--")
        ax.text((first + last) / 2, 1.0, stage, transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8)
    stepped = {stage for stage, _, _ in spans}
    boundary = {stage: first for stage, first, _ in spans}
    order = [r["stage"] for r in stage_rows or []]
    for k, stage in enumerate(order):
        if stage in stepped or stage_rows[k].get("status") != "completed":
            continue
        at = next((boundary[s] for s in order[k + 1:] if s in boundary),
                  loss_rows[-1]["step"] + 1 if loss_rows else 0)
        ax.axvline(at - 0.5, color="tab:purple", lw=1.0, ls=":")
        ax.text(at - 0.5, 0.97, f" {stage}", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=7, color="tab:purple", rotation=90)
    if loss_rows:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("sqrt(cross-entropy)" if task == "classification" else "RMSE")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def grid_points(loss_rows: list[dict], stage_rows: list[dict]) -> list[tuple[int, float]]:
    """(grid, test RMSE at the end of training on that grid) along grid_extend."""
    points: list[tuple[int, float]] = []
    names = [s["stage"] for s in stage_rows]
    if "grid_extend" in names:
        index = names.index("grid_extend")
        if index > 0:
            before = stage_rows[index - 1]
            points.append((int(before["grid"]), float(before["test_rmse"])))
    last: dict[int, float] = {}
    for r in loss_rows:
        if r["stage"] == "grid_extend":
            last[int(r["grid"])] = float(r["test_rmse"])
    points += sorted(last.items())
    return points


def grid_figure(points: list[tuple[int, float]]):
    """Test RMSE against grid size (log-log), the KAN paper's grid-extension curve."""
    from matplotlib.ticker import NullLocator

    fig = _figure(5.0, 4.0)
    ax = fig.add_subplot()
    ax.plot([p[0] for p in points], _positive([p[1] for p in points]), "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([p[0] for p in points], [str(p[0]) for p in points], minor=False)
    ax.xaxis.set_minor_locator(NullLocator())
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("grid intervals")
    ax.set_ylabel("test RMSE")
    ax.set_title("grid extension", fontsize=10)
    return fig


def write_run_plots(plots_dir: Path, loss_rows: list[dict], stage_rows: list[dict],
                    task: str = "regression") -> None:
    save_figure(loss_figure(loss_rows, stage_rows, task), plots_dir / "losses.png")
    points = grid_points(loss_rows, stage_rows)
    if len(points) >= 2:
        save_figure(grid_figure(points), plots_dir / "grid_extension.png")


def write_network_plot(path: Path, model, x, in_vars, out_vars) -> None:
    """The model's own diagram (KAN.plot) on ``x``, written to ``path``."""
    save_figure(model.plot(x=x, in_vars=list(in_vars), out_vars=list(out_vars)), path)
