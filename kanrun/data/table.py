"""Reading a user's CSV file, with errors that name the file, row and column.

The first line is the header (column names); every following non-blank line is a data
row. Rows are numbered from 1 after the header ("data row 3") and also reported by
their line in the file, which differ when there are blank lines or quoted line breaks.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kanrun.data.errors import DatasetError

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}


@dataclass(frozen=True)
class Table:
    path: str
    columns: list[str]
    rows: list[list[str]]  # data rows, as text
    lines: list[int]  # line number of each data row in the file

    def where(self, row: int, column: str | None = None) -> str:
        """'file f.csv, data row 3 (line 4), column 'b'' for messages (row is 0-based)."""
        text = f"file {self.path!r}, data row {row + 1} (line {self.lines[row]})"
        return text if column is None else f"{text}, column {column!r}"

    def index(self, name: str, option: str) -> int:
        """Position of column `name`; DatasetError listing the columns if absent."""
        if name not in self.columns:
            raise DatasetError(
                f"{option} names column {name!r}, which is not in file {self.path!r}; "
                f"its columns are: {', '.join(self.columns)}"
            )
        return self.columns.index(name)


def read_table(path: str | os.PathLike, delimiter: str = ",") -> Table:
    """Read `path` into a Table of text cells; DatasetError for any malformed part."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(
            f"CSV file {path!r} does not exist (working directory: {os.getcwd()}); set "
            f"dataset.path to an existing file (an absolute path is safest under Hydra)"
        )
    if os.path.isdir(path):
        raise DatasetError(f"{path!r} is a directory; set dataset.path to a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = [(reader_line, row) for reader_line, row in _rows(handle, delimiter)]
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"file {path!r} is not UTF-8 text (byte {error.start}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as error:
        raise DatasetError(f"file {path!r} is not valid CSV: {error}") from None
    if not records:
        raise DatasetError(
            f"file {path!r} is empty; it needs a header line of column names and data rows"
        )
    header_line, header = records[0]
    columns = [cell.strip() for cell in header]
    for i, name in enumerate(columns):
        if not name:
            raise DatasetError(
                f"file {path!r}, line {header_line}: header column {i + 1} has no name; "
                f"give every column a name"
            )
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise DatasetError(
            f"file {path!r}, line {header_line}: column name {duplicates[0]!r} appears "
            f"more than once in the header; rename one"
        )
    if all(_is_number(name) for name in columns):
        raise DatasetError(
            f"file {path!r}, line {header_line}: the first line looks like data, not a "
            f"header; add a first line with column names"
        )
    rows, lines = [], []
    for line, row in records[1:]:
        if len(row) != len(columns):
            raise DatasetError(
                f"file {path!r}, data row {len(rows) + 1} (line {line}) has {len(row)} "
                f"fields but the header has {len(columns)} ({', '.join(columns)}); "
                f"check the delimiter {delimiter!r} and quoting"
            )
        rows.append(row)
        lines.append(line)
    if not rows:
        raise DatasetError(f"file {path!r} has a header but no data rows")
    return Table(path, columns, rows, lines)


def _rows(handle, delimiter: str):
    """Yield (line number where the row starts, cells), skipping blank lines."""
    reader = csv.reader(handle, delimiter=delimiter)
    start = 1
    for row in reader:
        if row and any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


def _present(table: Table, i: int, raw: str, name: str) -> str:
    """The stripped cell of row `i`, column `name`; DatasetError when it is missing."""
    cell = raw.strip()
    if cell.lower() in MISSING:
        raise DatasetError(
            f"missing value ({cell!r}) in {table.where(i, name)}; fill it in or remove the row"
        )
    return cell


def numeric_column(table: Table, name: str, option: str) -> torch.Tensor:
    """Column `name` as a float64 tensor; DatasetError on missing/non-numeric/non-finite."""
    j = table.index(name, option)
    values = []
    for i, row in enumerate(table.rows):
        cell = _present(table, i, row[j], name)
        try:
            value = float(cell)
        except ValueError:
            raise DatasetError(
                f"non-numeric value {cell!r} in {table.where(i, name)}; this column is used "
                f"as a number (check dataset.inputs / dataset.targets)"
            ) from None
        if not math.isfinite(value):
            raise DatasetError(f"non-finite value {cell!r} in {table.where(i, name)}")
        values.append(value)
    return torch.tensor(values, dtype=torch.float64)


def text_column(table: Table, name: str, option: str) -> list[str]:
    """Column `name` as stripped text; DatasetError on a missing cell."""
    j = table.index(name, option)
    values = []
    for i, row in enumerate(table.rows):
        values.append(_present(table, i, row[j], name))
    return values


def numeric_matrix(table: Table, names: Sequence[str], option: str) -> torch.Tensor:
    """(rows, len(names)) float64; a constant column is an error (it carries nothing)."""
    columns = []
    for name in names:
        column = numeric_column(table, name, option)
        if len(column) > 1 and bool((column == column[0]).all()):
            raise DatasetError(
                f"column {name!r} of file {table.path!r} is constant (every row is "
                f"{float(column[0]):g}); remove it from {option}"
            )
        columns.append(column)
    return torch.stack(columns, dim=1)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
