"""Report and run-plot polish: plain numbers, failed runs counted, stages marked."""

from __future__ import annotations

import math

import pandas as pd

from kanrun.pipeline.plots import loss_figure
from kanrun.report.runs import parse_overrides
from kanrun.report.tables import format_cell, recovery_rows


def test_cells_are_short_numbers():
    assert format_cell("n_params", 125.0) == "125"
    assert format_cell("test_rmse", 0.00012345678901234) == "1.235e-04"
    assert format_cell("seconds", 12.3456789) == "12.3"
    assert format_cell("lamb", 0.0012345678) == "0.001235"
    assert format_cell("test_rmse", math.nan) == "" and format_cell("formula", "x1") == "x1"
    assert format_cell("recovered", True) == "True"


def test_recovery_counts_the_failed_runs():
    table = pd.DataFrame([
        {"equation": "I.6.2", "truth": "exp(-x**2)", "recovered": True, "test_rmse": 1e-4,
         "status": "completed", "formula": "exp(-x**2)", "width": "[1,1]"},
        {"equation": "I.6.2", "truth": "exp(-x**2)", "recovered": False, "test_rmse": 2e-2,
         "status": "completed", "formula": "x", "width": "[1,1]"},
        {"equation": "I.6.2", "truth": None, "recovered": None, "test_rmse": None,
         "status": "failed", "formula": None, "width": None},
        {"equation": "I.6.2", "truth": None, "recovered": None, "test_rmse": None,
         "status": "failed", "formula": None, "width": None},
    ])
    (row,) = recovery_rows(table)
    assert row[0] == "I.6.2" and row[5] == "yes" and row[6] == "1/4 (2 failed)"
    assert row[3] == "1.00e-04"


def _tick_labels(fig):
    fig.canvas.draw()
    ax = fig.axes[0]
    return [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]


def test_loss_plot_labels_marks_and_plain_ticks():
    loss = [{"stage": "train", "step": k, "train_rmse": 80.0 / (k + 1), "test_rmse": 90.0 / (k + 1)}
            for k in range(5)]
    loss += [{"stage": "grid_extend", "step": 5 + k, "train_rmse": 20.0, "test_rmse": 21.0}
             for k in range(3)]
    stages = [{"stage": s, "status": "completed"} for s in ("train", "prune", "grid_extend",
                                                             "auto_symbolic")]
    fig = loss_figure(loss, stages, task="classification")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "sqrt(cross-entropy)"
    texts = {t.get_text().strip() for t in ax.texts}
    assert {"train", "grid_extend", "prune", "auto_symbolic"} <= texts
    labels = _tick_labels(fig)
    assert labels and not any("times" in s or "^" in s for s in labels), labels
    assert loss_figure(loss, stages).axes[0].get_ylabel() == "RMSE"


def test_old_runs_swept_regularization_keys_read_as_the_stage_key():
    assert parse_overrides(["regularization.lamb=0.1", "+regularization.steps=3",
                            "regularization=strong", "model.grid=5"]) == {
        "pipeline.stages.sparsify.lamb": "0.1", "+pipeline.stages.sparsify.steps": "3",
        "regularization": "strong", "model.grid": "5"}


def test_old_runs_swept_grid_keys_read_as_the_stage_key():
    assert parse_overrides(["grid.grids=[10,20]", "+grid.steps=3", "grid=paper",
                            "model.grid=5"]) == {
        "pipeline.stages.grid_extend.grids": "[10,20]",
        "+pipeline.stages.grid_extend.steps": "3", "grid": "paper", "model.grid": "5"}
