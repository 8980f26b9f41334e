"""The formula step of a run: formulas.csv, formula_status, the honest last line."""

from __future__ import annotations

import csv
import json
import logging

import pytest
import torch

from kanrun.pipeline import PlainDisplay, RunConfig, prepare, run_pipeline
from kanrun.pipeline.schema import DatasetSchema, GridExtendStage, ModelConfig, SparsifyStage

torch.set_num_threads(1)


def config(**dataset) -> RunConfig:
    cfg = RunConfig(dataset=DatasetSchema(n_train=300, n_test=200, **dataset),
                    model=ModelConfig(width=[2, 2, 1], grid=5))
    cfg.pipeline.stages.grid_extend = GridExtendStage(grids=[10], steps=10)
    cfg.pipeline.stages.sparsify = SparsifyStage(steps=10)
    cfg.pipeline.stages.train.steps = 20
    cfg.pipeline.stages.fit_symbolic.steps = 5
    cfg.pipeline.stages.auto_symbolic.seconds = 10.0
    cfg.pipeline.plots = False
    cfg.pipeline.recovery_seconds = 2.0
    return cfg


@pytest.mark.slow  # a whole run with the search: ~15 s on an idle core
def test_run_writes_the_pareto_front_and_a_status(tmp_path):
    cfg = config()
    cfg.pipeline.stages.auto_symbolic.lib = ["x", "x^2", "sin", "exp"]
    cfg.pipeline.stages.auto_symbolic.topk = 2
    cfg.pipeline.stages.auto_symbolic.beam_width = 1
    outcome = run_pipeline(prepare(cfg), tmp_path, PlainDisplay())
    assert outcome.status == "completed"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["formula_status"] in ("accurate", "approximate")
    assert metrics["network_test_rmse"] > 0
    with open(tmp_path / "formulas.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and sum(r["chosen"] == "True" for r in rows) == 1
    chosen = next(r for r in rows if r["chosen"] == "True")
    best_val = min(float(r["val_rmse"]) for r in rows)
    assert float(chosen["val_rmse"]) <= 1.5 * best_val + 1e-12
    assert {"complexity", "train_rmse", "test_rmse", "seconds", "expr"} <= set(rows[0])
    if metrics["formula_status"] == "accurate":
        assert metrics["formula_test_rmse"] <= 2 * metrics["network_test_rmse"] + 1e-6


def test_a_formula_far_from_the_network_is_called_approximate(tmp_path, caplog):
    cfg = config()
    cfg.pipeline.stages.auto_symbolic.lib = ["x"]  # lines cannot write exp(sin(pi x) + y^2)
    cfg.pipeline.stages.auto_symbolic.method = "greedy"
    with caplog.at_level(logging.INFO):
        outcome = run_pipeline(prepare(cfg), tmp_path, PlainDisplay())
    assert outcome.metrics["formula_status"] == "approximate"
    assert outcome.metrics["formula_test_rmse"] > 2 * outcome.metrics["network_test_rmse"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("formula_status: approximate") for m in messages[-3:])
    assert "formula approximate" in messages[-1]  # the last line says so too


@pytest.mark.parametrize("formula_rmse, network_rmse, status", [
    (0.010, 0.008, "accurate"),  # as good as the network, and far below the spread
    (0.050, 0.010, "approximate"),  # 5x the network
    (0.200, 0.150, "approximate"),  # as good as a poor network: still not the law
])
def test_judge_compares_with_the_network_and_the_data(formula_rmse, network_rmse, status):
    from kanrun.pipeline.formula import Formula, FormulaOutput, judge

    labels = torch.linspace(-1.7, 1.7, 101).reshape(-1, 1)  # spread ~1
    formula = Formula(variables=["x1"], network_rmse=network_rmse,
                      outputs=[FormulaOutput(name="y", expr=None, test_rmse=formula_rmse)])
    assert judge(formula, labels) == status


@pytest.mark.parametrize("templates", [True, False])
def test_pipeline_formula_templates_switch_reaches_the_search(templates):
    from types import SimpleNamespace

    import sympy
    from test_symbolic_auto import planted

    from kanrun.pipeline.formula import Formula, _search

    m = planted([2, 1, 1], {(0, 0, 0): ("x", (1.0, 0.0, 1.0, 0.0)),
                            (0, 1, 0): ("x", (1.0, 0.0, 1.0, 0.0)),
                            (1, 0, 0): ("x", (1.0, 0.0, 1.0, 0.0))})
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 2, generator=g, dtype=torch.float64) * 1.5 + 0.5
    y = (x[:, 0] * x[:, 1] / (1 + x[:, 0]))[:, None]
    bundle = SimpleNamespace(data={"train_input": x[:240], "train_label": y[:240],
                                   "test_input": x[240:], "test_label": y[240:]})
    formula = Formula(variables=["a", "b"], network_rmse=1e-3)
    _search(m, bundle, ["a", "b"], [sympy.Symbol("a")], formula, seconds=5.0,
            templates=templates)
    sources = {c.source for c in formula.fronts[0].candidates}
    assert any(s.startswith("product:") for s in sources) == templates
    assert "monomial" in sources  # the network inputs' monomial is always a candidate
