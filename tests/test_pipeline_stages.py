"""Each stage on a tiny model: what it returns, what it reports, when it declines to run."""

from __future__ import annotations

import pytest
import torch

from kanrun import KAN
from kanrun.data import load_dataset
from kanrun.pipeline import RunConfig, RunInterrupted, StageFailed, StageSkipped
from kanrun.pipeline.describe import edge_counts, spline_edges, summary, width_text
from kanrun.pipeline.schema import (
    FitSymbolicStage,
    GridExtendStage,
    SparsifyStage,
    TrainStage,
)
from kanrun.pipeline.stages import STAGES, StageData, stage_settings

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return load_dataset({"name": "toy", "function": "hellokan", "n_train": 100,
                         "n_test": 100}).data


def tiny(seed: int = 0) -> KAN:
    return KAN([2, 2, 1], grid=3, seed=seed)


def stage_data(data, seen=None) -> StageData:
    seen = [] if seen is None else seen
    return StageData(data, seed=0, on_step=seen.append)


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_train_returns_a_trained_copy_and_one_row_per_step(data):
    model, seen = tiny(), []
    before = tiny()
    trained, rows = STAGES["train"](model, stage_data(data, seen), TrainStage(steps=4))
    assert same_state(model, before)  # the input model is untouched
    assert not same_state(trained, before)
    assert len(rows) == 4 and seen == rows
    assert set(rows[0]) == {"grid", "train_rmse", "test_rmse", "reg"}
    assert all(r["grid"] == 3 and r["reg"] == 0.0 for r in rows)
    assert rows[-1]["train_rmse"] < rows[0]["train_rmse"]
    assert summary(trained, data)["train_rmse"] == pytest.approx(rows[-1]["train_rmse"],
                                                                 rel=0.2)


def test_sparsify_reports_the_penalty(data):
    _, rows = STAGES["sparsify"](tiny(), stage_data(data), SparsifyStage(steps=2))
    assert len(rows) == 2 and all(r["reg"] > 0 for r in rows)


def test_grid_extend_refines_to_each_grid_in_turn(data):
    model, rows = STAGES["grid_extend"](tiny(), stage_data(data),
                                        GridExtendStage(grids=[5, 8], steps=2))
    assert model.grid == 8
    assert [r["grid"] for r in rows] == [5, 5, 8, 8]
    with pytest.raises(StageSkipped, match="pipeline.stages.grid_extend.grids is empty"):
        STAGES["grid_extend"](tiny(), stage_data(data), GridExtendStage(grids=[]))


def test_fit_symbolic_needs_symbolic_edges(data):
    with pytest.raises(StageSkipped, match="no edge is symbolic"):
        STAGES["fit_symbolic"](tiny(), stage_data(data), FitSymbolicStage(steps=1))


def test_fit_symbolic_that_raises_the_training_error_keeps_auto_symbolics_model(data,
                                                                               caplog):
    import logging

    model = tiny()
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp"], x=data["train_input"])
    ok, _ = STAGES["fit_symbolic"](model, stage_data(data), FitSymbolicStage(steps=3))
    assert not same_state(ok, model)  # a refit that helps is kept
    # Adam with a huge step: 3 steps that wreck the fit (the loss stays finite)
    wild = FitSymbolicStage(steps=3, optimizer="Adam", lr=50.0)
    with caplog.at_level(logging.WARNING):
        kept, rows = STAGES["fit_symbolic"](model, stage_data(data), wild)
    assert len(rows) == 3 and rows[-1]["train_rmse"] > summary(model, data)["train_rmse"]
    assert same_state(kept, model) and kept is not model
    assert "auto_symbolic made is kept" in caplog.text


def test_non_finite_loss_fails_the_stage_with_the_last_good_model(data):
    settings = TrainStage(steps=5, optimizer="Adam", lr=1e30)
    with pytest.raises(StageFailed, match="became nan|became inf") as failed:
        STAGES["train"](tiny(), stage_data(data), settings)
    model = failed.value.model
    assert isinstance(model, KAN)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_on_step_can_stop_a_stage_between_steps(data):
    def stop(row):
        raise RunInterrupted(15)

    with pytest.raises(RunInterrupted):
        STAGES["train"](tiny(), StageData(data, seed=0, on_step=stop), TrainStage(steps=3))


def test_settings_come_from_the_stage_groups():
    cfg = RunConfig()
    assert stage_settings(cfg, "sparsify") is cfg.pipeline.stages.sparsify
    assert stage_settings(cfg, "grid_extend") is cfg.pipeline.stages.grid_extend
    assert stage_settings(cfg, "prune") is cfg.pipeline.stages.prune
    assert list(STAGES) == cfg.pipeline.order


def test_describe_counts_edges_and_formats_width(data):
    model = KAN([2, [2, 1], 1], grid=3, seed=0)
    assert width_text(model) == "[2,[2,1],1]"
    assert edge_counts(model) == (2 * 4 + 3 * 1, 0)
    assert spline_edges(model) == 11
    row = summary(model, data)
    assert row["n_edges"] == 11 and row["grid"] == 3 and row["n_params"] == model.n_params
