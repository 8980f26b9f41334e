"""Stages that make the error worse are named; the best stage is named; keep_best."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from kanrun.pipeline import PlainDisplay, RunConfig, prepare, run_pipeline
from kanrun.pipeline.quality import best_stage, stage_to_keep, unrecovered, worsenings
from kanrun.pipeline.schema import DatasetSchema, GridExtendStage, ModelConfig, SparsifyStage


def rows(*pairs, status="completed"):
    return [{"stage": s, "status": status, "test_rmse": e} for s, e in pairs]


def test_worsenings_best_stage_and_what_to_keep():
    run = rows(("train", 6e-4), ("sparsify", 4.7e-2), ("prune", 5e-2), ("grid_extend", 2e-2))
    (w,) = worsenings(run)  # prune is 1.06x sparsify: not flagged
    assert (w["stage"], w["after_stage"], w["factor"]) == ("sparsify", "train", 78.3)
    assert best_stage(run) == ("train", 6e-4)
    assert [u["stage"] for u in unrecovered(run)] == ["sparsify"]  # 2e-2 >= 3 x 6e-4
    assert stage_to_keep(run, "auto") == "train"
    assert stage_to_keep(run, "last") is None
    recovered = run[:-1] + rows(("grid_extend", 1e-3))  # 1e-3 < 3 x 6e-4: recovered
    assert unrecovered(recovered) == [] and stage_to_keep(recovered, "auto") is None
    assert stage_to_keep(recovered, "best") == "train"
    # recovered by grid_extend, lost again by auto_symbolic: not a sparsify loss to undo
    later = recovered + rows(("auto_symbolic", 5e-2))
    assert unrecovered(later) == [] and stage_to_keep(later, "auto") is None
    # a skipped stage and a NaN are not stages to compare with
    odd = rows(("train", 1e-2)) + rows(("sparsify", 9.0), status="skipped") + rows(
        ("prune", float("nan")), ("grid_extend", 2e-2))
    assert worsenings(odd) == [] and best_stage(odd) == ("train", 1e-2)


def lossy_config(keep_best: str) -> RunConfig:
    cfg = RunConfig(dataset=DatasetSchema(n_train=200, n_test=200),
                    model=ModelConfig(width=[2, 3, 1], grid=3))
    cfg.pipeline.stages.grid_extend = GridExtendStage(grids=[5], steps=2)
    cfg.pipeline.stages.sparsify = SparsifyStage(steps=5, lamb=1.0)  # far too strong
    cfg.pipeline.order = ["train", "sparsify", "prune", "grid_extend"]
    cfg.pipeline.stages.train.steps = 15
    cfg.pipeline.plots = False
    cfg.pipeline.keep_best = keep_best
    return cfg


@pytest.mark.parametrize("keep_best", ["auto", "last"])
def test_a_lossy_sparsify_is_reported_and_the_best_model_kept(tmp_path, caplog, keep_best):
    torch.set_num_threads(1)
    with caplog.at_level(logging.INFO, logger="kanrun.run"):
        outcome = run_pipeline(prepare(lossy_config(keep_best)), tmp_path, PlainDisplay())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    stages = {w["stage"] for w in metrics["worsened"]}
    assert "sparsify" in stages and "sparsify" in metrics["unrecovered"]
    assert any("stage sparsify made the test RMSE" in r.message for r in caplog.records)
    assert metrics["best_stage"]["stage"] == "train"
    train_error = metrics["best_stage"]["test_rmse"]
    assert caplog.records[-1].message.startswith(f"best stage train (test RMSE {train_error:.3e})")
    if keep_best == "auto":
        assert metrics["kept_stage"] == "train"
        assert metrics["test_rmse"] == pytest.approx(train_error, rel=1e-6)
        assert any("keeping the model of stage train" in r.message for r in caplog.records)
    else:
        assert metrics["kept_stage"] == "grid_extend"
        assert metrics["test_rmse"] > 3 * train_error
    assert outcome.exit_code == 0


def test_classification_run_reports_accuracy_and_a_worse_formula(caplog):
    from kanrun.pipeline.display import _log_result

    metrics = {"status": "completed", "seconds": 1.0, "test_rmse": 0.01,
               "test_accuracy": 1.0, "formula_test_accuracy": 0.87}

    class NoFormula:  # formula_lines reads outputs only
        outputs = []
        notes = []

    with caplog.at_level(logging.INFO, logger="kanrun.run"):
        _log_result(NoFormula(), metrics)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == ("run completed in 1.0 s: test accuracy 1, test sqrt(cross-entropy) "
                           "1.000e-02")
    assert "87.0% of the test set" in messages[-1] and "network 100.0%" in messages[-1]
