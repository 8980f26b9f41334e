"""Records of runs -> one table (pandas DataFrame): swept overrides, then results."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from kanrun.report.pareto import pareto_front
from kanrun.report.runs import RESULT_COLUMNS

# sort keys where bigger is better
DESCENDING = {"recovered", "stages_done", "pareto"}


def swept_keys(records: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value differs between runs (all of them for a single run)."""
    keys: dict[str, None] = {}
    for record in records:
        for key in record["overrides"]:
            keys[key] = None
    if len(records) <= 1:
        return list(keys)
    return [key for key in keys
            if len({record["overrides"].get(key) for record in records}) > 1]


def summary_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: the swept overrides, the result columns, and ``pareto``."""
    swept = swept_keys(records)
    rows = []
    for record in records:
        row = {key: record["overrides"].get(key) for key in swept}
        row.update({column: record.get(column) for column in RESULT_COLUMNS})
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*swept, *RESULT_COLUMNS])
    cost = [_cost(row) for row in rows]
    error = [_float(row.get("test_rmse")) for row in rows]
    table.insert(table.columns.get_loc("n_params_spline") + 1, "pareto",
                 pareto_front(cost, error))
    return table


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _cost(row: dict[str, Any]) -> float:
    """Parameter count of a run for the Pareto front: the spline network's (before any
    symbolic stage replaced its edges by formulas), else the final count."""
    spline = _float(row.get("n_params_spline"))
    return spline if math.isfinite(spline) else _float(row.get("n_params"))


def sort_table(table: pd.DataFrame, column: str, descending: bool | None = None) -> pd.DataFrame:
    """Sort by ``column`` (missing values last); ``descending`` defaults to False except
    for columns where bigger is better (recovered, stages_done)."""
    if column not in table.columns:
        raise KeyError(f"unknown sort column {column!r}; columns: {', '.join(table.columns)}")
    if descending is None:
        descending = column in DESCENDING
    key = table[column]
    if key.dtype == object:
        numeric = pd.to_numeric(key, errors="coerce")
        if numeric.notna().sum() == key.notna().sum():
            key = numeric
        else:
            key = key.astype(str).where(key.notna())
    order = key.sort_values(ascending=not descending, na_position="last", kind="stable").index
    return table.loc[order].reset_index(drop=True)


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not complete, with their reason."""
    return table[table["status"] != "completed"]
