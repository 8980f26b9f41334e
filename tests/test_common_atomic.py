"""kanrun.common.atomic: a write either replaces the file whole or leaves it as it was."""

from __future__ import annotations

import pytest

from kanrun.common.atomic import write_text, write_with


def test_write_text_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_text(path, "é 1\n")
    write_text(path, "two\n")
    assert path.read_bytes() == b"two\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "b.txt"
    write_text(path, "old\n")

    def half_then_fail(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("new, half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]
