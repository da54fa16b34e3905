"""Numeric text tables: values, gzip, and every bad line named by file, line and column."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.text_table import read_table


def test_whitespace_and_comma_tables(tmp_path):
    plain = tmp_path / "t.txt"
    plain.write_text("1 2.5  -3\n\n4\t5 6e-1\n")  # blank line skipped, any whitespace separates
    np.testing.assert_array_equal(read_table(plain, 3), [[1, 2.5, -3], [4, 5, 0.6]])
    packed = tmp_path / "t.txt.gz"
    packed.write_bytes(gzip.compress(b"1,2\n3,4"))
    table = read_table(packed, 2, delimiter=",")
    assert table.dtype == np.float64 and table.tolist() == [[1, 2], [3, 4]]


def test_single_row_stays_two_dimensional(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1 2 3")
    assert read_table(path, 3).shape == (1, 3)


@pytest.mark.parametrize(
    "content, message",
    [
        ("\n \n", r"t\.txt: empty file, expected rows of 3 numbers"),
        ("1,2,3\n\n4,5\n", r"t\.txt: line 3: expected 3 values, found 2"),
        ("1,2,3\n4,5,6,\n", r"line 2: expected 3 values, found 4"),
        ("1,2,3\n1,2,x3\n", r"line 2, column 3: 'x3' is not a number"),
        ("1,2,3\n1,inf,3\n", r"line 2, column 2: non-finite value 'inf'"),
        ("1,2,3\n# a,b,c\n", r"line 2, column 1: '# a' is not a number"),
    ],
    ids=["empty", "short-line", "trailing-comma", "text", "inf", "comment"],
)
def test_bad_lines(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        read_table(path, 3, delimiter=",")


def test_a_line_of_four_columns_everywhere_is_named_too(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1 2 3 4\n1 2 3 4\n")
    with pytest.raises(DataFormatError, match=r"line 1: expected 3 values, found 4"):
        read_table(path, 3)


def test_truncated_and_corrupt_gzip(tmp_path):
    path = tmp_path / "t.txt.gz"
    data = gzip.compress(b"1,2,3\n" * 2000)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"t\.txt\.gz: corrupt or truncated gzip stream"):
        read_table(path, 3, delimiter=",")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=r"corrupt or truncated gzip stream"):
        read_table(path, 3, delimiter=",")


def test_binary_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"1 2 3\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"t\.txt: not a text file \(byte 6 is not UTF-8\)"):
        read_table(path, 3)
