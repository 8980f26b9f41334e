"""The figure framework: configs, overrides, the job cache, MLP baseline, summaries."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from kanrun.figures import FIGURES, FigureError, load_config, make_figure
from kanrun.figures.context import FigureContext
from kanrun.figures.mlp import fit_mlp, make_mlp, n_params
from kanrun.figures.output import log_slope
from kanrun.figures.scaling import kan_slope
from kanrun.figures.special import summarize

CALLS: list[int] = []


def _square(job: dict) -> dict:
    CALLS.append(job["x"])
    return {"y": job["x"] ** 2}


def test_every_figure_has_a_config_and_a_quick_variant():
    for name in FIGURES:
        full, quick = load_config(name, False), load_config(name, True)
        assert "quick" not in full and "quick" not in quick
        assert full != quick, name


def test_quick_section_and_overrides_merge_in_order():
    cfg = load_config("grid_extension", True, ["steps=7", "seeds=[3,4]"])
    assert cfg.steps == 7 and list(cfg.seeds) == [3, 4]
    assert list(cfg.grids) == [3, 5, 10, 20]  # from the quick section
    assert load_config("grid_extension", False).steps == 200


@pytest.mark.parametrize("override, fragment", [
    ("stepz=3", "unknown key 'stepz'"),
    ("steps", "is not KEY=VALUE"),
    ("=3", "is not KEY=VALUE"),
])
def test_bad_overrides_are_named(override, fragment):
    with pytest.raises(FigureError, match=fragment):
        load_config("grid_extension", True, [override])


def test_unknown_figure_is_named_and_writes_nothing(tmp_path):
    with pytest.raises(FigureError, match="unknown figure 'nope'"):
        make_figure("nope", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_map_keeps_order_and_reuses_finished_jobs(tmp_path):
    ctx = FigureContext(name="t", cfg=None, out=tmp_path)
    CALLS.clear()
    jobs = [{"x": 3}, {"x": 1}, {"x": 2}]
    assert ctx.map(_square, jobs) == [{"y": 9}, {"y": 1}, {"y": 4}]
    assert CALLS == [3, 1, 2]
    assert ctx.map(_square, jobs + [{"x": 5}]) == [{"y": 9}, {"y": 1}, {"y": 4}, {"y": 25}]
    assert CALLS == [3, 1, 2, 5]  # only the new job ran
    (tmp_path / "jobs" / sorted(p.name for p in (tmp_path / "jobs").iterdir())[0]).write_text(
        "{broken")
    ctx.map(_square, jobs)
    assert len(CALLS) == 5  # the unreadable cache entry was recomputed


def test_log_slope_and_kan_slope():
    xs = [10, 20, 40, 80]
    assert log_slope(xs, [x ** -4.0 for x in xs]) == pytest.approx(-4.0)
    assert log_slope([1], [1]) is None
    rows = [{"n_params": n, "test_rmse": t} for n, t in
            [(10, 1e-1), (20, 1e-1 / 16), (40, 1e-1 / 256), (80, 1e-2)]]
    # the fit stops at the best grid (the overfitting tail is left out)
    assert kan_slope(rows) == pytest.approx(-4.0)


def test_special_summary_picks_smallest_under_threshold_and_best():
    def res(*tests):
        pairs = zip([3, 5, 10], tests, strict=True)
        return {"rows": [{"grid": g, "test_rmse": t} for g, t in pairs]}

    kan = [([2, 1, 1], res(5e-2, 2e-2, 1.5e-2)), ([2, 2, 1], res(8e-3, 2e-3, 9e-3)),
           ([2, 3, 1], res(4e-3, 1e-4, None))]
    mlp = [([2, 5, 1], {"test_rmse": 3e-3}), ([2, 100, 1], {"test_rmse": 6e-4})]
    row = summarize("f", kan, mlp, 1e-2)
    assert row["min_shape"] == "[2, 2, 1]" and row["min_rmse"] == 2e-3 and row["min_grid"] == 5
    assert row["best_shape"] == "[2, 3, 1]" and row["best_rmse"] == 1e-4
    assert row["mlp_rmse"] == 6e-4 and row["mlp_shape"] == "[2, 100, 1]"


def test_mlp_baseline_counts_parameters_and_learns():
    model = make_mlp([1, 10, 10, 1], "tanh", seed=0, dtype=torch.float64)
    assert n_params(model) == (1 * 10 + 10) + (10 * 10 + 10) + (10 + 1)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, generator=g, dtype=torch.float64) * 2 - 1
    xt = torch.rand(200, 1, generator=g, dtype=torch.float64) * 2 - 1
    data = {"train_input": x, "train_label": torch.sin(3 * x),
            "test_input": xt, "test_label": torch.sin(3 * xt)}
    with torch.no_grad():
        before = math.sqrt(float(torch.mean((model(xt) - data["test_label"]) ** 2)))
    out = fit_mlp(model, data, steps=10)
    assert out["test_rmse"] < 1e-2 < before
    same = fit_mlp(make_mlp([1, 10, 10, 1], "tanh", seed=0, dtype=torch.float64), data, 10)
    assert same == out  # deterministic
    with pytest.raises(ValueError, match="activation"):
        make_mlp([1, 1], "gelu")


def test_tiny_grid_extension_figure_end_to_end(tmp_path):
    out = make_figure("grid_extension", quick=True, out=tmp_path / "ge",
                      overrides=["grids=[3,5,10]", "steps=15", "shapes=[[2,1,1]]"])
    rows = list(csv.DictReader((out / "grids.csv").read_text().splitlines()))
    assert [int(r["grid"]) for r in rows] == [3, 5, 10]
    tests = [float(r["test_rmse"]) for r in rows]
    assert tests[2] < tests[0] / 5  # grid extension lowers the error
    steps = list(csv.DictReader((out / "steps.csv").read_text().splitlines()))
    assert len(steps) == 45 and {int(s["grid"]) for s in steps} == {3, 5, 10}
    readme = (out / "README.md").read_text()
    assert "pykan 0.2.8 [2, 1, 1]" in readme and "grid_extension.png" in readme
    assert (out / "grid_extension.png").stat().st_size > 10_000


def test_cli_lists_figures_and_rejects_bad_input(kanrun_cli, tmp_path):
    done = kanrun_cli("figure", "--list", cwd=tmp_path)
    assert done.returncode == 0
    for name in FIGURES:
        assert name in done.stdout
    bad = kanrun_cli("figure", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown figure 'nope'" in bad.stderr
    bad = kanrun_cli("figure", "scaling", "--quick", "stepz=1", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown key 'stepz'" in bad.stderr
    assert not (tmp_path / "figures").exists()


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the workers")
def test_sigterm_stops_the_workers_and_keeps_finished_jobs(tmp_path):
    marker = f"KANRUN_TEST_MARKER={tmp_path.name}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", marker.split("=")[0]: marker.split("=")[1]}
    out = tmp_path / "special"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kanrun.cli", "figure", "special", "--quick", "--jobs", "2",
         "--out", str(out), "functions=[jv]", "shapes=[[2,1,1]]", "mlp.steps=5000"],
        env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300  # the KAN job finishes first; the MLPs run long
    while time.monotonic() < deadline and not list((out / "jobs").glob("*.json")):
        time.sleep(0.5)
    assert list((out / "jobs").glob("*.json")), "no job finished within 5 minutes"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "stopped" in err
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_with(marker) == []  # no worker left running
    assert not (out / "README.md").exists()  # no partial figure
