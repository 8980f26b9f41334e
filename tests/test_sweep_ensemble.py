"""`kanrun train -m +launcher=ensemble seed=...`: the runs' first stages are fitted at
once, and every run folder holds what the basic launcher's run of that seed writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

STAGES = "pipeline.order=[train,sparsify,prune]"
COMMON = ["+experiment=smoke", "quiet=true", STAGES, "pipeline.formula_search=false"]


def _losses(run: Path) -> list[list[str]]:
    with open(run / "losses.csv", newline="") as fh:
        return [row[:6] for row in csv.reader(fh)]  # without the wall-clock column


def _metrics(run: Path) -> dict:
    values = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in values.items() if k != "seconds"}


def test_ensemble_launcher_writes_the_run_folders_of_the_basic_launcher(kanrun_cli,
                                                                         tmp_path):
    seeds = "seed=0,1,2"
    batched = kanrun_cli("train", "-m", *COMMON, seeds, "+launcher=ensemble",
                         f"hydra.sweep.dir={tmp_path / 'ens'}", cwd=tmp_path)
    assert batched.returncode == 0, batched.stderr
    assert "fitting train, sparsify of 3 runs at once (seeds [0, 1, 2])" in (
        batched.stdout + batched.stderr)
    plain = kanrun_cli("train", "-m", *COMMON, seeds, f"hydra.sweep.dir={tmp_path / 'basic'}",
                       cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    finals = set()
    for job in ("0", "1", "2"):
        ens, basic = tmp_path / "ens" / job, tmp_path / "basic" / job
        assert _losses(ens) == _losses(basic)
        assert len(_losses(ens)) == 1 + 4 + 3  # header, train and sparsify steps
        assert _metrics(ens) == _metrics(basic)
        assert _metrics(ens)["status"] == "completed"
        finals.add(_metrics(ens)["test_rmse"])
    assert len(finals) == 3  # three different seeds, three different models


def test_ensemble_launcher_leaves_other_runs_alone(kanrun_cli, tmp_path):
    # Adam cannot be batched: each run fits alone, and the sweep still completes
    result = kanrun_cli("train", "-m", *COMMON, "seed=0,1", "+launcher=ensemble",
                        "pipeline.stages.train.optimizer=Adam",
                        f"hydra.sweep.dir={tmp_path / 'sw'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "runs at once" not in result.stdout + result.stderr
    for job in ("0", "1"):
        assert _metrics(tmp_path / "sw" / job)["status"] == "completed"
