"""Classification data: `dataset.name=classification dataset.kind=moons|circles|csv`.

Labels are class indices (torch.long, shape (n,)). The toys are two balanced classes in
the plane, generated with torch from the seed; `noise` is the absolute std of Gaussian
jitter added to the points (as in scikit-learn's make_moons). With kind=csv the class
column is `dataset.target` (default: the last column); its values may be numbers or
names and are numbered in sorted order (`bundle.class_names`).
"""

from __future__ import annotations

import math

import torch

from kanrun.data.bundle import DatasetBundle, Normalization
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.sampling import TEST_INPUT, TRAIN_INPUT, generator, torch_dtype
from kanrun.data.table import numeric_matrix, read_table, text_column
from kanrun.data.tabular import choose_columns, require_path, split_indices, standardize

KINDS = ("moons", "circles", "csv")


def two_moons(n: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points on two interleaved half circles (class 0 upper, class 1 lower), float64."""
    n0 = n // 2
    labels = torch.cat([torch.zeros(n0, dtype=torch.long), torch.ones(n - n0, dtype=torch.long)])
    t = math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    points = torch.where((labels == 0).unsqueeze(1), upper, lower)
    return _jitter_and_shuffle(points, labels, noise, gen)


def two_circles(n: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points on two concentric circles (class 0 radius 1, class 1 radius 0.5), float64."""
    n0 = n // 2
    labels = torch.cat([torch.zeros(n0, dtype=torch.long), torch.ones(n - n0, dtype=torch.long)])
    t = 2.0 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    radius = torch.where(labels == 0, 1.0, 0.5).to(torch.float64)
    points = radius.unsqueeze(1) * torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    return _jitter_and_shuffle(points, labels, noise, gen)


def _jitter_and_shuffle(points, labels, noise, gen):
    """Shuffle, then jitter: the same seed gives the same points, plus noise if any."""
    order = torch.randperm(len(labels), generator=gen)
    points, labels = points[order], labels[order]
    if noise > 0:
        points = points + noise * torch.randn(points.shape, generator=gen, dtype=torch.float64)
    return points, labels


def load_classification(config: DatasetConfig) -> DatasetBundle:
    kind = config.kind or "moons"
    if kind not in KINDS:
        raise DatasetError(
            f"unknown classification kind '{kind}'; set dataset.kind to one of {', '.join(KINDS)}"
        )
    if kind == "csv":
        return _load_csv_classes(config)
    make = two_moons if kind == "moons" else two_circles
    train_x, train_y = make(config.n_train, config.noise, generator(config.seed, TRAIN_INPUT))
    test_x, test_y = make(config.n_test, config.noise, generator(config.seed, TEST_INPUT))
    dtype = torch_dtype(config.dtype)
    return DatasetBundle(
        data={
            "train_input": train_x.to(dtype),
            "train_label": train_y,
            "test_input": test_x.to(dtype),
            "test_label": test_y,
        },
        input_names=["x1", "x2"],
        output_names=["label"],
        truth=None,
        task="classification",
        n_classes=2,
        description=f"classification {kind}: two balanced classes, jitter std {config.noise:g}",
        class_names=["0", "1"],
    )


def _class_order(names: set[str]) -> list[str]:
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _load_csv_classes(config: DatasetConfig) -> DatasetBundle:
    if config.noise:
        raise DatasetError(
            "dataset.noise does not apply to class labels read from a CSV; set dataset.noise=0"
        )
    target = config.target
    if target is None and config.targets is not None:
        if len(config.targets) != 1:
            raise DatasetError("classification takes one class column; set dataset.target")
        target = config.targets[0]
    table = read_table(require_path(config), config.delimiter)
    inputs, (target,) = choose_columns(table, config, None if target is None else [target])
    x = numeric_matrix(table, inputs, "dataset.inputs")
    classes = text_column(table, target, "dataset.target")
    if config.test_path:
        test_table = read_table(config.test_path, config.delimiter)
        test_x = numeric_matrix(test_table, inputs, "dataset.inputs (test_path)")
        test_classes = text_column(test_table, target, "dataset.target (test_path)")
        train_x, train_classes = x, classes
    else:
        train_rows, test_rows = split_indices(
            len(table.rows), config.test_fraction, config.seed, table.path
        )
        train_x, test_x = x[train_rows], x[test_rows]
        train_classes = [classes[i] for i in train_rows.tolist()]
        test_classes = [classes[i] for i in test_rows.tolist()]
    class_names = _class_order(set(train_classes) | set(test_classes))
    if len(class_names) < 2:
        raise DatasetError(
            f"column {target!r} of file {table.path!r} holds a single class "
            f"({class_names[0]!r}); classification needs at least two"
        )
    index = {name: i for i, name in enumerate(class_names)}
    normalization = None
    if config.normalize:
        train_x, test_x, shift, scale = standardize(train_x, test_x, inputs, table.path)
        normalization = Normalization(tuple(shift.tolist()), tuple(scale.tolist()))
    dtype = torch_dtype(config.dtype)
    return DatasetBundle(
        data={
            "train_input": train_x.to(dtype),
            "train_label": torch.tensor([index[c] for c in train_classes], dtype=torch.long),
            "test_input": test_x.to(dtype),
            "test_label": torch.tensor([index[c] for c in test_classes], dtype=torch.long),
        },
        input_names=inputs,
        output_names=[target],
        truth=None,
        task="classification",
        n_classes=len(class_names),
        description=(
            f"classification table {table.path}: {target} ({len(class_names)} classes) "
            f"from {', '.join(inputs)}"
        ),
        normalization=normalization,
        class_names=class_names,
    )
