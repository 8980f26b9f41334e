"""CSV tables: columns, split, errors naming file/row/column, normalization round trip."""

import math

import pytest
import sympy
import torch

from kanrun.data import DatasetError, load_dataset, parse_formula, read_table, torch_function


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def linear_table(tmp_path, n=50):
    rows = ["a,b,y"]
    for i in range(n):
        a, b = 0.1 * i, math.sin(i)
        rows.append(f"{a},{b},{3 * a - 2 * b + 1}")
    return write(tmp_path, "\n".join(rows) + "\n")


def test_defaults_last_column_is_the_target_and_split_is_deterministic(tmp_path):
    path = linear_table(tmp_path)
    bundle = load_dataset({"name": "csv", "path": path})
    data = bundle.data
    assert data["train_input"].shape == (40, 2) and data["train_label"].shape == (40, 1)
    assert data["test_input"].shape == (10, 2) and data["test_label"].shape == (10, 1)
    assert data["train_input"].dtype == torch.float32
    assert bundle.input_names == ["a", "b"] and bundle.output_names == ["y"]
    assert bundle.truth is None and bundle.task == "regression"
    x, y = data["train_input"].double(), data["train_label"][:, 0].double()
    assert torch.allclose(y, 3 * x[:, 0] - 2 * x[:, 1] + 1, atol=1e-5)
    # every row is used exactly once
    together = torch.cat([data["train_input"][:, 0], data["test_input"][:, 0]]).double()
    expected = torch.tensor([0.1 * i for i in range(50)], dtype=torch.float64)
    assert torch.allclose(together.sort().values, expected, atol=1e-6)
    again = load_dataset({"name": "csv", "path": path})
    other = load_dataset({"name": "csv", "path": path, "seed": 1})
    assert torch.equal(again.data["test_input"], data["test_input"])
    assert not torch.equal(other.data["test_input"], data["test_input"])


def test_explicit_columns_test_fraction_and_test_path(tmp_path):
    path = linear_table(tmp_path)
    bundle = load_dataset(
        {"name": "csv", "path": path, "inputs": ["b"], "targets": ["a"], "test_fraction": 0.5}
    )
    assert bundle.input_names == ["b"] and bundle.output_names == ["a"]
    assert bundle.data["train_input"].shape == (25, 1)
    test = write(tmp_path, "y,b,a\n1,0.5,2\n2,0.25,4\n", "test.csv")
    split = load_dataset({"name": "csv", "path": path, "test_path": test, "dtype": "float64"})
    assert split.data["train_input"].shape == (50, 2)
    assert split.data["test_input"].tolist() == [[2.0, 0.5], [4.0, 0.25]]
    assert split.data["test_label"].tolist() == [[1.0], [2.0]]
    single = load_dataset({"name": "csv", "path": path, "target": "a"})
    assert single.output_names == ["a"] and single.input_names == ["b", "y"]


def test_blank_lines_quotes_and_semicolons(tmp_path):
    path = write(tmp_path, 'p;"q r";t\n\n1;2;3\n4;5;6\n\n7;8;10\n', "semi.csv")
    table = read_table(path, ";")
    assert table.columns == ["p", "q r", "t"] and table.lines == [3, 4, 6]
    bundle = load_dataset(
        {"name": "csv", "path": path, "delimiter": ";", "test_fraction": 0.34, "dtype": "float64"}
    )
    assert bundle.data["train_input"].shape[0] + bundle.data["test_input"].shape[0] == 3


