"""Find kanrun run folders and read each into one flat record (a row of summary.csv).

A run folder is a folder holding ``.hydra/config.yaml`` (written by Hydra before the run
starts) or ``metrics.json``. Every file may be missing or half-written: a run that is still
going, one that failed, one whose config was rejected. Reading never raises for a bad run;
the record says what is missing in ``status`` and ``error``.
"""

from __future__ import annotations

import glob
import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml

from kanrun.pipeline.artifacts import read_stage_rows
from kanrun.pipeline.legacy import translate_override

log = logging.getLogger(__name__)

# the columns of summary.csv after the swept overrides, in order
RESULT_COLUMNS = [
    "status", "test_rmse", "train_rmse", "formula_test_rmse", "n_params", "n_params_spline",
    "n_edges", "width", "shape", "grid", "seconds", "stages_done", "recovered", "equation",
    "truth", "formula", "error", "run_dir", "formula_latex",
]
# overrides that never describe an experiment (display, logging)
IGNORED_OVERRIDES = {"quiet", "hydra.sweep.dir", "hydra.run.dir", "hydra.sweep.subdir"}
SKIPPED_FOLDERS = {".hydra", "checkpoints", "plots", ".submitit", "report", "__pycache__"}


class ReportInputError(ValueError):
    """The paths given to the report hold no run folders (or do not exist)."""


def is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file() or (path / "metrics.json").is_file()


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Every run folder at or below ``paths`` (folders or glob patterns), sorted, unique.

    Raises ReportInputError naming the first path that does not exist, or when none of
    them holds a run folder.
    """
    roots: list[Path] = []
    for item in paths:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_dir())
            if not matches:
                raise ReportInputError(f"no folder matches {text!r}")
            roots.extend(matches)
        else:
            path = Path(text)
            if not path.is_dir():
                raise ReportInputError(f"no such folder: {text}")
            roots.append(path)
    found: dict[Path, None] = {}
    for root in roots:
        for run_dir in _walk(root.resolve()):
            found[run_dir] = None
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise ReportInputError(
            f"no kanrun runs found under {where} (a run folder holds .hydra/config.yaml or "
            f"metrics.json; a sweep folder holds one run folder per job)")
    return sorted(found, key=_natural_key)


def _walk(root: Path):
    if is_run_dir(root):
        yield root
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return
    for child in children:
        if child.name not in SKIPPED_FOLDERS:
            yield from _walk(child)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in path.parts]


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _shape_text(width: Any) -> str | None:
    if width is None:
        return None
    if isinstance(width, (list, tuple)):
        return "[" + ",".join(_shape_text(w) or "" for w in width) + "]"
    return str(width).replace(" ", "")


def parse_overrides(overrides: Any) -> dict[str, str]:
    """``["a.b=1", "+experiment=x"]`` -> ``{"a.b": "1", "+experiment": "x"}`` (kept as text;
    an old run's ``regularization.lamb`` is read as ``pipeline.stages.sparsify.lamb``, its
    ``grid.grids`` as ``pipeline.stages.grid_extend.grids``)."""
    result: dict[str, str] = {}
    if not isinstance(overrides, list):
        return result
    for item in overrides:
        key, sep, value = translate_override(str(item)).partition("=")
        key = key.lstrip("~")
        if sep and key.lstrip("+") not in IGNORED_OVERRIDES:
            result[key.lstrip("+") if key.startswith("++") else key] = value
    return result


def _equation(config: dict) -> str | None:
    dataset = config.get("dataset") if isinstance(config, dict) else None
    if not isinstance(dataset, dict):
        return None
    for key in ("equation", "function", "expr", "path"):
        if dataset.get(key):
            return str(dataset[key])
    return dataset.get("name")


def _last_error_line(log_path: Path) -> str | None:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        position = line.lower().rfind("error:")
        if position >= 0:
            return line[position + len("error:"):].strip() or line.strip()
    return None


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run folder -> one record (overrides under ``overrides``, results flat)."""
    run_dir = Path(run_dir)
    config = _read_yaml(run_dir / ".hydra" / "config.yaml")
    config = config if isinstance(config, dict) else {}
    metrics = _read_json(run_dir / "metrics.json")
    formula = _read_json(run_dir / "formula.json") or {}
    stages = read_stage_rows(run_dir / "stages.csv")
    model = config.get("model") if isinstance(config.get("model"), dict) else {}

    record: dict[str, Any] = {
        "run_dir": str(run_dir),
        "overrides": parse_overrides(_read_yaml(run_dir / ".hydra" / "overrides.yaml")),
        "shape": _shape_text(model.get("width")),
        "equation": _equation(config),
    }
    last = stages[-1] if stages else {}
    spline_rows = [row for row in stages if _number(row.get("n_params")) > 0]
    record["n_params_spline"] = (_number(spline_rows[-1]["n_params"]) if spline_rows
                                 else math.nan)
    if metrics is not None:
        record.update({
            "status": str(metrics.get("status") or "unknown"),
            "error": metrics.get("error"),
            "train_rmse": _number(metrics.get("train_rmse")),
            "test_rmse": _number(metrics.get("test_rmse")),
            "formula_test_rmse": _number(metrics.get("formula_test_rmse")),
            "n_params": _number(metrics.get("n_params")),
            "n_edges": _number(metrics.get("n_edges")),
            "width": _shape_text(metrics.get("width")),
            "grid": _number(metrics.get("grid")),
            "seconds": _number(metrics.get("seconds")),
            "stages_done": len(metrics.get("stages_done") or []),
            "recovered": metrics.get("recovered"),
        })
    else:
        # still running, killed, or rejected before the first stage: use what is there
        if not stages and not (run_dir / "state.json").is_file():
            status = "failed"
            error = (_last_error_line(run_dir / "run.log")
                     or "no metrics.json and no completed stage (invalid config, or not "
                        "started)")
        else:
            status = "incomplete"
            error = "no metrics.json (still running, or stopped without writing it)"
        record.update({
            "status": status, "error": error,
            "train_rmse": _number(last.get("train_rmse")),
            "test_rmse": _number(last.get("test_rmse")),
            "formula_test_rmse": math.nan,
            "n_params": _number(last.get("n_params")),
            "n_edges": _number(last.get("n_edges")),
            "width": _shape_text(last.get("width")),
            "grid": _number(last.get("grid")),
            "seconds": sum(_number(row.get("seconds")) for row in stages) if stages
            else math.nan,
            "stages_done": sum(1 for row in stages if row.get("status") == "completed"),
            "recovered": None,
        })
    outputs = formula.get("outputs") if isinstance(formula.get("outputs"), list) else []
    outputs = [o for o in outputs if isinstance(o, dict)]
    record["formula"] = "; ".join(f"{o.get('name', 'y')} = {o.get('expr')}" for o in outputs
                                  if o.get("expr")) or None
    latex = [f"{o.get('name', 'y')} = {o['latex']}" for o in outputs if o.get("latex")]
    record["formula_latex"] = "; ".join(latex) or None
    truths = [str(o["truth"]) for o in outputs if o.get("truth")]
    record["truth"] = "; ".join(truths) or None
    if record["recovered"] is None and "recovered" in formula:
        record["recovered"] = formula.get("recovered")
    record["grid_curve"] = [(_number(row.get("grid")), _number(row.get("test_rmse")))
                            for row in spline_rows]
    return record
