"""`kanrun report`: read the run folders of one or more sweeps and write one summary.

    from kanrun.report import build_report
    report = build_report(["multirun/2026-01-01/10-00-00"], out="report")
    report.table          # pandas DataFrame, one row per run (also summary.csv)

Files written into ``out``: ``summary.csv``, ``summary.md``, ``pareto.png``,
``rmse_vs_grid.png`` and, when runs have a ground-truth formula, ``recovery.md`` and
``recovery.tex``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kanrun.common.atomic import write_text
from kanrun.report.pareto import pareto_front
from kanrun.report.runs import ReportInputError, find_run_dirs, read_run
from kanrun.report.summary import failures, sort_table, summary_table
from kanrun.report.tables import (
    HEADER,
    format_cell,
    latex_table,
    markdown_table,
    recovery_rows,
)

__all__ = ["Report", "ReportInputError", "build_report", "find_run_dirs", "pareto_front",
           "read_run", "summary_table"]

log = logging.getLogger(__name__)


@dataclass
class Report:
    table: pd.DataFrame
    out: Path
    files: list[Path] = field(default_factory=list)
    recovery: list[list[str]] = field(default_factory=list)

    @property
    def failures(self) -> pd.DataFrame:
        return failures(self.table)


def _write_text(path: Path, text: str) -> None:
    """Write atomically (a report may be rebuilt while someone reads it)."""
    write_text(path, text)


def build_report(paths: list[str | Path], out: str | Path, sort: str = "test_rmse",
                 descending: bool | None = None, plots: bool = True) -> Report:
    """Read every run under ``paths`` and write the summary files into ``out``.

    Raises ReportInputError when a path does not exist or no run is found, KeyError for an
    unknown sort column.
    """
    run_dirs = find_run_dirs(paths)
    records = [read_run(run_dir) for run_dir in run_dirs]
    table = sort_table(summary_table(records), sort, descending)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(table=table, out=out)

    _write_text(out / "summary.csv", table.to_csv(index=False))
    report.files.append(out / "summary.csv")
    shown = table.drop(columns=["run_dir", "formula_latex"])
    cells = [[format_cell(str(c), v) for c, v in zip(shown.columns, row, strict=True)]
             for row in shown.astype(object).values.tolist()]
    _write_text(out / "summary.md", markdown_table([str(c) for c in shown.columns], cells))
    report.files.append(out / "summary.md")

    report.recovery = recovery_rows(table)
    if report.recovery:
        _write_text(out / "recovery.md", markdown_table(HEADER, report.recovery))
        _write_text(out / "recovery.tex", latex_table(
            HEADER, recovery_rows(table, latex=True), caption="Formulas recovered by KANs"))
        report.files += [out / "recovery.md", out / "recovery.tex"]

    if plots:
        from kanrun.report.plots import grid_figure, pareto_figure

        for name, fig in (("pareto.png", pareto_figure(table)),
                          ("rmse_vs_grid.png", grid_figure(records))):
            if fig is not None:
                fig.savefig(out / name, dpi=120)
                report.files.append(out / name)
    return report
