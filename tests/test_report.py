"""`kanrun report` on synthetic run folders (no training): complete, failed, rejected and
partial runs, the Pareto front, sorting, the recovery tables and bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kanrun.cli import report as report_cli
from kanrun.report import ReportInputError, build_report, find_run_dirs, pareto_front, read_run

STAGE_FIELDS = ["stage", "width", "n_params", "n_edges", "grid", "train_rmse", "test_rmse",
                "seconds", "status"]


def make_run(run_dir: Path, overrides: list[str], *, metrics: dict | None = None,
             stages: list[tuple] = (), formula: dict | None = None,
             config: dict | None = None, log: str | None = None) -> Path:
    """A run folder as `kanrun train` writes it; only the files given."""
    (run_dir / ".hydra").mkdir(parents=True)
    base = {"seed": 0, "num_threads": 1, "model": {"width": [2, 5, 1], "grid": 5},
            "dataset": {"name": "toy", "function": "hellokan"}}
    base.update(config or {})
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(base))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides,
                                                                        "quiet=true"]))
    if stages:
        with (run_dir / "stages.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(STAGE_FIELDS)
            writer.writerows(stages)
        (run_dir / "state.json").write_text("{}")
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if formula is not None:
        (run_dir / "formula.json").write_text(json.dumps(formula))
    if log is not None:
        (run_dir / "run.log").write_text(log)
    return run_dir


def metrics(test_rmse: float, n_params: int = 0, *, status: str = "completed",
            error: str | None = None, seconds: float = 1.0, width: str = "[2,1,1]",
            grid: int = 5, recovered: bool | None = None) -> dict:
    return {"status": status, "error": error, "train_rmse": test_rmse * 0.9,
            "test_rmse": test_rmse, "formula_test_rmse": test_rmse * 2, "recovered": recovered,
            "n_params": n_params, "n_edges": 3, "width": width, "grid": grid,
            "seconds": seconds, "stages_done": ["train", "sparsify", "prune"],
            "dataset": "toy hellokan", "versions": {}}


def stage_rows(n_params: int, grid: int, rmse: float) -> list[tuple]:
    return [("train", "[2,5,1]", n_params * 3, 15, grid, rmse * 3, rmse * 3, 0.5, "completed"),
            ("prune", "[2,1,1]", n_params, 3, grid, rmse * 2, rmse * 2, 0.1, "completed"),
            ("grid_extend", "[2,1,1]", n_params * 2, 3, grid * 2, rmse, rmse, 0.2,
             "completed")]


def formula(expr: str, truth: str | None, recovered: bool | None) -> dict:
    out = {"name": "y", "expr": expr, "latex": expr.replace("**", "^"), "test_rmse": 1e-6}
    if truth is not None:
        out.update(truth=truth, recovered=recovered)
    return {"variables": ["x1", "x2"], "outputs": [out], "recovered": recovered}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A 5-job sweep: 2 completed, 1 failed (NaN), 1 rejected config, 1 still running."""
    root = tmp_path / "multirun" / "2026-01-01" / "10-00-00"
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    make_run(root / "0", ["model.grid=3", "seed=0"], metrics=metrics(1e-3, 30, seconds=4.0),
             stages=stage_rows(15, 3, 1e-3), formula=formula("exp(x2**2)", None, None))
    make_run(root / "1", ["model.grid=5", "seed=0"], metrics=metrics(1e-4, 50, seconds=2.0),
             stages=stage_rows(25, 5, 1e-4), formula=formula("sin(x1)", None, None))
    make_run(root / "2", ["model.grid=3", "seed=1"],
             metrics=metrics(float("nan"), 30, status="failed", error="loss became NaN"),
             stages=stage_rows(15, 3, 1e-2)[:1])
    make_run(root / "3", ["model.grid=5", "seed=1"],
             log="2026-01-01 10:00:01,000 ERROR kanrun.run: error: model.width starts "
                 "with 3 input(s) but the dataset has 2\n")
    make_run(root / "4", ["model.grid=10", "seed=0"], stages=stage_rows(40, 10, 1e-5)[:2])
    (root / "4" / "metrics.json").write_text('{"status": "compl')  # half-written
    return root


def test_report_reads_complete_failed_and_partial_runs(sweep: Path, tmp_path: Path):
    report = build_report([sweep], tmp_path / "out", sort="test_rmse")
    table = report.table
    assert len(table) == 5
    by_dir = {Path(row["run_dir"]).name: row for row in table.to_dict("records")}
    assert list(table.columns[:2]) == ["model.grid", "seed"]  # swept keys, quiet dropped
    assert "quiet" not in table.columns
    assert by_dir["0"]["status"] == "completed" and by_dir["0"]["test_rmse"] == pytest.approx(1e-3)
    assert by_dir["0"]["n_params_spline"] == 30  # the last stage with parameters
    assert by_dir["0"]["formula"] == "y = exp(x2**2)"
    assert by_dir["2"]["status"] == "failed" and by_dir["2"]["error"] == "loss became NaN"
    assert by_dir["3"]["status"] == "failed"
    assert by_dir["3"]["error"] == "model.width starts with 3 input(s) but the dataset has 2"
    assert by_dir["4"]["status"] == "incomplete"  # stages but an unreadable metrics.json
    assert by_dir["4"]["test_rmse"] == pytest.approx(2e-5)  # its last stage so far
    assert by_dir["4"]["model.grid"] == "10"
    # sorted by test RMSE, runs without one last
    assert [Path(d).name for d in table["run_dir"]] == ["4", "1", "0", "2", "3"]
    assert set(report.failures["run_dir"].map(lambda d: Path(d).name)) == {"2", "3", "4"}
    written = {p.name for p in report.files}
    assert {"summary.csv", "summary.md", "pareto.png", "rmse_vs_grid.png"} <= written
    assert "recovery.md" not in written  # no ground truth in these runs
    saved = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(saved) == 5 and saved["status"].tolist()[:3] == ["incomplete", "completed",
                                                                   "completed"]


