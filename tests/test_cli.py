"""Acceptance tests: the real `kanrun` command in a subprocess (python -m kanrun.cli).

Runs are kept short with +experiment=smoke, except the one test of the embedded default.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

LOSS_COLUMNS = ["stage", "step", "grid", "train_rmse", "test_rmse", "reg", "seconds"]
STAGE_COLUMNS = ["stage", "width", "n_params", "n_edges", "grid", "train_rmse", "test_rmse",
                 "seconds"]
STAGES = ["train", "sparsify", "prune", "grid_extend", "auto_symbolic", "fit_symbolic"]
SHORT = ["+experiment=smoke", "quiet=true"]
# long enough that a SIGTERM sent once `train` has finished lands inside `sparsify`: a
# [2,4,1] sparsify step on the smoke data takes about a millisecond now (12 steps were over
# before the signal came); 200 steps on 2000 points take ~0.5 s
SPARSIFY_STEPS = 200
RESUMABLE = [*SHORT, "pipeline.stages.train.steps=8",
             f"pipeline.stages.sparsify.steps={SPARSIFY_STEPS}", "model.width=[2,4,1]",
             "dataset.n_train=2000"]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ the embedded default
def test_default_run_recovers_the_formula(kanrun_cli, tmp_path):
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    proc = kanrun_cli("train", f"hydra.run.dir={run_dir}", cwd=tmp_path, timeout=600)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    *_, formula_line, last_line = proc.stderr.strip().splitlines()
    assert formula_line.startswith("formula: y = ") and formula_line.endswith("(recovered)")
    assert re.fullmatch(r"best stage \w+ \(test RMSE [0-9.e+-]+\); run folder: .+", last_line)
    assert last_line.endswith(str(run_dir)), last_line

    formula = json.loads((run_dir / "formula.json").read_text())
    assert formula["variables"] == ["x1", "x2"]
    (out,) = formula["outputs"]
    assert out["recovered"] is True and formula["recovered"] is True
    assert out["truth"] == "exp(sin(pi*x1) + x2**2)"
    assert out["test_rmse"] < 1e-3
    assert "x_{1}" in out["latex"] and "x1" in out["expr"]
    assert out["expr"] == "exp(x2**2 + sin(pi*x1))"  # exact constants: pi, not 3.1416
    assert (run_dir / "formula.txt").read_text().startswith("y = exp(")
    assert (run_dir / "formulas.csv").is_file()
    assert "\\begin{equation}" in (run_dir / "formula.tex").read_text()

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["error"] is None
    assert metrics["test_rmse"] < 1e-3 and metrics["train_rmse"] < 1e-3
    assert metrics["formula_test_rmse"] == pytest.approx(out["test_rmse"])
    assert metrics["width"] == "[2,1,1]" and metrics["grid"] == 20
    assert isinstance(metrics["n_params"], int)
    assert metrics["seconds"] < 60, f"the default run took {metrics['seconds']} s (wall {wall})"
    assert set(metrics["versions"]) >= {"kanrun", "torch", "hydra", "python"}

    columns, losses = read_csv(run_dir / "losses.csv")
    assert columns == LOSS_COLUMNS
    counts = {stage: sum(r["stage"] == stage for r in losses) for stage in STAGES}
    assert counts == {"train": 30, "sparsify": 30, "prune": 0, "grid_extend": 30,
                      "auto_symbolic": 0, "fit_symbolic": 20}
    assert [int(r["step"]) for r in losses] == list(range(len(losses)))
    assert {int(r["grid"]) for r in losses if r["stage"] == "grid_extend"} == {10, 20}

    columns, stages = read_csv(run_dir / "stages.csv")
    assert columns[:8] == STAGE_COLUMNS
    assert [r["stage"] for r in stages] == STAGES
    assert all(r["status"] == "completed" for r in stages)
    assert stages[0]["width"] == "[2,5,1]" and stages[-1]["width"] == "[2,1,1]"

    for stage in STAGES:
        assert (run_dir / "checkpoints" / f"{stage}.pt").is_file()
    assert is_png(run_dir / "plots" / "losses.png")
    assert is_png(run_dir / "plots" / "grid_extension.png")
    for stage in STAGES:  # KAN.plot's network diagram after each stage
        assert is_png(run_dir / "plots" / f"network_{stage}.png"), stage
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    log_text = (run_dir / "run.log").read_text()
    assert "stage 6/6: fit_symbolic" in log_text and "(recovered)" in log_text


# ------------------------------------------------------------------ overrides, resume, determinism
@pytest.fixture(scope="module")
def short_runs(kanrun_cli, tmp_path_factory):
    """Two identical short runs, and a third stopped by SIGTERM during sparsify, then resumed."""
    root = tmp_path_factory.mktemp("short")
    runs = {}
    for name in ("first", "second"):
        proc = kanrun_cli("train", *RESUMABLE, f"hydra.run.dir={root / name}", cwd=root)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = root / name

    stopped = root / "stopped"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["OMP_NUM_THREADS"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-m", "kanrun.cli", "train", *RESUMABLE, f"hydra.run.dir={stopped}"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (stopped / "checkpoints" / "train.pt").exists():
        assert child.poll() is None and time.monotonic() < deadline, "train never finished"
        time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=240)
    runs["interrupted"] = {
        "returncode": child.returncode,
        "stderr": stderr,
        "metrics": json.loads((stopped / "metrics.json").read_text()),
        "losses": read_csv(stopped / "losses.csv")[1],
    }
    resumed = kanrun_cli("resume", stopped, cwd=root)
    runs["resume_proc"] = resumed
    runs["resumed"] = stopped
    return runs


def test_override_reaches_the_run(short_runs):
    _, stages = read_csv(short_runs["first"] / "stages.csv")
    assert stages[0]["width"] == "[2,4,1]"  # model.width=[2,4,1]
    _, losses = read_csv(short_runs["first"] / "losses.csv")
    assert sum(r["stage"] == "train" for r in losses) == 8  # pipeline.stages.train.steps=8
    assert sum(r["stage"] == "sparsify" for r in losses) == SPARSIFY_STEPS


def test_same_config_gives_identical_losses(short_runs):
    _, first = read_csv(short_runs["first"] / "losses.csv")
    _, second = read_csv(short_runs["second"] / "losses.csv")
    assert len(first) == 8 + SPARSIFY_STEPS + 2 + 2
    assert without_seconds(first) == without_seconds(second)
    assert first[0]["seconds"] != "" and float(first[-1]["seconds"]) > 0


def test_sigterm_marks_the_run_interrupted(short_runs):
    stopped = short_runs["interrupted"]
    assert stopped["returncode"] == 128 + signal.SIGTERM, stopped["stderr"][-2000:]
    assert stopped["metrics"]["status"] == "interrupted"
    assert stopped["metrics"]["stages_done"] == ["train"]
    assert "kanrun resume" in stopped["stderr"]
    assert "Traceback" not in stopped["stderr"]
    partial = [r["stage"] for r in stopped["losses"]]
    assert partial[:8] == ["train"] * 8 and len(partial) < 8 + SPARSIFY_STEPS + 2 + 2


def test_resume_after_sigterm_equals_an_uninterrupted_run(short_runs):
    proc = short_runs["resume_proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming after stage train" in proc.stderr
    resumed, reference = short_runs["resumed"], short_runs["first"]
    for name in ("losses.csv", "stages.csv"):
        assert without_seconds(read_csv(resumed / name)[1]) == without_seconds(
            read_csv(reference / name)[1]), name
    metrics = json.loads((resumed / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    for key in ("train_rmse", "test_rmse", "formula_test_rmse", "n_params", "width"):
        assert metrics[key] == expected[key], key
    if (reference / "formula.json").exists():
        assert (resumed / "formula.json").read_text() == (reference / "formula.json").read_text()


# ------------------------------------------------------------------ Hydra features
def test_cfg_job_with_config_dir_and_override(kanrun_cli, tmp_path):
    experiments = tmp_path / "my_configs" / "experiment"
    experiments.mkdir(parents=True)
    (experiments / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /dataset: formula\n"
        "dataset:\n  expr: x1*x2\nmodel:\n  width: [2, 4, 1]\n")
    proc = kanrun_cli("train", "--config-dir", tmp_path / "my_configs", "+experiment=mine",
                      "model.grid=7", "pipeline.stages.prune.edge_th=0.05", "--cfg", "job",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["dataset"]["name"] == "formula" and cfg["dataset"]["expr"] == "x1*x2"
    assert cfg["model"]["width"] == [2, 4, 1] and cfg["model"]["grid"] == 7
    assert cfg["pipeline"]["stages"]["prune"]["edge_th"] == 0.05
    assert cfg["pipeline"]["order"] == STAGES
    assert cfg["pipeline"]["stages"]["grid_extend"]["grids"] == [10, 20]
    assert cfg["pipeline"]["stages"]["sparsify"]["lamb"] == 0.01
    assert not (tmp_path / "outputs").exists()  # --cfg runs nothing


def test_multirun_sweep_writes_one_folder_per_job(kanrun_cli, tmp_path):
    sweep = tmp_path / "sweep"
    proc = kanrun_cli("train", "-m", *SHORT, "model.grid=3,4", f"hydra.sweep.dir={sweep}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "multirun.yaml").is_file()
    grids = []
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        grids.append(read_csv(sweep / job / "stages.csv")[1][0]["grid"])
    assert grids == ["3", "4"]


def test_shell_completion_goes_through_the_dispatcher(kanrun_cli, tmp_path):
    proc = kanrun_cli("-sc", "query=bash", cwd=tmp_path,
                      env={"COMP_LINE": "kanrun train model=", "COMP_POINT": "19"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["model=deep", "model=default"]


# ------------------------------------------------------------------ failures
BAD_INPUT = {
    "unknown group option": (["dataset=nope"], "Could not find 'dataset/nope'"),
    "misspelled key": (["model.gird=3"], "unknown config key 'model.gird'. Did you mean "
                       "'model.grid'?"),
    "added misspelled key": (["+model.widht=5"], "Did you mean 'model.width'?"),
    "misspelled old sparsify key": (["regularization.lamdb=1"], "unknown config key "
                                    "'pipeline.stages.sparsify.lamdb'. Did you mean "
                                    "'pipeline.stages.sparsify.lamb'?"),
    "no threads": (["num_threads=0"], "num_threads must be at least 1, got 0"),
    "pole in the ranges": (["dataset=formula", "dataset.expr=1/x1", "dataset.ranges={x1:[-1,1]}"],
                           "has a pole inside dataset.ranges"),
    "wrong type": (["model.grid=abc"], "could not be converted to Integer"),
    "width vs inputs": (["model.width=[3,5,1]"], "model.width starts with 3 input(s)"),
    "impossible grid": (["pipeline.stages.grid_extend.grids=[4,3]"],
                        "pipeline.stages.grid_extend.grids must grow"),
    "formula syntax": (["dataset=formula", "dataset.expr=x1+*x2", "model.width=[2,3,1]"],
                       "x1+*x2"),
    "unknown variable": (["dataset=formula", "dataset.expr=x1+z", "dataset.ranges={x1:[0,1]}",
                          "model.width=[1,3,1]"], "'z'"),
    "missing file": (["dataset=csv", "dataset.path=/nonexistent/data.csv"],
                     "/nonexistent/data.csv"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_clear_message(kanrun_cli, tmp_path, case):
    args, fragment = BAD_INPUT[case]
    run_dir = tmp_path / "run"
    proc = kanrun_cli("train", *SHORT, *args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode != 0
    assert fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 20, proc.stderr
    assert not run_dir.exists()  # nothing half-written


def test_resume_with_a_damaged_state_is_a_clear_error(kanrun_cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = kanrun_cli("train", *SHORT, "pipeline.order=[train,prune]",
                      f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "status": "interrupted"}))
    (run_dir / "state.json").write_text('{"version": 1, "done": [')
    proc = kanrun_cli("resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 2
    assert "state.json is damaged" in proc.stderr and "Traceback" not in proc.stderr
    assert "resume it" not in proc.stderr


def test_old_regularization_spelling_runs_and_resumes(kanrun_cli, tmp_path):
    """`regularization.KEY` (the sparsify stage's settings before pipeline.stages.sparsify)
    still works on the command line, and a run folder saved with it resumes."""
    run_dir = tmp_path / "run"
    proc = kanrun_cli("train", *SHORT, "pipeline.order=[train,sparsify]",
                      "regularization.steps=5", "regularization.lamb=0.05",
                      f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "regularization" not in proc.stderr.replace(str(tmp_path), "")  # no warning
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    sparsify = config["pipeline"]["stages"]["sparsify"]
    assert (sparsify["steps"], sparsify["lamb"]) == (5, 0.05)
    _resume_as_an_older_kanrun_wrote_it(kanrun_cli, tmp_path, run_dir, config,
                                        "regularization", "sparsify")


def test_old_grid_spelling_runs_and_resumes(kanrun_cli, tmp_path):
    """`grid.KEY` (the grid_extend stage's settings before pipeline.stages.grid_extend) still
    works on the command line next to `model.grid`, and a run folder saved with it resumes."""
    run_dir = tmp_path / "run"
    proc = kanrun_cli("train", *SHORT, "pipeline.order=[train,grid_extend]", "model.grid=3",
                      "grid.grids=[5,8]", "grid.steps=3", f"hydra.run.dir={run_dir}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    extend = config["pipeline"]["stages"]["grid_extend"]
    assert (extend["grids"], extend["steps"], config["model"]["grid"]) == ([5, 8], 3, 3)
    assert "grid" not in config
    header, losses = read_csv(run_dir / "losses.csv")
    assert [int(r["grid"]) for r in losses if r["stage"] == "grid_extend"] == [5] * 3 + [8] * 3
    _resume_as_an_older_kanrun_wrote_it(kanrun_cli, tmp_path, run_dir, config, "grid",
                                        "grid_extend")


def _resume_as_an_older_kanrun_wrote_it(kanrun_cli, tmp_path, run_dir, config, old, stage):
    """Rewrite the finished run's config with the stage's settings under the old top-level
    key `old`, mark it interrupted after `train`, resume: the same losses and stages."""
    reference = {name: without_seconds(read_csv(run_dir / name)[1])
                 for name in ("losses.csv", "stages.csv")}
    config[old] = config["pipeline"]["stages"].pop(stage)
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    state = json.loads((run_dir / "state.json").read_text())
    state["done"] = state["done"][:1]
    (run_dir / "state.json").write_text(json.dumps(state))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "status": "interrupted"}))
    proc = kanrun_cli("resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming after stage train" in proc.stderr
    for name, rows in reference.items():
        assert without_seconds(read_csv(run_dir / name)[1]) == rows, name


def test_nan_loss_fails_the_run_and_keeps_the_last_good_model(kanrun_cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = kanrun_cli("train", *SHORT, "pipeline.stages.train.optimizer=Adam",
                      "pipeline.stages.train.lr=1e30", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 1
    assert "stage train stopped: the training loss became" in proc.stderr
    assert "Traceback" not in proc.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "stage train" in metrics["error"]
    assert (run_dir / "checkpoints" / "last_good.pt").is_file()
    _, stages = read_csv(run_dir / "stages.csv")
    assert [(r["stage"], r["status"]) for r in stages] == [("train", "failed")]
    assert not (run_dir / "formula.json").exists()
