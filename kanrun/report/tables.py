"""Recovery tables for formula sweeps (like Table 2 of the KAN paper), as markdown and LaTeX.

One row per equation: the best run (recovered first, then smallest test RMSE), its pruned
shape, KAN test RMSE, the formula found, whether it was recovered and in how many runs.
"""

from __future__ import annotations

import math

import pandas as pd

HEADER = ["equation", "truth", "pruned shape", "KAN RMSE", "formula", "recovered", "runs"]


class Latex(str):
    """A table cell that is already LaTeX (not escaped)."""


def recovery_rows(table: pd.DataFrame, latex: bool = False) -> list[list[str]]:
    """Rows of the recovery table; empty when no run has a ground-truth formula.
    With ``latex``, the formula cell is the run's LaTeX formula in math mode."""
    with_truth = table[table["truth"].notna()]
    every_run = table.groupby("equation", sort=True, dropna=False)
    rows = []
    for equation, group in with_truth.groupby("equation", sort=True, dropna=False):
        runs = len(every_run.get_group(equation)) if equation == equation else len(group)
        failed = runs - int((group["status"] == "completed").sum())
        recovered = group["recovered"].map(lambda v: v is True or v == "True")
        ranked = group.assign(_rec=recovered).sort_values(
            ["_rec", "test_rmse"], ascending=[False, True], na_position="last")
        best = ranked.iloc[0]
        formula = str(best["formula"] or "")
        if latex and isinstance(best.get("formula_latex"), str):
            formula = Latex("$" + best["formula_latex"] + "$")
        rows.append([
            str(equation), str(best["truth"]), str(best["width"] or ""),
            _format_rmse(best["test_rmse"]), formula,
            "yes" if best["_rec"] else "no",
            f"{int(recovered.sum())}/{runs}" + (f" ({failed} failed)" if failed else ""),
        ])
    return rows


def _format_rmse(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{number:.2e}" if math.isfinite(number) else ""


# columns holding counts, errors and times (summary tables)
INT_COLUMNS = {"n_params", "n_params_spline", "n_edges", "grid", "stages_done"}
ERROR_COLUMNS = {"train_rmse", "test_rmse", "formula_test_rmse", "train_accuracy",
                 "test_accuracy"}


def format_cell(column: str, value) -> str:
    """A table cell: counts as integers, errors with 3 significant digits, seconds with one
    decimal, other numbers with at most 4 significant digits; missing values empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if column in INT_COLUMNS and float(value).is_integer():
        return str(int(value))
    if column in ERROR_COLUMNS:
        return f"{value:.3g}" if "accuracy" in column else f"{value:.3e}"
    if column == "seconds":
        return f"{value:.1f}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                 "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(header: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    """A booktabs tabular; truths and plain-text formulas set in \\texttt, cells of type
    Latex kept as they are."""
    code_columns = {header.index(name) for name in ("truth", "formula") if name in header}

    def render(index: int, cell: str) -> str:
        if isinstance(cell, Latex):
            return str(cell)
        if index in code_columns:
            return r"\texttt{" + latex_escape(cell) + "}"
        return latex_escape(cell)

    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{" + "l" * len(header) + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in rows:
        lines.append(" & ".join(render(i, c) for i, c in enumerate(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
