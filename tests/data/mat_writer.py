"""A tiny writer of Level-5 MAT-files for the tests: the element builders and a dict-to-file helper."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from pygkd.data.readers.matfile import (
    FLAG_LOGICAL,
    MI_COMPRESSED,
    MI_DOUBLE,
    MI_INT8,
    MI_INT32,
    MI_MATRIX,
    MI_UINT8,
    MI_UINT16,
    MI_UINT32,
    MX_CHAR,
)

MX_DOUBLE, MX_UINT8, MX_INT32 = 6, 9, 12


def header(order: str = "<", version: int = 0x0100, text: bytes = b"MATLAB 5.0 MAT-file, pygkd tests") -> bytes:
    indicator = b"IM" if order == "<" else b"MI"  # "MI" written as a uint16 in the file's byte order
    return text.ljust(116, b" ") + bytes(8) + struct.pack(order + "H", version) + indicator


def element(mtype: int, data: bytes, order: str = "<") -> bytes:
    """A tagged element padded to 8 bytes."""
    return struct.pack(order + "II", mtype, len(data)) + data + bytes(-len(data) % 8)


def small(mtype: int, data: bytes, order: str = "<") -> bytes:
    """A small data element: count and type in one word, up to 4 data bytes in the next."""
    return struct.pack(order + "I", (len(data) << 16) | mtype) + data.ljust(4, b"\0")


def numbers(mtype: int, code: str, values, order: str = "<") -> bytes:
    return element(mtype, np.asarray(values, dtype=order + code).tobytes(), order)


def matrix(name: str, mclass: int, dims: tuple[int, ...], *data: bytes, flags: int = 0, order: str = "<") -> bytes:
    body = element(MI_UINT32, struct.pack(order + "II", mclass | flags, 0), order)
    body += element(MI_INT32, struct.pack(order + f"{len(dims)}i", *dims), order)
    body += element(MI_INT8, name.encode(), order)
    return element(MI_MATRIX, body + b"".join(data), order)


def compressed(elem: bytes, finish: bool = True) -> bytes:
    """``elem`` in a miCOMPRESSED element; ``finish=False`` leaves the zlib stream without its end marker."""
    packer = zlib.compressobj()
    stream = packer.compress(elem) + packer.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
    return struct.pack("<II", MI_COMPRESSED, len(stream)) + stream


def variable(name: str, value: str | np.ndarray) -> bytes:
    """A str (char row, UTF-16), a bool array (logical), an int32 array or a float array (double)."""
    if isinstance(value, str):
        return matrix(name, MX_CHAR, (1, len(value)), numbers(MI_UINT16, "u2", [ord(c) for c in value]))
    value = np.atleast_2d(value)
    column_major = value.ravel(order="F")
    if value.dtype == bool:
        return matrix(name, MX_UINT8, value.shape, numbers(MI_UINT8, "u1", column_major), flags=FLAG_LOGICAL)
    if value.dtype == np.int32:
        return matrix(name, MX_INT32, value.shape, numbers(MI_INT32, "i4", column_major))
    return matrix(name, MX_DOUBLE, value.shape, numbers(MI_DOUBLE, "f8", column_major))


def write_mat(path: Path, variables: dict[str, str | np.ndarray]) -> Path:
    """A MAT-file holding ``variables``, each compressed as MATLAB's ``save`` does."""
    path.write_bytes(header() + b"".join(compressed(variable(k, v)) for k, v in variables.items()))
    return path
