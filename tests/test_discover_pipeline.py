"""Discovery as a run: no model.width (or pipeline=discover) gives a run folder with the
formula, metrics and candidates; `kanrun benchmark feynman` (slow) writes its table."""

from __future__ import annotations

import csv
import json

import pytest

from kanrun.pipeline import PlainDisplay, RunConfig, RunConfigError, prepare, run_pipeline
from kanrun.pipeline.schema import DatasetSchema, ModelConfig


def discovery_config(**dataset) -> RunConfig:
    cfg = RunConfig(dataset=DatasetSchema(**dataset), model=ModelConfig(width=None))
    cfg.pipeline.plots = False
    cfg.pipeline.discover.budget = 20.0
    cfg.pipeline.recovery_seconds = 5.0
    return cfg


def test_no_width_runs_discovery_and_writes_the_run_folder(tmp_path):
    cfg = discovery_config(name="formula", expr="x1**2*x2 + 3", n_train=400, n_test=200,
                           ranges={"x1": [0.5, 2.0], "x2": [1.0, 3.0]})
    prepared = prepare(cfg)
    assert prepared.model is None and prepared.bundle.data["train_input"].dtype.is_floating_point
    outcome = run_pipeline(prepared, tmp_path, PlainDisplay())
    assert outcome.exit_code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["pipeline"] == "discover" and metrics["status"] == "completed"
    assert metrics["recovered"] is True and metrics["strict_recovered"] is True
    assert metrics["test_rmse"] < 1e-9 and metrics["formula_status"] == "accurate"
    formula = json.loads((tmp_path / "formula.json").read_text())
    assert formula["outputs"][0]["recovered"] is True
    rows = list(csv.DictReader((tmp_path / "candidates.csv").read_text().splitlines()))
    assert rows and rows[0]["rank"] == "0"
    stages = list(csv.DictReader((tmp_path / "stages.csv").read_text().splitlines()))
    assert [s["stage"] for s in stages] == ["discover"]
    # resuming a finished discovery run does not search again
    again = run_pipeline(prepare(cfg), tmp_path, PlainDisplay(), resume=True)
    assert again.metrics["seconds"] == metrics["seconds"]


def test_discovery_refuses_classification():
    cfg = discovery_config(name="classification", n_train=50, n_test=50)
    cfg.pipeline.order = ["discover"]  # with no shape, classification trains a default KAN
    with pytest.raises(RunConfigError, match="regression data only"):
        prepare(cfg)


def test_discovery_budget_must_be_positive():
    cfg = discovery_config(name="formula", expr="x1", ranges={"x1": [0, 1]})
    cfg.pipeline.discover.budget = 0
    with pytest.raises(RunConfigError, match="budget"):
        prepare(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("suite, names, folder, anchors", [
    ("feynman", ["I.12.5", "II.34.2", "III.15.14"], "eq", True),
    ("formulas", ["third_x_sin", "two_sin_cos", "log_sum"], "f", False),
])
def test_benchmark_three_of_a_suite(kanrun_cli, tmp_path, suite, names, folder, anchors):
    out = tmp_path / suite
    result = kanrun_cli("benchmark", suite, "--equations", *names, "--jobs", "2",
                        "--budget", "30", "--out", out, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader((out / "recovery.csv").read_text().splitlines()))
    assert [r["equation"] for r in rows] == names
    assert all(r["status"] == "completed" for r in rows)
    assert sum(r["exact"] == "True" for r in rows) >= 2
    text = (out / "recovery.md").read_text()
    assert ("AI Feynman" in text) == anchors
    if anchors:
        assert "| 0 | 3 |" in text
    for r in rows:
        assert (out / "runs" / f"{folder}{r['id']}_noise0.0" / "formula.json").is_file()


def test_benchmark_formulas_set_and_bad_names(capsys):
    from kanrun.cli import benchmark

    items = benchmark.load_formulas()
    assert len(items) == 34 and len({it.name for it in items}) == 34
    assert all(1 <= it.n_vars <= 3 for it in items)
    assert benchmark.main(["formulas", "--equations", "no_such_formula"]) == 2
    assert "unknown formula" in capsys.readouterr().err
    assert benchmark.main(["formulas", "--launcher", "slurm"]) == 2


def test_a_formula_far_above_the_noise_floor_is_approximate():
    from types import SimpleNamespace

    import numpy as np

    from kanrun.pipeline.discovery import _status
    from kanrun.pipeline.formula import Formula, FormulaOutput

    data = {"test_label": np.linspace(0.0, 2.0, 50).reshape(-1, 1)}
    formula = Formula(variables=["x1"], outputs=[FormulaOutput(name="y", expr=None,
                                                               test_rmse=2e-4)])
    assert _status(formula, [SimpleNamespace(noise=1e-4)], data) == "accurate"
    assert _status(formula, [SimpleNamespace(noise=1e-6)], data) == "approximate"
    formula.outputs[0].test_rmse = None  # a formula that cannot be evaluated
    assert _status(formula, [SimpleNamespace(noise=1e-4)], data) == "approximate"


def test_benchmark_reruns_only_the_missing_runs_one_sweep_per_noise(tmp_path, monkeypatch):
    import json

    from kanrun.cli import benchmark

    done = benchmark._run_dir(tmp_path, 1, 0.01)  # (1, 0.01) completed earlier
    done.mkdir(parents=True)
    (done / "metrics.json").write_text(json.dumps({"status": "completed"}))
    calls = []
    monkeypatch.setattr(benchmark, "_sweep", lambda args, ids, noise: calls.append(
        (list(ids), noise)) or 0)
    code = benchmark.main(["feynman", "--equations", "1", "2", "--noise", "0.01", "0.001",
                           "--out", str(tmp_path)])
    assert code == 0
    # a product sweep over ids {1, 2} x noises {0.01, 0.001} would redo (1, 0.01)
    assert calls == [([2], 0.01), ([1, 2], 0.001)]
