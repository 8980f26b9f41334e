"""Figure sweeps fit the seeds of a setting at once: the same numbers as one by one, one
cache entry per job, and no idle worker."""

from __future__ import annotations

from omegaconf import OmegaConf

from kanrun.figures.context import FigureContext, _units
from kanrun.figures.training import kan_schedule, kan_schedules, same_but_seed

BASE = {"dataset": {"name": "toy", "function": "hellokan", "n_train": 200, "n_test": 200,
                    "seed": 0, "dtype": "float64"},
        "dtype": "float64", "width": [2, 3, 1], "grids": [3, 6], "steps": 8,
        "update_grid": "first", "refine_margin": 0.05, "record_steps": True}


def test_batched_schedules_equal_the_solo_schedules():
    jobs = [{**BASE, "seed": s} for s in (0, 1, 2)]
    many = kan_schedules(jobs)
    for job, got in zip(jobs, many, strict=True):
        solo = kan_schedule(job)
        assert [r["grid"] for r in got["rows"]] == [3, 6]
        for a, b in zip(got["rows"], solo["rows"], strict=True):
            assert a["n_params"] == b["n_params"] and a["status"] == b["status"] == "ok"
            assert abs(a["train_rmse"] - b["train_rmse"]) <= 1e-12 * b["train_rmse"]
            assert abs(a["test_rmse"] - b["test_rmse"]) <= 1e-12 * b["test_rmse"]
        assert len(got["steps"]) == len(solo["steps"]) == 16
        for a, b in zip(got["steps"], solo["steps"], strict=True):
            assert a[0] == b[0] and abs(a[1] - b[1]) <= 1e-9 * b[1]
    assert len({g["rows"][-1]["train_rmse"] for g in many}) == 3  # the seeds differ


def test_map_batches_by_key_and_caches_per_job(tmp_path):
    calls = []
    ctx = FigureContext("t", OmegaConf.create({}), tmp_path)
    jobs = [{**BASE, "seed": s, "width": w} for w in ([2, 1], [2, 2, 1]) for s in (0, 1)]
    first = ctx.map(kan_schedule, jobs, batched=(kan_schedules, same_but_seed),
                    label=lambda j: calls.append(j["seed"]) or "")
    assert len(calls) == 4 and len(list((tmp_path / "jobs").glob("*.json"))) == 4
    again = ctx.map(kan_schedule, jobs)  # the unbatched map reads the same cache entries
    assert again == first and len(calls) == 4


def test_units_split_groups_for_idle_workers():
    todo = [(i, {"seed": i, "w": i // 4}, None) for i in range(8)]  # two groups of 4
    key = lambda job: job["w"]  # noqa: E731
    assert sorted(len(u) for u in _units(todo, key, workers=1)) == [4, 4]
    assert sorted(len(u) for u in _units(todo, key, workers=4)) == [2, 2, 2, 2]
    assert sorted(len(u) for u in _units(todo, None, workers=1)) == [1] * 8
    assert sorted(i for u in _units(todo, key, workers=3) for i, _, _ in u) == list(range(8))
