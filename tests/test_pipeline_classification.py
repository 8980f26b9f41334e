"""Classification runs export one formula per class logit, checked by its accuracy."""

from __future__ import annotations

import json

import sympy
import torch

from kanrun.pipeline import PlainDisplay, RunConfig, prepare, run_pipeline
from kanrun.pipeline.schema import DatasetSchema, GridExtendStage, ModelConfig


def test_logit_formulas_and_their_accuracy(tmp_path):
    torch.set_num_threads(1)
    cfg = RunConfig(dataset=DatasetSchema(name="classification", n_train=200, n_test=200),
                    model=ModelConfig(hidden=[2], grid=3))
    cfg.pipeline.stages.grid_extend = GridExtendStage(grids=[5], steps=2)
    cfg.pipeline.order = ["train", "auto_symbolic", "fit_symbolic"]
    cfg.pipeline.stages.train.steps = 10
    cfg.pipeline.stages.fit_symbolic.steps = 5
    cfg.pipeline.plots = False
    run_pipeline(prepare(cfg), tmp_path, PlainDisplay())
    blob = json.loads((tmp_path / "formula.json").read_text())
    assert [o["name"] for o in blob["outputs"]] == ["logit_0", "logit_1"]
    exprs = [sympy.sympify(o["expr"]) for o in blob["outputs"]]
    assert all(e.free_symbols <= set(sympy.symbols("x1 x2")) for e in exprs)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["formula_test_accuracy"] == blob["test_accuracy"]
    assert 0.6 <= blob["test_accuracy"] <= 1.0  # two separable moons-like classes
    # the accuracy is that of argmax over the logit formulas, recomputed here
    bundle = prepare(cfg).bundle
    x = bundle.data["test_input"].double()
    fns = [sympy.lambdify(sympy.symbols("x1 x2"), e, "math") for e in exprs]
    pred = torch.tensor([max(range(2), key=lambda k: fns[k](a, b)) for a, b in x.tolist()])
    acc = float((pred == bundle.data["test_label"]).double().mean())
    assert abs(acc - blob["test_accuracy"]) < 1e-9
