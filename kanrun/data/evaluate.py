"""Expression evaluation as the datasets use it: `kanrun.common.evaluate`, whose errors are
re-raised as DatasetError (the one error type of `kanrun.data`)."""

from __future__ import annotations

from collections.abc import Sequence

import sympy
import torch

from kanrun.common import evaluate as _common
from kanrun.common.evaluate import FormulaEvaluationError, TorchFn
from kanrun.data.errors import DatasetError

__all__ = ["TorchFn", "torch_function"]


def torch_function(expr: sympy.Expr, variables: Sequence[str]) -> TorchFn:
    """:func:`kanrun.common.evaluate.torch_function`, raising DatasetError (when compiled
    and when called)."""
    try:
        fn = _common.torch_function(expr, variables)
    except FormulaEvaluationError as err:
        raise DatasetError(str(err)) from None

    def evaluate(x: torch.Tensor) -> torch.Tensor:
        try:
            return fn(x)
        except FormulaEvaluationError as err:
            raise DatasetError(str(err)) from None

    return evaluate
