"""The 120 AI Feynman equations (`dataset.name=feynman dataset.equation=I.6.20a`).

The table ships with the package (feynman_equations.csv: id, name, n_vars, variables,
expr, ranges); its sympy expression is the ground truth. It follows pykan's numbering
and names, with pykan's known defects corrected. Names of the original AI Feynman files
that pykan renamed (I.6.2a, I.6.2, I.6.2b, I.8.14, I.18.14, I.48.2, II.10.9) are accepted
as aliases.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources

from kanrun.data.bundle import DatasetBundle
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.parse import parse_formula
from kanrun.data.sampling import resolve_ranges, sample_function_dataset

DEFAULT_EQUATION = "I.6.20"

ALIASES = {
    "I.6.2a": "I.6.20a",
    "I.6.2": "I.6.20",
    "I.6.2b": "I.6.20b",
    "I.8.14": "I.8.4",
    "I.18.14": "I.18.16",
    "I.48.2": "I.48.20",
    "II.10.9": "I.10.9",
}


@dataclass(frozen=True)
class FeynmanEquation:
    id: int
    name: str
    variables: tuple[str, ...]
    expr: str  # sympy ground truth over `variables`
    ranges: tuple[tuple[float, float], ...]  # one [low, high] per variable

    @property
    def n_vars(self) -> int:
        return len(self.variables)


def _read_table() -> tuple[FeynmanEquation, ...]:
    text = resources.files(__package__).joinpath("feynman_equations.csv").read_text("utf-8")
    equations = []
    for row in csv.DictReader(io.StringIO(text)):
        variables = tuple(row["variables"].split())
        ranges = tuple((float(low), float(high)) for low, high in json.loads(row["ranges"]))
        if len(variables) != int(row["n_vars"]) or len(ranges) != len(variables):
            raise DatasetError(  # pragma: no cover - guards the shipped file
                f"feynman_equations.csv row {row['id']} is inconsistent"
            )
        equations.append(
            FeynmanEquation(int(row["id"]), row["name"], variables, row["expr"], ranges)
        )
    return tuple(equations)


FEYNMAN: tuple[FeynmanEquation, ...] = _read_table()
_BY_NAME = {eq.name.lower(): eq for eq in FEYNMAN}
_BY_ID = {eq.id: eq for eq in FEYNMAN}
_ALIASES = {alias.lower(): name for alias, name in ALIASES.items()}


def list_feynman(max_vars: int | None = None) -> list[str]:
    """Equation names in id order (only those with at most `max_vars` variables if given)."""
    return [eq.name for eq in FEYNMAN if max_vars is None or eq.n_vars <= max_vars]


def get_feynman(equation: str | int | None) -> FeynmanEquation:
    """Look an equation up by name (case-insensitive, aliases accepted) or by id 1..120."""
    if equation is None:
        equation = DEFAULT_EQUATION
    key = str(equation).strip()
    if key.isdigit():
        if int(key) in _BY_ID:
            return _BY_ID[int(key)]
        raise DatasetError(f"unknown Feynman equation id {key}; ids run from 1 to {len(FEYNMAN)}")
    found = _BY_NAME.get(_ALIASES.get(key.lower(), key).lower())
    if found is None:
        raise DatasetError(
            f"unknown Feynman equation '{equation}'; set dataset.equation to an id "
            f"1..{len(FEYNMAN)} or one of: {', '.join(eq.name for eq in FEYNMAN)}"
        )
    return found


def load_feynman(config: DatasetConfig) -> DatasetBundle:
    equation = get_feynman(config.equation)
    names = list(equation.variables)
    expr = parse_formula(equation.expr, names)
    ranges = resolve_ranges(names, dict(zip(names, equation.ranges, strict=True)), config)
    return sample_function_dataset(
        config,
        torch_function(expr, names),
        names,
        ranges,
        label=f"Feynman {equation.name}",
        description=f"Feynman {equation.name}: {equation.expr}",
        truth=[equation.expr],
    )