@pytest.mark.parametrize(
    "text, options, parts",
    [
        ("a,b,y\n1,2,3\n4,,6\n", {}, ["data.csv", "data row 2 (line 3)", "column 'b'", "missing"]),
        ("a,b,y\n1,2,3\n4,NA,6\n", {}, ["data row 2 (line 3)", "column 'b'", "missing"]),
        (
            "a,b,y\n1,2,3\n\n4,5,x7\n",
            {},
            ["data row 2 (line 4)", "column 'y'", "non-numeric", "'x7'"],
        ),
        ("a,b,y\n1,2,3\n4,inf,6\n", {}, ["data row 2 (line 3)", "column 'b'", "non-finite"]),
        ("a,b,y\n1,2,3\n4,5,6\n", {"inputs": ["a", "c"]}, ["data.csv", "'c'", "a, b, y"]),
        ("a,b,y\n1,2,3\n4,5,6\n", {"targets": ["z"]}, ["dataset.targets", "'z'", "a, b, y"]),
        ("", {}, ["data.csv", "empty"]),
        ("\n\n", {}, ["data.csv", "empty"]),
        ("a,b,y\n", {}, ["data.csv", "no data rows"]),
        ("a,b,y\n1,7,3\n4,7,6\n2,7,5\n", {}, ["data.csv", "column 'b'", "constant"]),
        ("a,b,y\n1,2,3\n4,5\n", {}, ["data.csv", "data row 2 (line 3)", "2 fields"]),
        ("a,,y\n1,2,3\n", {}, ["data.csv", "line 1", "column 2 has no name"]),
        ("a,a,y\n1,2,3\n", {}, ["data.csv", "'a'", "more than once"]),
        ("1,2,3\n4,5,6\n", {}, ["data.csv", "looks like data"]),
        ("a,y\n1,2\n", {}, ["data.csv", "1 data rows"]),
        ("a,b,y\n1,2,3\n4,5,6\n", {"inputs": ["a", "y"]}, ["'y'", "both an input and a target"]),
    ],
)
def test_bad_tables_name_file_row_and_column(tmp_path, text, options, parts):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "csv", "path": path, **options})
    for part in parts:
        assert part in str(info.value)


def test_missing_file_and_missing_path(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "csv", "path": missing})
    assert "nope.csv" in str(info.value) and "does not exist" in str(info.value)
    with pytest.raises(DatasetError, match="dataset.path"):
        load_dataset({"name": "csv"})
    path = linear_table(tmp_path)
    with pytest.raises(DatasetError, match="other.csv"):
        load_dataset({"name": "csv", "path": path, "test_path": str(tmp_path / "other.csv")})


def test_normalization_statistics_and_round_trip(tmp_path):
    # y = a * sin(b) + 10 in original units; fit-free: build the normalized-units formula
    rows = ["a,b,y"]
    for i in range(200):
        a, b = 1.0 + 0.02 * i, 3.0 * math.cos(0.37 * i)
        rows.append(f"{a!r},{b!r},{a * math.sin(b) + 10!r}")
    path = write(tmp_path, "\n".join(rows) + "\n")
    bundle = load_dataset({"name": "csv", "path": path, "normalize": True, "dtype": "float64"})
    train_x, train_y = bundle.data["train_input"], bundle.data["train_label"]
    assert float(train_x.mean(0).abs().max()) < 1e-12
    assert float((train_x.std(0, unbiased=False) - 1).abs().max()) < 1e-12
    assert float(train_y.mean(0).abs().max()) < 1e-12
    norm = bundle.normalization
    assert len(norm.input_shift) == 2 and len(norm.target_scale) == 1
    # the exact relation written in normalized units
    xa, xb = sympy.Symbol("a", real=True), sympy.Symbol("b", real=True)
    sa, sb = norm.input_scale
    ma, mb = norm.input_shift
    normalized = ((ma + sa * xa) * sympy.sin(mb + sb * xb) + 10 - norm.target_shift[0]) / (
        norm.target_scale[0]
    )
    f = torch_function(normalized, ["a", "b"])
    assert torch.allclose(f(train_x), train_y[:, 0], atol=1e-10)
    (original,) = bundle.to_original_units([normalized])
    raw = read_table(path)
    a = torch.tensor([float(r[0]) for r in raw.rows], dtype=torch.float64)
    b = torch.tensor([float(r[1]) for r in raw.rows], dtype=torch.float64)
    y = torch.tensor([float(r[2]) for r in raw.rows], dtype=torch.float64)
    g = torch_function(original, ["a", "b"])
    assert torch.allclose(g(torch.stack([a, b], 1)), y, atol=1e-9)
    truth = parse_formula("a*sin(b) + 10", ["a", "b"])
    difference = (original - truth).evalf(subs={xa: 1.7, xb: 0.3})
    assert float(difference) == pytest.approx(0.0, abs=1e-9)


def test_to_original_units_is_identity_without_normalization(tmp_path):
    bundle = load_dataset({"name": "csv", "path": linear_table(tmp_path)})
    (expr,) = bundle.to_original_units(["3*a - 2*b + 1"])
    assert expr == parse_formula("3*a - 2*b + 1", ["a", "b"])
    with pytest.raises(DatasetError, match="one per output"):
        bundle.to_original_units(["a", "b"])
