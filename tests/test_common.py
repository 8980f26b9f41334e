"""kanrun.common: atomic writes (whole file or the old one) and the one RMSE."""

from __future__ import annotations

import pytest

from kanrun.common.atomic import write_text, write_with


def test_write_text_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_text(path, "é 1\n")
    write_text(path, "two\n")
    assert path.read_bytes() == b"two\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "b.txt"
    write_text(path, "old\n")

    def half_then_fail(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("new, half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


def test_rmse_is_one_formula_for_numpy_and_torch():
    import math

    import numpy as np
    import torch

    from kanrun.common.metrics import rmse

    pred, target = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 0.0])
    assert rmse(pred, target) == math.sqrt(20.0 / 3.0)
    assert rmse(torch.from_numpy(pred), torch.from_numpy(target)) == math.sqrt(20.0 / 3.0)
    assert math.isnan(rmse(np.array([np.nan]), np.array([0.0])))
    assert rmse(np.array([np.inf]), np.array([0.0])) == math.inf


def test_the_datasets_evaluate_with_the_common_function_and_raise_their_own_error():
    import sympy
    import torch

    from kanrun.common.evaluate import FormulaEvaluationError
    from kanrun.common.evaluate import torch_function as common_function
    from kanrun.data import DatasetError, torch_function

    x1, x2 = sympy.symbols("x1 x2")
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    expected = torch.tensor([1.0 * 4.0 + 1.0, 3.0 * 1.0 + 1.0], dtype=torch.float64)
    for fn in (common_function(x1 * x2**2 + 1, ["x1", "x2"]),
               torch_function(x1 * x2**2 + 1, ["x1", "x2"])):
        assert torch.equal(fn(x), expected)
    with pytest.raises(FormulaEvaluationError, match="x3"):
        common_function(x1 + sympy.Symbol("x3"), ["x1", "x2"])
    with pytest.raises(DatasetError, match="shape"):
        torch_function(x1, ["x1", "x2"])(x[:, :1])
