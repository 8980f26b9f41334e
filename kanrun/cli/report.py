"""`kanrun report SWEEP_DIR [MORE...]`: one table, plots and recovery tables for sweeps.

Reads every run folder under the given folders (or glob patterns), including runs that
failed or are still going, writes summary.csv / summary.md / pareto.png / rmse_vs_grid.png
(and recovery.md / recovery.tex for formula sweeps) into --out, and prints the best runs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
TABLE_COLUMNS = ["status", "test_rmse", "formula_test_rmse", "n_params_spline", "width",
                 "grid", "seconds", "recovered", "formula"]

HEADERS = {"test_rmse": "test RMSE", "formula_test_rmse": "formula RMSE",
           "n_params_spline": "params", "grid": "grid", "seconds": "seconds",
           "formula": "formula"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanrun report",
        description="Summarize kanrun runs: every run folder under the given sweep folders "
                    "(multirun/DATE/TIME) or glob patterns becomes one row of summary.csv.",
        epilog="examples:\n"
               "  kanrun report multirun/2026-01-01/10-00-00\n"
               "  kanrun report 'multirun/2026-01-*/*' --out report --sort seconds --top 5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="SWEEP_DIR",
                        help="sweep or run folders, or glob patterns (quote them)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: SWEEP_DIR/report for one folder, "
                             "else ./report)")
    parser.add_argument("--sort", default="test_rmse",
                        help="column to sort by (default test_rmse; any summary.csv column)")
    parser.add_argument("--descending", action="store_true",
                        help="sort from the largest value (default: smallest first, except "
                             "recovered, stages_done and pareto)")
    parser.add_argument("--top", type=int, default=10,
                        help="runs shown on the terminal (default 10; the files hold all)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    return parser


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.3e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


def _print_table(report, top: int, sort: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = report.table
    keys = [c for c in table.columns[: list(table.columns).index("status")]]
    shown = table.head(top)
    title = (f"kanrun report: {len(table)} run(s), best {len(shown)} by {sort} "
             f"({(table['status'] == 'completed').sum()} completed)")
    rich_table = Table(title=title, show_lines=False)
    rich_table.add_column("#", justify="right")
    for column in [*keys, *TABLE_COLUMNS]:
        numeric = column in HEADERS and column != "formula"
        rich_table.add_column(HEADERS.get(column, column),
                              justify="right" if numeric else "left",
                              overflow="ellipsis" if column == "formula" else "fold",
                              no_wrap=column == "formula",
                              max_width=50 if column == "formula" else None)
    for position, row in shown.iterrows():
        style = None if row["status"] == "completed" else "red"
        rich_table.add_row(str(position + 1), *[_cell(row[c]) for c in [*keys, *TABLE_COLUMNS]],
                           style=style)
    console.print(rich_table)
    failed = report.failures
    if len(failed):
        console.print(f"[red]{len(failed)} run(s) did not complete:[/red]")
        for _, row in failed.iterrows():
            console.print(f"  {row['run_dir']}: {row['status']}: {_cell(row['error'])}",
                          markup=False, highlight=False)
    if report.recovery:
        recovered = sum(1 for r in report.recovery if r[5] == "yes")
        console.print(f"formulas recovered for {recovered}/{len(report.recovery)} "
                      f"equation(s) (recovery.md, recovery.tex)")
    console.print(f"wrote {', '.join(p.name for p in report.files)} to {report.out}",
                  markup=False, highlight=False)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.top < 1:
        print("kanrun report: error: --top must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    from kanrun.report import ReportInputError, build_report

    if args.out is not None:
        out = Path(args.out)
    elif len(args.paths) == 1 and Path(args.paths[0]).is_dir():
        out = Path(args.paths[0]) / "report"
    else:
        out = Path("report")
    try:
        report = build_report(args.paths, out, sort=args.sort,
                              descending=True if args.descending else None,
                              plots=not args.no_plots)
    except ReportInputError as error:
        print(f"kanrun report: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyError as error:
        print(f"kanrun report: error: {error.args[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _print_table(report, args.top, args.sort)
    return 0
