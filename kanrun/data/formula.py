"""Any expression over named variables: `dataset.name=formula dataset.expr='x1*sin(x2)'`.

The variables are `dataset.inputs` (in that order) or else the keys of `dataset.ranges`;
names outside them are rejected. Without either, the names used in the expression are
the variables (natural order: x2 before x10), each in `default_range` or [-1, 1].
"""

from __future__ import annotations

import re

import sympy
import torch

from kanrun.data.bundle import DatasetBundle
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.parse import check_variable_name, parse_formula
from kanrun.data.sampling import resolve_ranges, sample_function_dataset, uniform

DEFAULT_RANGE = (-1.0, 1.0)


def formula_variables(config: DatasetConfig) -> list[str]:
    """The input names of a formula dataset, in column order."""
    if config.expr is None:
        raise DatasetError(
            "dataset.expr is not set; give the formula, e.g. dataset.expr='x1*sin(x2)' "
            "dataset.ranges={x1:[-1,1],x2:[0,3.14]}"
        )
    if config.inputs is not None:
        names = list(config.inputs)
    elif config.ranges:
        names = list(config.ranges)
    else:
        names = sorted((s.name for s in parse_formula(config.expr).free_symbols), key=_natural)
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset.inputs lists a variable twice: {names}")
    for name in names:
        check_variable_name(name)
    return names


def load_formula(config: DatasetConfig) -> DatasetBundle:
    names = formula_variables(config)
    expr = parse_formula(config.expr, names)
    ranges = resolve_ranges(names, DEFAULT_RANGE, config)
    check_no_pole(expr, names, ranges, config.expr)
    truth = str(expr)
    return sample_function_dataset(
        config,
        torch_function(expr, names),
        names,
        ranges,
        label=f"formula '{config.expr}'",
        description=f"formula: {truth}",
        truth=[truth],
    )


def check_no_pole(expr: sympy.Expr, names: list[str], ranges, text: str) -> None:
    """A division by a term that changes sign (or is 0) inside the box is a pole there:
    labels are finite at almost every sampled point but unbounded, and no model fits them."""
    box = [ranges[name] for name in names]
    points = uniform(4096, box, torch.Generator().manual_seed(0))
    for node in sympy.preorder_traversal(expr):
        if not (isinstance(node, sympy.Pow) and node.exp.is_number and node.exp < 0):
            continue
        if not node.base.free_symbols:
            continue
        values = torch_function(node.base, names)(points)
        values = values[torch.isfinite(values)]
        if values.numel() and (bool((values == 0).any())
                               or (bool((values > 0).any()) and bool((values < 0).any()))):
            shown = ", ".join(f"{n}: [{ranges[n][0]:g}, {ranges[n][1]:g}]" for n in names)
            raise DatasetError(
                f"formula '{text}' has a pole inside dataset.ranges ({shown}): it divides by "
                f"{node.base}, which is 0 there; choose ranges where {node.base} keeps one sign")


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
