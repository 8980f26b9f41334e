"""The runner in-process: run folder contents, interruption and resume, skipped stages."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal

import pytest
import torch

from kanrun.pipeline import (
    STAGES,
    PlainDisplay,
    RunConfig,
    RunInterrupted,
    artifacts,
    plots,
    prepare,
    run_pipeline,
)
from kanrun.pipeline.runner import _Signals
from kanrun.pipeline.schema import DatasetSchema, GridExtendStage, ModelConfig, SparsifyStage

torch.set_num_threads(1)


def tiny_config(**pipeline) -> RunConfig:
    cfg = RunConfig(dataset=DatasetSchema(n_train=100, n_test=100),
                    model=ModelConfig(width=[2, 2, 1], grid=3))
    cfg.pipeline.stages.grid_extend = GridExtendStage(grids=[5], steps=2)
    cfg.pipeline.stages.sparsify = SparsifyStage(steps=3)
    cfg.pipeline.stages.train.steps = 4
    cfg.pipeline.stages.fit_symbolic.steps = 2
    cfg.pipeline.plots = False
    cfg.pipeline.recovery_seconds = 2.0
    for key, value in pipeline.items():
        setattr(cfg.pipeline, key, value)
    return cfg


class StopAt(PlainDisplay):
    """A display that interrupts the run at its n-th optimizer step, like a SIGTERM."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.seen = n, 0

    def step(self, row):
        super().step(row)
        self.seen += 1
        if self.seen == self.n:
            raise RunInterrupted(signal.SIGTERM)


def without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_run_writes_tables_state_and_metrics(tmp_path):
    cfg = tiny_config(order=["train", "sparsify", "grid_extend"], plots=True)
    outcome = run_pipeline(prepare(cfg), tmp_path, PlainDisplay())
    assert outcome.status == "completed" and outcome.exit_code == 0
    losses = artifacts.read_loss_rows(tmp_path / "losses.csv")
    assert [r["stage"] for r in losses] == ["train"] * 4 + ["sparsify"] * 3 + ["grid_extend"] * 2
    assert [r["grid"] for r in losses][-2:] == [5, 5]
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(losses, losses[1:], strict=False))
    state = json.loads((tmp_path / "state.json").read_text())
    assert [d["stage"] for d in state["done"]] == ["train", "sparsify", "grid_extend"]
    assert [d["n_loss_rows"] for d in state["done"]] == [4, 7, 9]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["grid"] == 5
    # the fit's losses come from its NumPy objective, metrics from the model's forward: in
    # float32 the two round outputs differently by an ulp, ~1e-6 of this small residual
    assert metrics["test_rmse"] == pytest.approx(losses[-1]["test_rmse"], rel=1e-5)
    assert metrics["formula_test_rmse"] is None  # splines remain: no formula
    assert not (tmp_path / "formula.json").exists()
    assert (tmp_path / "plots" / "losses.png").is_file()
    assert (tmp_path / "plots" / "grid_extension.png").is_file()
    assert (tmp_path / "plots" / "network_train.png").is_file()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "grid_extend.pt", "sparsify.pt", "train.pt"]
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    cfg = tiny_config()
    reference = run_pipeline(prepare(cfg), tmp_path / "ref", PlainDisplay())
    stopped = run_pipeline(prepare(cfg), tmp_path / "run", StopAt(6))  # inside sparsify
    assert stopped.status == "interrupted" and stopped.exit_code == 128 + signal.SIGTERM
    assert stopped.metrics["stages_done"] == ["train"]
    assert len(artifacts.read_loss_rows(tmp_path / "run" / "losses.csv")) == 6
    resumed = run_pipeline(prepare(cfg), tmp_path / "run", PlainDisplay(), resume=True)
    assert resumed.status == "completed"
    ref_rows = artifacts.read_loss_rows(tmp_path / "ref" / "losses.csv")
    run_rows = artifacts.read_loss_rows(tmp_path / "run" / "losses.csv")
    assert without_seconds(run_rows) == without_seconds(ref_rows)
    for key in ("train_rmse", "test_rmse", "n_params", "width", "formula_test_rmse"):
        assert resumed.metrics[key] == reference.metrics[key], key


