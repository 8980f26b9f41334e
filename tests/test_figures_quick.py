"""Every figure's quick variant through `kanrun figure NAME --quick` (slow: minutes each)."""

from __future__ import annotations

import csv

import pytest

pytestmark = pytest.mark.slow


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(kanrun_cli, tmp_path, name):
    out = tmp_path / name
    done = kanrun_cli("figure", name, "--quick", "--jobs", "2", "--out", out, cwd=tmp_path,
                      timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "README.md").is_file()
    return out


def test_grid_extension_quick(kanrun_cli, tmp_path):
    out = _run(kanrun_cli, tmp_path, "grid_extension")
    rows = [r for r in _rows(out / "grids.csv") if r["shape"] == "[2, 1, 1]"]
    test = {int(r["grid"]): float(r["test_rmse"]) for r in rows}
    assert test[20] < test[10] < test[5] < test[3]
    assert test[20] < 3e-4  # pykan 0.2.8 with 200 steps/grid: 1.4e-4
    assert (out / "grid_extension.png").stat().st_size > 20_000


def test_scaling_quick(kanrun_cli, tmp_path):
    out = _run(kanrun_cli, tmp_path, "scaling")
    slopes = {r["function"]: r for r in _rows(out / "slopes.csv")}
    assert set(slopes) == {"bessel", "hellokan", "product", "sin_sq_100", "deep_formula"}
    assert float(slopes["hellokan"]["kan_slope"]) < -2.5
    assert float(slopes["hellokan"]["kan_best_test"]) < 1e-3
    points = _rows(out / "points.csv")
    assert sum(p["model"] == "MLP" for p in points) == 5 * 2 * 2


def test_special_quick(kanrun_cli, tmp_path):
    out = _run(kanrun_cli, tmp_path, "special")
    table = {r["function"]: r for r in _rows(out / "table1.csv")}
    assert set(table) == {"jv", "lpmv_m0", "sph_harm_m0_n1"}
    for row in table.values():
        assert float(row["best_rmse"]) < 1e-2
        assert row["min_shape"]  # some shape reached RMSE < 1e-2


def test_feynman_quick(kanrun_cli, tmp_path):
    out = _run(kanrun_cli, tmp_path, "feynman")
    rows = _rows(out / "table2.csv")
    assert [r["equation"] for r in rows] == ["I.6.2", "I.12.11", "II.38.3"]
    for r in rows:
        assert r["exit_code"] == "0"
        assert float(r["kan_test_rmse"]) < 0.05 and float(r["mlp_test_rmse"]) < 0.05
        assert (out / "runs" / r["equation"] / "formula.txt").is_file()


def test_hellokan_quick(kanrun_cli, tmp_path):
    out = _run(kanrun_cli, tmp_path, "hellokan")
    stages = _rows(out / "run" / "stages.csv")
    assert [s["stage"] for s in stages] == ["train", "sparsify", "prune", "grid_extend",
                                            "auto_symbolic", "fit_symbolic"]
    assert stages[2]["width"] == "[2,1,1]"
    assert float(stages[-1]["test_rmse"]) < 1e-3
    assert (out / "hellokan.png").stat().st_size > 50_000
    assert "recovered: True" in (out / "README.md").read_text()
