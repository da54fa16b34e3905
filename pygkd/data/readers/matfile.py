"""A reader of MATLAB Level-5 MAT-files (``save -v6`` / ``-v7``) that needs nothing but numpy and zlib.

Format (MathWorks, "MAT-File Format", chapter 1):

* a 128-byte header: 116 bytes of text, 8 bytes of subsystem offset, the ``uint16`` version ``0x0100`` and
  the endian indicator ``"MI"`` written as a ``uint16`` (it reads ``"IM"`` in a little-endian file);
* then data elements: an 8-byte tag (``uint32`` data type, ``uint32`` byte count) and the data padded to
  8 bytes, or a *small element* (byte count <= 4) packed as ``uint16`` count, ``uint16`` type, 4 data bytes;
* a ``miCOMPRESSED`` element is a zlib stream holding one element (not padded);
* each variable is a ``miMATRIX`` element: array flags (class, complex/logical bits), dimensions, name, then
  the class's own sub-elements. Numbers may be stored in a narrower type than their class (a ``double``
  array saved as ``uint8``) and are widened back to the class.

What the variables become (MATLAB dimensions are kept, always at least 2-D; column-major data is reordered
so that ``a[i, j]`` is ``A(i+1, j+1)``):

==========================  ===========================================================================
MATLAB class                Python value
==========================  ===========================================================================
double, single, (u)int8-64  ``np.ndarray`` of that type (``complex128``/``complex64`` when complex)
logical                     ``np.ndarray`` of ``bool``
char                        ``str`` for a single row, else ``np.ndarray`` of ``str`` (one per row)
cell                        ``np.ndarray`` of ``object`` holding the cells
struct                      ``np.ndarray`` of ``object`` holding one ``dict`` (field -> value) per element
==========================  ===========================================================================

Sparse matrices, objects, function handles and HDF5-based v7.3 files are refused with a
:class:`~pygkd.data.raw.DataFormatError` that says so.

A compressed element is inflated only up to the size its inner tag declares, and only when that size is
at most ``max_bytes`` (:data:`MAX_ELEMENT_BYTES`, 256 MiB, by default), so a small file that inflates to
gigabytes (a "zip bomb") is refused before the memory is taken.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any, Callable, Collection, Iterator

import numpy as np

from ..raw import DataFormatError

__all__ = ["load_mat"]

HEADER_BYTES = 128
MAX_ELEMENT_BYTES = 256 * 2**20  # the largest compressed element load_mat inflates by default

# Data types of the element tags.
MI_INT8, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32 = 1, 2, 3, 4, 5, 6
MI_SINGLE, MI_DOUBLE, MI_INT64, MI_UINT64 = 7, 9, 12, 13
MI_MATRIX, MI_COMPRESSED, MI_UTF8, MI_UTF16, MI_UTF32 = 14, 15, 16, 17, 18
NUMERIC_TYPES = {
    MI_INT8: "i1", MI_UINT8: "u1", MI_INT16: "i2", MI_UINT16: "u2", MI_INT32: "i4", MI_UINT32: "u4",
    MI_SINGLE: "f4", MI_DOUBLE: "f8", MI_INT64: "i8", MI_UINT64: "u8",
}
CHAR_UNITS = {MI_INT8: 1, MI_UINT8: 1, MI_UINT16: 2, MI_UTF16: 2, MI_UTF32: 4}  # bytes per stored character

# Array classes (low byte of the first array-flags word) and flag bits (its second byte).
MX_CELL, MX_STRUCT, MX_CHAR = 1, 2, 4
CLASS_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
UNSUPPORTED_CLASSES = {3: "object", 5: "sparse", 16: "function handle", 17: "opaque (e.g. table, string)"}
FLAG_COMPLEX, FLAG_LOGICAL = 0x0800, 0x0200

Elements = Iterator[tuple[int, memoryview, int]]  # (data type, payload, offset of the tag)


def load_mat(
    path: str | Path, variable_names: Collection[str] | None = None, max_bytes: int = MAX_ELEMENT_BYTES
) -> dict[str, Any]:
    """Read the variables of a Level-5 MAT-file (see the module docstring for what each class becomes).

    Args:
        path: the ``.mat`` file.
        variable_names: read only these variables (others are skipped without being decoded).
        max_bytes: the largest size a compressed element may declare (and inflate to).

    Raises:
        DataFormatError: naming the file and byte offset, for a truncated or malformed file, a v7.3 (HDF5)
            file, or a variable of an unsupported class.
    """
    path = Path(path)
    data = path.read_bytes()
    order = _byte_order(data, path)
    wanted = None if variable_names is None else set(variable_names)
    variables: dict[str, Any] = {}
    body = memoryview(data)[HEADER_BYTES:]
    for mtype, payload, offset in _elements(body, order, lambda pos: f"{path}: byte {HEADER_BYTES + pos}"):
        where = f"{path}: variable at byte {HEADER_BYTES + offset}"
        if mtype == MI_COMPRESSED:
            mtype, payload = _decompress(payload, order, where, max_bytes)
        if mtype != MI_MATRIX:
            raise DataFormatError(f"{where}: expected a variable (miMATRIX, type 14), found data type {mtype}")
        name, value = _matrix(payload, order, where, wanted)
        if wanted is None or name in wanted:
            variables[name] = value
    return variables


def _byte_order(data: bytes, path: Path) -> str:
    """Check the 128-byte header; return ``"<"`` or ``">"``."""
    if len(data) < HEADER_BYTES:
        raise DataFormatError(f"{path}: {len(data)} bytes, too short for a MAT-file header (128 bytes)")
    indicator = data[126:128]
    if indicator not in (b"IM", b"MI"):
        raise DataFormatError(
            f"{path}: not a Level-5 MAT-file (endian indicator {indicator!r} at byte 126, expected 'IM' or 'MI';"
            " a MATLAB v4 file or not a MAT-file at all)"
        )
    order = "<" if indicator == b"IM" else ">"
    (version,) = struct.unpack(order + "H", data[124:126])
    if version == 0x0200:
        raise DataFormatError(
            f"{path}: a MATLAB v7.3 MAT-file (HDF5), which this reader does not read; re-save it in MATLAB with"
            " save(..., '-v7') or read it with h5py"
        )
    if version != 0x0100:
        raise DataFormatError(f"{path}: MAT-file version 0x{version:04x} at byte 124, expected 0x0100")
    return order


def _elements(buf: memoryview, order: str, locate: Callable[[int], str]) -> Elements:
    """Walk the data elements of ``buf``, yielding ``(data type, payload, offset of the tag in buf)``.

    ``locate(offset)`` names a position of ``buf`` in error messages.
    """
    pos = 0
    while pos < len(buf):
        if len(buf) - pos < 8:
            raise DataFormatError(f"{locate(pos)}: {len(buf) - pos} stray bytes, expected an 8-byte tag")
        first, second = struct.unpack_from(order + "II", buf, pos)
        if first >> 16:  # small element: count and type share the first word, the data sits in the second
            mtype, nbytes = first & 0xFFFF, first >> 16
            if nbytes > 4:
                raise DataFormatError(f"{locate(pos)}: small element claims {nbytes} bytes (at most 4)")
            yield mtype, buf[pos + 4 : pos + 4 + nbytes], pos
            pos += 8
            continue
        mtype, nbytes = first, second
        start, end = pos + 8, pos + 8 + nbytes
        if end > len(buf):
            raise DataFormatError(
                f"{locate(pos)}: element of {nbytes} bytes runs {end - len(buf)} bytes past the end"
                " (file truncated?)"
            )
        yield mtype, buf[start:end], pos
        pos = end if mtype == MI_COMPRESSED else start + -(-nbytes // 8) * 8


def _decompress(payload: memoryview, order: str, where: str, max_bytes: int) -> tuple[int, memoryview]:
    """The one element inside a ``miCOMPRESSED`` payload, inflated no further than its declared size.

    A zlib stream that stops short of its end marker is accepted when it already holds the whole element
    (some MATLAB writers leave streams unfinished; two Penn Action label files are like that); a stream
    cut inside the element fails the element's length check.
    """
    inflater = zlib.decompressobj()
    try:
        tag = inflater.decompress(payload, 8)
        if len(tag) < 8:
            raise DataFormatError(f"{where}: compressed element holds {len(tag)} bytes, expected an 8-byte tag")
        first, second = struct.unpack(order + "II", tag)
        declared = 8 if first >> 16 else 8 + -(-second // 8) * 8  # a small element, or the tag and padded data
        if declared > max_bytes:
            raise DataFormatError(
                f"{where}: compressed element declares {declared} bytes, more than the limit of {max_bytes} "
                "(MAX_ELEMENT_BYTES; pass max_bytes to load_mat to read larger elements)"
            )
        inner = memoryview(tag + inflater.decompress(inflater.unconsumed_tail, declared - 8))
        if inflater.decompress(inflater.unconsumed_tail, 1):
            raise DataFormatError(f"{where}: compressed element inflates past the {declared} bytes it declares")
    except zlib.error as err:
        raise DataFormatError(f"{where}: corrupt compressed element ({err})") from None
    elements = list(_elements(inner, order, lambda pos: f"{where}, byte {pos} of the decompressed element"))
    if len(elements) != 1:
        raise DataFormatError(f"{where}: compressed element holds {len(elements)} elements, expected 1")
    mtype, data, _ = elements[0]
    return mtype, data


def _matrix(payload: memoryview, order: str, where: str, wanted: set[str] | None = None) -> tuple[str, Any]:
    """Decode one ``miMATRIX`` payload into ``(name, value)``; value is ``None`` for a skipped name."""
    if len(payload) == 0:  # MATLAB writes an empty cell member or struct field as an empty element
        return "", np.zeros((0, 0))
    parts = _elements(payload, order, lambda pos: f"{where}, byte {pos} of the array")
    flags = _numbers(_next(parts, where, "array flags"), order, where, "array flags")
    dims = tuple(int(d) for d in _numbers(_next(parts, where, "dimensions"), order, where, "dimensions"))
    name = bytes(_next(parts, where, "array name")[1]).decode("ascii", errors="replace")
    where = f"{where} {name!r}" if name else where
    if wanted is not None and name not in wanted:
        return name, None
    if len(flags) != 2 or len(dims) < 2 or min(dims) < 0:
        raise DataFormatError(f"{where}: malformed array header (flags {flags.tolist()}, dimensions {dims})")
    mclass, count = int(flags[0]) & 0xFF, int(np.prod(dims))
    if mclass in CLASS_DTYPES:
        return name, _numeric(parts, int(flags[0]), dims, order, where)
    if mclass == MX_CHAR:
        return name, _char(_next(parts, where, "characters"), dims, order, where)
    if mclass == MX_CELL:
        cells = [_nested(_next(parts, where, f"cell {i + 1}"), order, f"{where}{{{i + 1}}}") for i in range(count)]
        return name, _object_array(cells, dims)
    if mclass == MX_STRUCT:
        return name, _struct(parts, dims, order, where)
    kind = UNSUPPORTED_CLASSES.get(mclass, f"unknown class {mclass}")
    raise DataFormatError(f"{where}: {kind} arrays are not supported")


def _next(parts: Elements, where: str, what: str) -> tuple[int, memoryview]:
    try:
        mtype, payload, _ = next(parts)
    except StopIteration:
        raise DataFormatError(f"{where}: the array ends before its {what}") from None
    return mtype, payload


def _nested(element: tuple[int, memoryview], order: str, where: str) -> Any:
    """The value of a cell or struct field (a nameless ``miMATRIX``)."""
    mtype, payload = element
    if mtype != MI_MATRIX:
        raise DataFormatError(f"{where}: expected a nested array (miMATRIX), found data type {mtype}")
    return _matrix(payload, order, where)[1]


def _numbers(element: tuple[int, memoryview], order: str, where: str, what: str) -> np.ndarray:
    """A numeric element as a 1-D array of its stored type."""
    mtype, payload = element
    code = NUMERIC_TYPES.get(mtype)
    if code is None:
        raise DataFormatError(f"{where}: {what} stored as data type {mtype}, expected a numeric type")
    size = np.dtype(code).itemsize
    if len(payload) % size:
        raise DataFormatError(f"{where}: {what}: {len(payload)} bytes is not a whole number of {code} values")
    return np.frombuffer(payload, dtype=order + code)


def _numeric(parts: Elements, flags: int, dims: tuple[int, ...], order: str, where: str) -> np.ndarray:
    dtype = np.dtype(CLASS_DTYPES[flags & 0xFF])
    values = _numbers(_next(parts, where, "real part"), order, where, "real part").astype(dtype)
    if flags & FLAG_COMPLEX:
        imag = _numbers(_next(parts, where, "imaginary part"), order, where, "imaginary part").astype(dtype)
        if imag.size != values.size:
            raise DataFormatError(f"{where}: {values.size} real and {imag.size} imaginary values")
        values = (values + 1j * imag).astype(np.complex64 if dtype == np.float32 else np.complex128)
    elif flags & FLAG_LOGICAL:
        values = values != 0
    return _shaped(values, dims, where)


def _char(element: tuple[int, memoryview], dims: tuple[int, ...], order: str, where: str) -> str | np.ndarray:
    mtype, payload = element
    if mtype == MI_UTF8:
        chars = list(bytes(payload).decode("utf-8", errors="replace"))
    elif mtype in CHAR_UNITS:  # one code unit per MATLAB char (UTF-16 in MATLAB's own files)
        size = CHAR_UNITS[mtype]
        if len(payload) % size:
            raise DataFormatError(f"{where}: {len(payload)} bytes of {8 * size}-bit characters")
        chars = [chr(c) for c in np.frombuffer(payload, order + f"u{size}")]
    else:
        raise DataFormatError(f"{where}: characters stored as data type {mtype}, expected text or integers")
    grid = _shaped(np.array(chars, dtype="<U1"), dims, where)
    num_rows = int(np.prod(dims[:-1]))
    rows = ["".join(row) for row in grid.reshape(num_rows, dims[-1])]
    if num_rows <= 1:
        return rows[0] if rows else ""
    return np.array(rows, dtype=str).reshape(dims[:-1])


def _struct(parts: Elements, dims: tuple[int, ...], order: str, where: str) -> np.ndarray:
    length = _numbers(_next(parts, where, "field name length"), order, where, "field name length")
    names_raw = bytes(_next(parts, where, "field names")[1])
    if length.size != 1 or length[0] <= 0 or len(names_raw) % int(length[0]):
        raise DataFormatError(f"{where}: malformed struct field names")
    step = int(length[0])
    fields = [name.split(b"\0", 1)[0].decode("ascii", "replace") for name in _chunks(names_raw, step)]
    records = [
        {f: _nested(_next(parts, where, f"field {f!r}"), order, f"{where}({i + 1}).{f}") for f in fields}
        for i in range(int(np.prod(dims)))
    ]
    return _object_array(records, dims)


def _chunks(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _shaped(values: np.ndarray, dims: tuple[int, ...], where: str) -> np.ndarray:
    """Column-major values -> array of MATLAB shape ``dims`` in C order."""
    if values.size != int(np.prod(dims)):
        raise DataFormatError(f"{where}: {values.size} values for dimensions {dims}")
    return np.ascontiguousarray(values.reshape(dims, order="F"))


def _object_array(items: list, dims: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return np.ascontiguousarray(out.reshape(dims, order="F"))
