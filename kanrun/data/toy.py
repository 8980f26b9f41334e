"""The KAN paper's toy functions, by name (`dataset.name=toy dataset.function=...`).

Each function is defined once, by its ground-truth expression over x1..xn; labels are
computed from that expression in float64. Inputs are uniform in [-1, 1] (the paper's
range) unless a function lists its own range.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanrun.data.bundle import DatasetBundle
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.evaluate import torch_function
from kanrun.data.parse import parse_formula
from kanrun.data.sampling import resolve_ranges, sample_function_dataset

DEFAULT_TOY = "hellokan"


@dataclass(frozen=True)
class ToyFunction:
    name: str
    n_vars: int
    truth: str  # sympy-parseable, over x1..x{n_vars}
    about: str
    range: tuple[float, float] = (-1.0, 1.0)

    @property
    def input_names(self) -> list[str]:
        return [f"x{i}" for i in range(1, self.n_vars + 1)]


def _mean_sin_sq(n: int) -> str:
    terms = " + ".join(f"sin(pi*x{i}/2)**2" for i in range(1, n + 1))
    return f"exp(({terms})/{n})"


_TOYS = [
    ToyFunction("hellokan", 2, "exp(sin(pi*x1) + x2**2)", "paper Fig 2.3 / hellokan"),
    ToyFunction("bessel", 1, "besselj(0, 20*x1)", "paper Fig 3.1 (1): J0(20x)"),
    ToyFunction("product", 2, "x1*x2", "paper Fig 3.1 (3): xy"),
    ToyFunction(
        "sin_sq_100", 100, _mean_sin_sq(100), "paper Fig 3.1 (4): exp(mean sin^2(pi x_i/2))"
    ),
    ToyFunction(
        "deep_formula",
        4,
        "exp((sin(pi*(x1**2 + x2**2)) + sin(pi*(x3**2 + x4**2)))/2)",
        "paper Fig 3.1 (5)",
    ),
    ToyFunction("exp_bessel", 2, "exp(besselj(0, 20*x1) + x2**2)", "paper Fig 4.1"),
    ToyFunction("tanh_quartic", 3, "tanh(5*(x1**4 + x2**4 + x3**4 - 1))", "paper Fig 4.1"),
    ToyFunction(
        "distance", 4, "sqrt((x1 - x2)**2 + (x3 - x4)**2)", "paper Fig 4.1: Euclidean distance"
    ),
    ToyFunction("division", 2, "x1/x2", "paper Fig 4.1: x/y on [0.5, 2]^2", (0.5, 2.0)),
    ToyFunction("sine", 1, "sin(pi*x1)", "one-dimensional smoke test"),
]

TOY_FUNCTIONS: dict[str, ToyFunction] = {toy.name: toy for toy in _TOYS}


def list_toy() -> list[str]:
    """Names of the toy functions."""
    return list(TOY_FUNCTIONS)


def get_toy(name: str | None) -> ToyFunction:
    """The toy function called `name` (None -> hellokan); DatasetError lists the choices."""
    name = DEFAULT_TOY if name is None else name
    if name not in TOY_FUNCTIONS:
        raise DatasetError(
            f"unknown toy function '{name}'; set dataset.function to one of "
            f"{', '.join(TOY_FUNCTIONS)}"
        )
    return TOY_FUNCTIONS[name]


def load_toy(config: DatasetConfig) -> DatasetBundle:
    toy = get_toy(config.function)
    names = toy.input_names
    expr = parse_formula(toy.truth, names, allow_special=True)
    ranges = resolve_ranges(names, toy.range, config)
    return sample_function_dataset(
        config,
        torch_function(expr, names),
        names,
        ranges,
        label=f"toy function {toy.name}",
        description=f"toy {toy.name}: {_short(toy.truth)} ({toy.about})",
        truth=[toy.truth],
    )


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
