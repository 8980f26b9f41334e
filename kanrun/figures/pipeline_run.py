"""A figure job that is one `kanrun train` run, composed in-process from the packaged configs."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from kanrun.pipeline.artifacts import read_stage_rows


def pipeline_job(job: dict) -> dict:
    """One `kanrun train` run (composed in-process) into ``job['run_dir']``."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from kanrun.pipeline import register_configs
    from kanrun.pipeline.execute import execute
    from kanrun.pipeline.legacy import translate_override

    run_dir = Path(job["run_dir"])
    if run_dir.exists():  # a run that stopped half-way: start it again
        shutil.rmtree(run_dir)
    register_configs()
    with initialize_config_module(config_module="kanrun.configs", version_base="1.3"):
        cfg = compose("train", overrides=[translate_override(o) for o in job["overrides"]])
    OmegaConf.update(cfg, "dataset", job["dataset"], merge=True)
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code, metrics = execute(cfg, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "figure_job.log").write_text(log.getvalue())
    stages = {row["stage"]: row for row in read_stage_rows(run_dir / "stages.csv")}
    numeric = stages.get("grid_extend") or stages.get("prune") or stages.get("train") or {}
    metrics = metrics or {}
    return {
        "exit_code": code,
        "width": metrics.get("width"),
        "kan_test_rmse": float(numeric["test_rmse"]) if numeric.get("test_rmse") else None,
        "unpruned_test_rmse": (float(stages["sparsify"]["test_rmse"])
                               if "sparsify" in stages else None),
        "formula_test_rmse": metrics.get("formula_test_rmse"),
        "recovered": metrics.get("recovered"),
        "formula": _formula(run_dir),
        "seconds": metrics.get("seconds"),
    }


def _formula(run_dir: Path) -> str | None:
    path = run_dir / "formula.txt"
    if not path.is_file():
        return None
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    return lines[0] if lines else None
