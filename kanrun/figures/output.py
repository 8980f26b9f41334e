"""Writing a figure's files: PNG (no pyplot state), CSV and the README.md comparison."""

from __future__ import annotations

import math
from pathlib import Path

from kanrun.pipeline import artifacts
from kanrun.pipeline.plots import save_figure


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: Path) -> None:
    save_figure(fig, path)


def write_csv(path: Path, columns: list[str], rows: list) -> None:
    artifacts.write_csv(path, columns, [row if isinstance(row, dict)
                                        else dict(zip(columns, row, strict=True)) for row in rows])


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    artifacts.write_text(path, text.rstrip() + "\n")


def log_slope(xs, ys) -> float | None:
    """Least-squares slope of log10(y) against log10(x) (None with fewer than 2 points)."""
    pts = [(math.log10(x), math.log10(y)) for x, y in zip(xs, ys, strict=True)
           if x and y and x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def positive(values):
    return [v if v is not None and v > 0 else float("nan") for v in values]