def test_find_run_dirs_skips_report_and_checkpoint_folders(sweep: Path, tmp_path: Path):
    build_report([sweep], sweep / "report")
    (sweep / "0" / "checkpoints").mkdir()
    assert [p.name for p in find_run_dirs([sweep])] == ["0", "1", "2", "3", "4"]
    assert find_run_dirs([str(sweep.parent / "*")]) == find_run_dirs([sweep])
    single = read_run(sweep / "1")
    assert single["overrides"] == {"model.grid": "5", "seed": "0"}


def test_pareto_front_marks_non_dominated_points():
    cost = [10, 20, 20, 5, 30, math.nan, 40, 10]
    error = [1e-2, 1e-3, 5e-4, 1e-1, 5e-4, 1e-9, 1e-5, 1e-2]
    assert pareto_front(cost, error) == [True, False, True, True, False, False, True, True]
    assert pareto_front([], []) == []
    with pytest.raises(ValueError):
        pareto_front([1], [1, 2])


def test_summary_pareto_column_uses_spline_parameter_count(sweep: Path, tmp_path: Path):
    table = build_report([sweep], tmp_path / "out").table
    pareto = {Path(d).name: bool(p) for d, p in zip(table["run_dir"], table["pareto"], strict=True)}
    # (spline params, test RMSE): run 0 (30, 1e-3) and run 4 (40, 2e-5) form the front;
    # run 1 (50, 1e-4) is dominated by run 4; runs 2 and 3 have no test RMSE
    assert pareto == {"0": True, "1": False, "2": False, "3": False, "4": True}


def test_cli_sort_and_top(sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = report_cli.main([str(sweep), "--out", str(out), "--sort", "seconds", "--top", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "best 2 by seconds" in printed
    table = pd.read_csv(out / "summary.csv")
    # the partial run's stages took 0.6 s so far, the failed run 1 s
    assert table["seconds"].tolist()[:4] == pytest.approx([0.6, 1.0, 2.0, 4.0])
    assert "│ 2 │" in printed and "│ 3 │" not in printed  # only the top 2 shown
    assert "3 run(s) did not complete" in printed and "loss became NaN" in printed
    code = report_cli.main([str(sweep), "--out", str(out), "--sort", "seconds",
                            "--descending", "--top", "1"])
    assert code == 0
    assert pd.read_csv(out / "summary.csv")["seconds"].iloc[0] == 4.0
    assert report_cli.main([str(sweep), "--out", str(out), "--sort", "nope"]) == 2
    assert "unknown sort column 'nope'" in capsys.readouterr().err


def test_cli_default_out_is_inside_the_sweep(sweep: Path, capsys):
    assert report_cli.main([str(sweep), "--no-plots"]) == 0
    assert (sweep / "report" / "summary.csv").is_file()
    assert not (sweep / "report" / "pareto.png").exists()
    assert report_cli.main([str(sweep), "--no-plots"]) == 0  # the report folder is no run


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "no such folder"),
    (lambda tmp: tmp, "no kanrun runs found"),
    (lambda tmp: str(tmp / "nothing-*"), "no folder matches"),
])
def test_bad_input_is_one_message(tmp_path: Path, capsys, make, message):
    assert report_cli.main([str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with pytest.raises(ReportInputError):
        build_report([make(tmp_path)], tmp_path / "out")


def test_recovery_table_picks_the_best_run_per_equation(tmp_path: Path):
    root = tmp_path / "feynman"
    feynman = {"dataset": {"name": "feynman", "equation": "I.6.20"}}
    make_run(root / "0", ["seed=0"], config=feynman, metrics=metrics(1e-3, recovered=False),
             formula=formula("exp(-x1**2/2)", "exp(-theta**2/2)/sqrt(2*pi)", False))
    make_run(root / "1", ["seed=1"], config=feynman, metrics=metrics(5e-3, recovered=True),
             formula=formula("0.3989*exp(-x1**2/2)", "exp(-theta**2/2)/sqrt(2*pi)", True))
    make_run(root / "2", ["seed=0"], config={"dataset": {"name": "feynman",
                                                          "equation": "I.12.11_x"}},
             metrics=metrics(2e-4, width="[2,1]", recovered=False),
             formula=formula("x1*x2", "q*E", False))
    report = build_report([root], tmp_path / "out")
    assert report.recovery == [
        ["I.12.11_x", "q*E", "[2,1]", "2.00e-04", "y = x1*x2", "no", "0/1"],
        ["I.6.20", "exp(-theta**2/2)/sqrt(2*pi)", "[2,1,1]", "5.00e-03",
         "y = 0.3989*exp(-x1**2/2)", "yes", "1/2"],
    ]
    markdown = (tmp_path / "out" / "recovery.md").read_text().splitlines()
    assert markdown[0].startswith("| equation | truth | pruned shape | KAN RMSE")
    assert len(markdown) == 4
    tex = (tmp_path / "out" / "recovery.tex").read_text()
    assert r"I.6.20 & \texttt{exp(-theta**2/2)/sqrt(2*pi)}" in tex
    assert r"I.12.11\_x" in tex  # escaped
    assert r"$y = 0.3989*exp(-x1^2/2)$ & yes & 1/2 \\" in tex  # the LaTeX formula as is
    assert tex.count(r"\\") == 3 and r"\begin{tabular}{lllllll}" in tex


def test_dispatcher_lists_report(capsys):
    from kanrun.cli.main import main

    assert main(["--help"]) == 0
    assert "report" in capsys.readouterr().out
