"""Files of a run folder, each written atomically (a temporary file renamed into place).

A reader (a sweep report, a crashed run's resume) never sees half a file: either the old
version or the new one (`kanrun.common.atomic`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from kanrun.common.atomic import write_text

LOSS_COLUMNS = ("stage", "step", "grid", "train_rmse", "test_rmse", "reg", "seconds")
STAGE_COLUMNS = ("stage", "width", "n_params", "n_edges", "grid", "train_rmse", "test_rmse",
                 "seconds", "status")

def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, obj) -> None:
    """JSON with NaN/inf written as null (strict JSON readers reject NaN)."""
    write_text(path, json.dumps(_json_safe(obj), indent=2) + "\n")


def read_json(path: Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly through float()
    return str(value)


def write_csv(path: Path, columns, rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(col)) for col in columns])
    write_text(path, buffer.getvalue())


def read_stage_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a stages.csv as strings ([] when the file is missing or unreadable)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return [row for row in csv.DictReader(handle) if row.get("stage")]
    except (OSError, csv.Error):
        return []


def read_loss_rows(path: Path) -> list[dict]:
    """Rows of a losses.csv with their numeric types back (exactly as written)."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        out.append({
            "stage": row["stage"],
            "step": int(row["step"]),
            "grid": int(row["grid"]),
            **{key: float(row[key]) for key in ("train_rmse", "test_rmse", "reg", "seconds")},
        })
    return out
