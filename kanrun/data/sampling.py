"""Seeded sampling shared by the function datasets (toy, feynman, special, formula).

Each random quantity (train inputs, test inputs, train noise, test noise, table split)
has its own stream derived from the config seed: the test inputs are the same whatever
n_train is, a smaller training set is a prefix of a larger one, and adding noise does not
move the inputs.
Inputs are drawn uniformly in float64, labels computed in float64, then both are cast
to the requested dtype. Global RNG state is never read or written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from kanrun.common.dtypes import torch_dtype  # re-exported for the samplers
from kanrun.data.bundle import DatasetBundle
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError

TRAIN_INPUT, TEST_INPUT, TRAIN_NOISE, TEST_NOISE, SPLIT = range(5)

Range = tuple[float, float]


def generator(seed: int, stream: int) -> torch.Generator:
    """A torch.Generator for one named stream of `seed` (independent across streams)."""
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def resolve_ranges(
    names: Sequence[str],
    defaults: Mapping[str, Range] | Range,
    config: DatasetConfig,
) -> dict[str, Range]:
    """Per-variable ranges: config.ranges, else config.default_range, else `defaults`."""
    overrides = config.ranges or {}
    unknown = [key for key in overrides if key not in names]
    if unknown:
        raise DatasetError(
            f"dataset.ranges names '{unknown[0]}', which is not a variable of this dataset; "
            f"its variables are {', '.join(names)}"
        )
    fallback = None
    if config.default_range is not None:
        fallback = check_range("dataset.default_range", config.default_range)
    ranges = {}
    for name in names:
        if name in overrides:
            ranges[name] = check_range(f"dataset.ranges.{name}", overrides[name])
        elif fallback is not None:
            ranges[name] = fallback
        elif isinstance(defaults, Mapping):
            ranges[name] = tuple(defaults[name])
        else:
            ranges[name] = tuple(defaults)
    return ranges


def check_range(label: str, value: Sequence[float]) -> Range:
    """Return (low, high) or raise DatasetError: two finite numbers with low < high."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise DatasetError(f"{label} must be a pair [low, high], got {value!r}")
    try:
        low, high = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise DatasetError(f"{label} must hold two numbers [low, high], got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise DatasetError(f"{label} must be finite, got [{low}, {high}]")
    if not low < high:
        raise DatasetError(f"{label} must have low < high, got [{low}, {high}]")
    return (low, high)


def uniform(n: int, ranges: Sequence[Range], gen: torch.Generator) -> torch.Tensor:
    """(n, len(ranges)) float64 points, column i uniform in ranges[i]."""
    low = torch.tensor([r[0] for r in ranges], dtype=torch.float64)
    high = torch.tensor([r[1] for r in ranges], dtype=torch.float64)
    return low + (high - low) * torch.rand(n, len(ranges), generator=gen, dtype=torch.float64)


def add_noise(
    train: torch.Tensor, test: torch.Tensor, noise: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add Gaussian noise of std noise * RMS(clean train labels) per output column.

    The RMS (root mean square, not the standard deviation) is SRBench's definition of a
    noise level, so `noise=0.01` here is the noise of its published tables."""
    if noise == 0:
        return train, test
    scale = noise * train.square().mean(dim=0).sqrt()
    train = train + scale * torch.randn(
        train.shape, generator=generator(seed, TRAIN_NOISE), dtype=train.dtype
    )
    test = test + scale * torch.randn(
        test.shape, generator=generator(seed, TEST_NOISE), dtype=test.dtype
    )
    return train, test


def noisy_splits(
    config: DatasetConfig,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The four tensors of a regression dataset: `config.noise` added to the labels, all
    cast to `config.dtype`."""
    train_y, test_y = add_noise(train_y, test_y, config.noise, config.seed)
    dtype = torch_dtype(config.dtype)
    splits = {"train_input": train_x, "train_label": train_y,
              "test_input": test_x, "test_label": test_y}
    return {key: value.to(dtype) for key, value in splits.items()}


def check_finite(label: str, x: torch.Tensor, y: torch.Tensor, names: Sequence[str]) -> None:
    """Raise DatasetError when some labels are NaN/inf, showing one offending point."""
    bad = ~torch.isfinite(y).reshape(y.shape[0], -1).all(dim=1)
    count = int(bad.sum())
    if count:
        row = x[bad.nonzero()[0, 0]]
        point = ", ".join(f"{n}={float(v):.6g}" for n, v in zip(names, row, strict=True))
        raise DatasetError(
            f"{label} is not finite at {count} of {y.shape[0]} sampled points (e.g. at "
            f"{point}); narrow dataset.ranges to where it is defined"
        )


def sample_function_dataset(
    config: DatasetConfig,
    function: Callable[[torch.Tensor], torch.Tensor],
    input_names: Sequence[str],
    ranges: Mapping[str, Range],
    *,
    label: str,
    description: str,
    truth: list[str] | None,
    output_names: Sequence[str] = ("y",),
) -> DatasetBundle:
    """Sample inputs in `ranges`, compute labels with `function` (float64), add noise.

    `function` maps a float64 (n, d) tensor to (n,) or (n, m) labels.
    """
    box = [ranges[name] for name in input_names]
    train_x = uniform(config.n_train, box, generator(config.seed, TRAIN_INPUT))
    test_x = uniform(config.n_test, box, generator(config.seed, TEST_INPUT))
    with torch.no_grad():
        train_y = _as_columns(function(train_x))
        test_y = _as_columns(function(test_x))
    check_finite(label, train_x, train_y, input_names)
    check_finite(label, test_x, test_y, input_names)
    return DatasetBundle(
        data=noisy_splits(config, train_x, train_y, test_x, test_y),
        input_names=list(input_names),
        output_names=list(output_names),
        truth=truth,
        task="regression",
        description=description,
        ranges={name: tuple(ranges[name]) for name in input_names},
    )


def _as_columns(y: torch.Tensor) -> torch.Tensor:
    y = y.to(torch.float64)
    return y.unsqueeze(1) if y.ndim == 1 else y
