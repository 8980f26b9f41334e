"""Every kind of dataset through the real command, end to end (slow: one process each)."""

import json

import pytest


def _write_csv(path):
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, 300), rng.uniform(0.5, 2, 300)
    rows = ["a,b,y"] + [f"{x:.6f},{z:.6f},{x * z:.6f}" for x, z in zip(a, b, strict=True)]
    path.write_text("\n".join(rows) + "\n")


CASES = {
    "feynman": ["+experiment=feynman"],
    "special": ["dataset=special", "dataset.function=jv"],
    "csv": ["dataset=csv", "dataset.path={csv}", "dataset.inputs=[a,b]", "dataset.targets=[y]"],
    "classification": ["dataset=classification", "model.width=[2,5,2]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_dataset_runs_end_to_end(case, kanrun_cli, tmp_path):
    csv = tmp_path / "data.csv"
    _write_csv(csv)
    args = [a.format(csv=csv) for a in CASES[case]]
    quick = ["pipeline.stages.train.steps=5", "pipeline.stages.sparsify.steps=3",
             "pipeline.stages.grid_extend.grids=[8]", "pipeline.stages.grid_extend.steps=2",
             "pipeline.stages.fit_symbolic.steps=2", "pipeline.plots=false",
             "quiet=true"]
    if case == "classification":
        quick.append("pipeline.order=[train,sparsify,prune,grid_extend]")
    run_dir = tmp_path / "run"
    result = kanrun_cli("train", *args, *quick, f"hydra.run.dir={run_dir}", cwd=tmp_path,
                        timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["test_rmse"] == metrics["test_rmse"]  # a number, not NaN
    if case == "classification":
        assert 0.5 <= metrics["test_accuracy"] <= 1.0
