"""Regression on the user's table: `dataset.name=csv dataset.path=data.csv`.

Columns: `dataset.targets` (default: the last column; `dataset.target` names one) and
`dataset.inputs` (default: every other column). Rows are shuffled with the seed and
`test_fraction` of them held out, unless `dataset.test_path` gives the test rows; then all
rows of `path` train. n_train / n_test do not apply: every row is used.
With `normalize: true`, inputs and targets are standardized with the training rows' mean
and (population) std; `bundle.to_original_units` maps formulas back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from kanrun.data.bundle import DatasetBundle, Normalization
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.sampling import SPLIT, generator, noisy_splits
from kanrun.data.table import Table, numeric_matrix, read_table


def require_path(config: DatasetConfig) -> str:
    if not config.path:
        raise DatasetError("dataset.path is not set; give the CSV file: dataset.path=data.csv")
    return config.path


def choose_columns(
    table: Table, config: DatasetConfig, targets: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """(inputs, targets) column names, checked against the table's header."""
    if targets is None:
        targets = [table.columns[-1]]
    targets = list(targets)
    for name in targets:
        table.index(name, "dataset.targets")
    if config.inputs is not None:
        inputs = list(config.inputs)
        for name in inputs:
            table.index(name, "dataset.inputs")
    else:
        inputs = [name for name in table.columns if name not in targets]
    if not inputs:
        raise DatasetError(
            f"no input columns left in file {table.path!r}; list them in dataset.inputs"
        )
    if not targets:
        raise DatasetError("dataset.targets is empty; name at least one target column")
    both = [name for name in inputs if name in targets]
    if both:
        raise DatasetError(f"column {both[0]!r} is both an input and a target; pick one")
    for option, names in (("dataset.inputs", inputs), ("dataset.targets", targets)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DatasetError(f"{option} lists column {repeated[0]!r} twice")
    return inputs, targets


def regression_targets(config: DatasetConfig) -> list[str] | None:
    both = config.target is not None and config.targets is not None
    if both and list(config.targets) != [config.target]:
        raise DatasetError(
            "set either dataset.target or dataset.targets, not both (they disagree)"
        )
    if config.targets is not None:
        return list(config.targets)
    return None if config.target is None else [config.target]


def split_indices(n: int, test_fraction: float, seed: int, path: str) -> tuple:
    """Deterministic shuffled (train, test) row indices."""
    n_test = round(n * test_fraction)
    if n_test < 1 or n - n_test < 1:
        raise DatasetError(
            f"file {path!r} has {n} data rows; with test_fraction={test_fraction} that "
            f"leaves {n - n_test} for training and {n_test} for testing. Add rows, change "
            f"dataset.test_fraction, or give dataset.test_path"
        )
    order = torch.randperm(n, generator=generator(seed, SPLIT))
    return order[n_test:], order[:n_test]


def standardize(
    train: torch.Tensor, test: torch.Tensor, names: Sequence[str], path: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardize columns with training statistics: (train, test, shift, scale)."""
    shift = train.mean(dim=0)
    scale = train.std(dim=0, unbiased=False)
    for name, value in zip(names, scale, strict=True):
        if not float(value) > 0:
            raise DatasetError(
                f"column {name!r} of file {path!r} is constant over the training rows; "
                f"it cannot be standardized; remove it or set dataset.normalize=false"
            )
    return (train - shift) / scale, (test - shift) / scale, shift, scale


def load_csv(config: DatasetConfig) -> DatasetBundle:
    table = read_table(require_path(config), config.delimiter)
    inputs, targets = choose_columns(table, config, regression_targets(config))
    x = numeric_matrix(table, inputs, "dataset.inputs")
    y = numeric_matrix(table, targets, "dataset.targets")
    if config.test_path:
        test_table = read_table(config.test_path, config.delimiter)
        train_x, train_y = x, y
        test_x = numeric_matrix(test_table, inputs, "dataset.inputs (test_path)")
        test_y = numeric_matrix(test_table, targets, "dataset.targets (test_path)")
    else:
        train_rows, test_rows = split_indices(
            len(table.rows), config.test_fraction, config.seed, table.path
        )
        train_x, train_y = x[train_rows], y[train_rows]
        test_x, test_y = x[test_rows], y[test_rows]
    normalization = None
    if config.normalize:
        train_x, test_x, x_shift, x_scale = standardize(train_x, test_x, inputs, table.path)
        train_y, test_y, y_shift, y_scale = standardize(train_y, test_y, targets, table.path)
        normalization = Normalization(
            tuple(x_shift.tolist()),
            tuple(x_scale.tolist()),
            tuple(y_shift.tolist()),
            tuple(y_scale.tolist()),
        )
    note = ", standardized" if normalization else ""
    return DatasetBundle(
        data=noisy_splits(config, train_x, train_y, test_x, test_y),
        input_names=inputs,
        output_names=targets,
        truth=None,
        task="regression",
        description=(
            f"table {table.path}: {', '.join(targets)} from {', '.join(inputs)} "
            f"({len(train_x)} train / {len(test_x)} test rows{note})"
        ),
        normalization=normalization,
    )
