"""Numeric text tables: one row per line, whitespace- or comma-separated, optionally gzip-compressed.

MSR Action3D and UI-PRMD store their skeletons this way. :func:`read_table` parses with numpy's C reader
and, only when that fails or finds a non-finite value, walks the lines again to name the first bad one.
"""
from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np

from ..raw import DataFormatError

__all__ = ["read_table"]


def read_table(path: Path, num_columns: int, delimiter: str | None = None) -> np.ndarray:
    """The numbers of a text file as ``[rows, num_columns]`` float64 (a ``.gz`` file is decompressed).

    Args:
        path: the file.
        num_columns: values expected on every line.
        delimiter: ``None`` for runs of whitespace, else the separator (e.g. ``","``).

    Blank lines are skipped. Raises :class:`DataFormatError` naming the file and the (1-based) line for a
    line with another number of values, a value that is not a number, or a non-finite value, and naming the
    file for an empty file or a corrupt or truncated gzip stream.
    """
    text = _read_text(path)
    if not text.strip():
        raise DataFormatError(f"{path}: empty file, expected rows of {num_columns} numbers")
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=delimiter, comments=None, ndmin=2)
    except ValueError as err:
        raise _first_bad_line(path, text, num_columns, delimiter, fallback=str(err)) from None
    if table.shape[1] != num_columns or not np.isfinite(table).all():
        raise _first_bad_line(path, text, num_columns, delimiter, fallback=f"{table.shape[1]} columns")
    return table


def _read_text(path: Path) -> str:
    try:
        if path.suffix != ".gz":
            return path.read_text(encoding="utf-8")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataFormatError(f"{path}: corrupt or truncated gzip stream ({err})") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None


def _first_bad_line(path: Path, text: str, num_columns: int, delimiter: str | None, fallback: str) -> DataFormatError:
    """The error for the first line that is not ``num_columns`` finite numbers."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(delimiter)
        if len(fields) != num_columns:
            return DataFormatError(f"{path}: line {number}: expected {num_columns} values, found {len(fields)}")
        for column, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                return DataFormatError(f"{path}: line {number}, column {column}: {field.strip()!r} is not a number")
            if not math.isfinite(value):
                return DataFormatError(f"{path}: line {number}, column {column}: non-finite value {field.strip()!r}")
    return DataFormatError(f"{path}: not a table of {num_columns} numbers per line ({fallback})")
