"""Real sweeps through `kanrun train -m` with the basic, joblib and Optuna plugins, each
followed by `kanrun report` (one failing job per sweep must not stop the others)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

SMOKE = ["+experiment=smoke", "quiet=true"]
BAD_WIDTH = "model.width starts with 3 input(s) but the dataset has 2"


def _summary(kanrun_cli, sweep_dir: Path, cwd: Path) -> tuple[pd.DataFrame, str]:
    result = kanrun_cli("report", sweep_dir, "--out", cwd / "report", cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(cwd / "report" / "summary.csv", dtype={"model.width": str}), result.stdout


def test_basic_sweep_with_a_failing_job_then_report(kanrun_cli, tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    result = kanrun_cli("train", "-m", *SMOKE, "model.width=[2,3,1],[3,3,1]",
                        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert result.returncode == 1  # the sweep finished, and says that one job failed
    assert "1 job(s) of the sweep failed" in result.stderr
    table, printed = _summary(kanrun_cli, sweep_dir, tmp_path)
    assert len(table) == 2
    records = table.to_dict("records")
    rows = {width: row for width, row in zip(table["model.width"], records, strict=True)}
    assert rows["[2,3,1]"]["status"] == "completed"
    assert rows["[2,3,1]"]["test_rmse"] < 1e-2 and rows["[2,3,1]"]["grid"] == 5
    assert rows["[3,3,1]"]["status"] == "failed" and BAD_WIDTH in rows["[3,3,1]"]["error"]
    assert "1 run(s) did not complete" in printed and BAD_WIDTH in printed
    assert (tmp_path / "report" / "pareto.png").stat().st_size > 1000


def test_joblib_sweep_runs_jobs_in_worker_processes(kanrun_cli, tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    result = kanrun_cli("train", "-m", *SMOKE, "+launcher=local", "hydra.launcher.n_jobs=2",
                        "seed=0,1", "model.width=[2,3,1],[3,3,1]",
                        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    assert result.returncode == 1  # failures in worker processes reach the exit code
    assert "2 job(s) of the sweep failed" in result.stderr
    table, _ = _summary(kanrun_cli, sweep_dir, tmp_path)
    assert len(table) == 4
    assert sorted(table["status"]) == ["completed", "completed", "failed", "failed"]
    for job in range(4):
        config = yaml.safe_load((sweep_dir / str(job) / ".hydra" / "config.yaml").read_text())
        assert config["num_threads"] == 1
        hydra_cfg = yaml.safe_load((sweep_dir / str(job) / ".hydra" / "hydra.yaml").read_text())
        assert hydra_cfg["hydra"]["launcher"]["_target_"].endswith("JoblibLauncher")


@pytest.mark.slow
def test_optuna_search_resumes_from_its_sqlite_file(kanrun_cli, tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install kanrun[search]")
    database = tmp_path / "study.db"
    common = ["train", "-m", *SMOKE, "+hparams_search=optuna", "hydra.sweeper.n_trials=2",
              "pipeline.stages.grid_extend.grids=[10]",
              f"hydra.sweeper.storage=sqlite:///{database}"]
    first = kanrun_cli(*common, f"hydra.sweep.dir={tmp_path / 'first'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = kanrun_cli(*common, f"hydra.sweep.dir={tmp_path / 'second'}", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    with sqlite3.connect(database) as db:
        trials = db.execute("SELECT trial_id, state FROM trials ORDER BY trial_id").fetchall()
        values = [v for (v,) in db.execute("SELECT value FROM trial_values")]
    assert [state for _, state in trials] == ["COMPLETE"] * 4  # 2 + 2 in one study
    best = yaml.safe_load((tmp_path / "second" / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(values))
    table, _ = _summary(kanrun_cli, tmp_path / "*", tmp_path)
    assert len(table) == 4 and (table["status"] == "completed").all()
    assert {"pipeline.stages.sparsify.lamb", "model.grid"} <= set(table.columns)
    assert sorted(table["test_rmse"]) == pytest.approx(sorted(values), rel=1e-6)
