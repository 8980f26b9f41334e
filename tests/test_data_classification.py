"""Classification: the two-moons / circles toys and CSV class columns."""

import math

import pytest
import torch

from kanrun.data import DatasetError, load_dataset, two_moons


def test_moons_shapes_labels_balance_and_determinism():
    bundle = load_dataset({"name": "classification", "n_train": 301, "n_test": 100, "seed": 5})
    data = bundle.data
    assert data["train_input"].shape == (301, 2) and data["train_input"].dtype == torch.float32
    assert data["train_label"].shape == (301,) and data["train_label"].dtype == torch.long
    assert data["test_label"].shape == (100,)
    assert bundle.task == "classification" and bundle.n_classes == 2
    assert bundle.truth is None and bundle.output_names == ["label"]
    assert torch.bincount(data["train_label"]).tolist() == [150, 151]
    assert torch.bincount(data["test_label"]).tolist() == [50, 50]
    assert not torch.equal(data["train_label"][:50], data["train_label"][:50].sort().values)
    again = load_dataset({"name": "classification", "n_train": 301, "n_test": 100, "seed": 5})
    other = load_dataset({"name": "classification", "n_train": 301, "n_test": 100, "seed": 6})
    assert torch.equal(again.data["train_input"], data["train_input"])
    assert not torch.equal(other.data["train_input"], data["train_input"])


def test_noiseless_moons_lie_on_their_half_circles():
    x, y = two_moons(400, 0.0, torch.Generator().manual_seed(0))
    upper, lower = x[y == 0], x[y == 1]
    assert torch.allclose(upper.norm(dim=1), torch.ones(200, dtype=torch.float64))
    assert bool((upper[:, 1] >= 0).all())
    centre = torch.tensor([1.0, 0.5], dtype=torch.float64)
    assert torch.allclose((lower - centre).norm(dim=1), torch.ones(200, dtype=torch.float64))
    assert bool((lower[:, 1] <= 0.5).all())


def test_noise_is_jitter_of_that_std():
    clean = load_dataset({"name": "classification", "n_train": 4000, "dtype": "float64"})
    noisy = load_dataset(
        {"name": "classification", "n_train": 4000, "noise": 0.2, "dtype": "float64"}
    )
    assert torch.equal(clean.data["train_label"], noisy.data["train_label"])
    jitter = noisy.data["train_input"] - clean.data["train_input"]
    assert float(jitter.std()) == pytest.approx(0.2, rel=0.05)
    assert abs(float(jitter.mean())) < 0.02


def test_circles():
    bundle = load_dataset({"name": "classification", "kind": "circles", "dtype": "float64"})
    x, y = bundle.data["train_input"], bundle.data["train_label"]
    radius = x.norm(dim=1)
    assert torch.allclose(radius[y == 0], torch.ones(500, dtype=torch.float64))
    assert torch.allclose(radius[y == 1], torch.full((500,), 0.5, dtype=torch.float64))


def test_csv_class_column_by_name_with_text_classes(tmp_path):
    lines = ["species,length,width"]
    for i in range(30):
        name = ["setosa", "virginica", "versicolor"][i % 3]
        lines.append(f"{name},{1 + 0.1 * i},{math.cos(i)}")
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(lines) + "\n")
    bundle = load_dataset(
        {
            "name": "classification",
            "kind": "csv",
            "path": str(path),
            "target": "species",
            "normalize": True,
        }
    )
    assert bundle.n_classes == 3 and bundle.class_names == ["setosa", "versicolor", "virginica"]
    assert bundle.input_names == ["length", "width"] and bundle.output_names == ["species"]
    data = bundle.data
    assert data["train_label"].dtype == torch.long and data["train_label"].shape == (24,)
    assert data["test_label"].shape == (6,)
    labels = torch.cat([data["train_label"], data["test_label"]])
    assert torch.bincount(labels).tolist() == [10, 10, 10]
    assert abs(float(data["train_input"].mean())) < 1e-6
    assert bundle.normalization.target_scale == ()


def test_csv_numeric_classes_sort_numerically_and_errors(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("x,label\n" + "".join(f"{i},{[10, 2, 9][i % 3]}\n" for i in range(12)))
    bundle = load_dataset({"name": "classification", "kind": "csv", "path": str(path)})
    assert bundle.class_names == ["2", "9", "10"]
    with pytest.raises(DatasetError, match="noise"):
        load_dataset({"name": "classification", "kind": "csv", "path": str(path), "noise": 0.1})
    one = tmp_path / "one.csv"
    one.write_text("x,label\n1,a\n2,a\n3,a\n4,a\n5,a\n")
    with pytest.raises(DatasetError, match="single class"):
        load_dataset({"name": "classification", "kind": "csv", "path": str(one)})
    gap = tmp_path / "gap.csv"
    gap.write_text("x,label\n1,a\n2,\n3,b\n")
    with pytest.raises(DatasetError, match=r"data row 2 \(line 3\), column 'label'"):
        load_dataset({"name": "classification", "kind": "csv", "path": str(gap)})
    with pytest.raises(DatasetError, match="moons, circles, csv"):
        load_dataset({"name": "classification", "kind": "spirals"})
