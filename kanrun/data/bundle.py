"""`DatasetBundle`: tensors plus what a formula search needs to know about them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch

from kanrun.data.errors import DatasetError
from kanrun.data.parse import parse_formula


@dataclass(frozen=True)
class Normalization:
    """Standardization applied to a table: z = (value - shift) / scale, per column.

    Statistics come from the training rows only (population std, ddof=0). Target
    shift/scale are empty when targets were left in original units (classification).
    """

    input_shift: tuple[float, ...]
    input_scale: tuple[float, ...]
    target_shift: tuple[float, ...] = ()
    target_scale: tuple[float, ...] = ()


@dataclass
class DatasetBundle:
    """Train/test tensors and their meaning.

    data: train_input (n_train, d), train_label (n_train, m) -- or (n_train,) long class
        indices for classification -- test_input, test_label; inputs and regression labels
        in the config's dtype, on the CPU.
    input_names / output_names: one name per input column / output.
    truth: per output, a sympy-parseable ground-truth expression over input_names, or None
        when the data has no known formula (tables, ellipj, classification).
    ranges: per input name, the [low, high] it was sampled from (None for tables).
    normalization: set when inputs/targets were standardized (see to_original_units).
    """

    data: dict[str, torch.Tensor]
    input_names: list[str]
    output_names: list[str]
    truth: list[str] | None
    task: str = "regression"
    n_classes: int | None = None
    description: str = ""
    ranges: dict[str, tuple[float, float]] | None = None
    normalization: Normalization | None = None
    class_names: list[str] | None = None

    @property
    def n_inputs(self) -> int:
        return len(self.input_names)

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    def to_original_units(self, expr_list: Sequence[sympy.Expr | str]) -> list[sympy.Expr]:
        """Map formulas found on the (possibly standardized) data back to original units.

        Each expression is over symbols named by input_names (strings are parsed with
        parse_formula). With normalization, input symbol x becomes (x - shift) / scale
        and a regression output f becomes target_shift + target_scale * f. Without it the
        expressions are returned unchanged (strings parsed).
        """
        if isinstance(expr_list, (str, sympy.Basic)):
            expr_list = [expr_list]
        expressions = [
            parse_formula(e, self.input_names) if isinstance(e, str) else sympy.sympify(e)
            for e in expr_list
        ]
        if len(expressions) != len(self.output_names) and self.task == "regression":
            raise DatasetError(
                f"expected {len(self.output_names)} expression(s), one per output "
                f"({', '.join(self.output_names)}), got {len(expressions)}"
            )
        norm = self.normalization
        if norm is None:
            return expressions
        replaced = {}
        for name, shift, scale in zip(
            self.input_names, norm.input_shift, norm.input_scale, strict=True
        ):
            replaced[name] = (sympy.Symbol(name, real=True) - sympy.Float(shift)) / sympy.Float(
                scale
            )
        result = []
        for i, expr in enumerate(expressions):
            mapping = {s: replaced[s.name] for s in expr.free_symbols if s.name in replaced}
            original = expr.xreplace(mapping)
            if norm.target_scale:
                original = (
                    sympy.Float(norm.target_shift[i]) + sympy.Float(norm.target_scale[i]) * original
                )
            result.append(original)
        return result