def test_resume_after_a_crash_continues_from_the_last_completed_stage(tmp_path, monkeypatch):
    cfg = tiny_config(order=["train", "sparsify", "grid_extend"])
    reference = run_pipeline(prepare(cfg), tmp_path / "ref", PlainDisplay())

    def crash(model, data, settings):
        raise RuntimeError("boom")

    monkeypatch.setitem(STAGES, "sparsify", crash)
    with pytest.raises(RuntimeError, match="boom"):
        run_pipeline(prepare(cfg), tmp_path / "run", PlainDisplay())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "sparsify crashed" in metrics["error"]
    monkeypatch.undo()
    resumed = run_pipeline(prepare(cfg), tmp_path / "run", PlainDisplay(), resume=True)
    assert resumed.metrics["test_rmse"] == reference.metrics["test_rmse"]
    assert without_seconds(artifacts.read_loss_rows(tmp_path / "run" / "losses.csv")) == (
        without_seconds(artifacts.read_loss_rows(tmp_path / "ref" / "losses.csv")))


def read_stages(run_dir):
    with open(run_dir / "stages.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_resume_of_a_finished_stage_list_only_exports(tmp_path):
    cfg = tiny_config(order=["train"])
    first = run_pipeline(prepare(cfg), tmp_path, PlainDisplay())
    again = run_pipeline(prepare(cfg), tmp_path, PlainDisplay(), resume=True)
    assert again.metrics["test_rmse"] == first.metrics["test_rmse"]
    assert len(artifacts.read_loss_rows(tmp_path / "losses.csv")) == 4


def test_sigterm_becomes_a_stop_request_then_an_interrupt():
    signals = _Signals()
    previous = signal.getsignal(signal.SIGTERM)
    with signals:
        signals.check()  # nothing pending
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.signum == signal.SIGTERM
        with pytest.raises(RunInterrupted) as stop:
            signals.check()
        assert stop.value.signum == signal.SIGTERM
        with pytest.raises(RunInterrupted):  # a second signal interrupts at once
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_tables_round_trip_exactly_and_json_has_no_nan(tmp_path):
    rows = [{"stage": "train", "step": 0, "grid": 3, "train_rmse": 0.1 + 0.2,
             "test_rmse": 1 / 3, "reg": 0.0, "seconds": 1.25}]
    artifacts.write_csv(tmp_path / "losses.csv", artifacts.LOSS_COLUMNS, rows)
    assert artifacts.read_loss_rows(tmp_path / "losses.csv") == rows
    artifacts.write_json(tmp_path / "m.json", {"a": math.nan, "b": [math.inf, 1.0]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None, "b": [None, 1.0]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses.csv", "m.json"]


def test_grid_curve_starts_from_the_stage_before_grid_extend():
    stages = [{"stage": "train", "grid": 3, "test_rmse": 0.5},
              {"stage": "grid_extend", "grid": 10, "test_rmse": 0.01}]
    losses = [{"stage": "grid_extend", "grid": 5, "test_rmse": 0.2},
              {"stage": "grid_extend", "grid": 5, "test_rmse": 0.1},
              {"stage": "grid_extend", "grid": 10, "test_rmse": 0.01}]
    assert plots.grid_points(losses, stages) == [(3, 0.5), (5, 0.1), (10, 0.01)]


def test_plain_display_logs_every_nth_step_and_the_last(caplog):
    display = PlainDisplay(log_every=2)
    with caplog.at_level(logging.INFO, logger="kanrun.run"):
        display.stage_start("train", 0, 1, 5)
        for _ in range(5):
            display.step({"train_rmse": 0.1, "test_rmse": 0.2, "grid": 3})
    steps = [r.getMessage() for r in caplog.records if "] step" in r.getMessage()]
    assert [s.split()[2] for s in steps] == ["2/5", "4/5", "5/5"]
