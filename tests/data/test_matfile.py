"""MAT-file reader: files assembled here byte by byte, values checked by hand; SciPy cross-checks when present."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.matfile import (
    FLAG_COMPLEX,
    FLAG_LOGICAL,
    MI_COMPRESSED,
    MI_DOUBLE,
    MI_INT8,
    MI_INT32,
    MI_MATRIX,
    MI_UINT8,
    MI_UINT16,
    MI_UINT32,
    MI_UTF8,
    MX_CELL,
    MX_CHAR,
    MX_STRUCT,
    load_mat,
)
from tests.conftest import shared_data
from tests.data.mat_writer import MX_DOUBLE, MX_UINT8, compressed, element, header, matrix, numbers, small

MX_SPARSE = 5


def write(tmp_path: Path, *elements: bytes, order: str = "<", name: str = "t.mat") -> Path:
    path = tmp_path / name
    path.write_bytes(header(order) + b"".join(elements))
    return path


A23 = matrix("a", MX_DOUBLE, (2, 3), numbers(MI_DOUBLE, "f8", [1, 4, 2, 5, 3, 6]))  # [[1 2 3]; [4 5 6]]


# --- numeric classes -------------------------------------------------------------------------------------
def test_double_matrix_is_column_major(tmp_path):
    a = load_mat(write(tmp_path, A23))["a"]
    assert a.dtype == np.float64 and a.shape == (2, 3)
    np.testing.assert_array_equal(a, [[1, 2, 3], [4, 5, 6]])
    assert a.flags.c_contiguous


def test_three_dimensional_array(tmp_path):
    values = np.arange(24.0)  # MATLAB linear order: first index fastest
    a = load_mat(write(tmp_path, matrix("b", MX_DOUBLE, (2, 3, 4), numbers(MI_DOUBLE, "f8", values))))["b"]
    i, j, k = 1, 2, 3
    assert a.shape == (2, 3, 4) and a[i, j, k] == values[i + 2 * j + 6 * k]


def test_small_element_and_narrow_storage_are_widened_to_the_class(tmp_path):
    # a 1x1 double stored as one uint8 in a small element, named with a small element too
    body = element(MI_UINT32, struct.pack("<II", MX_DOUBLE, 0))
    body += element(MI_INT32, struct.pack("<2i", 1, 1)) + small(MI_INT8, b"n") + small(MI_UINT8, b"\x07")
    n = load_mat(write(tmp_path, element(MI_MATRIX, body)))["n"]
    assert n.dtype == np.float64 and n.shape == (1, 1) and n[0, 0] == 7.0


@pytest.mark.parametrize(
    "mclass, dtype, values",
    [(7, np.float32, [1.5, -2.25]), (8, np.int8, [-128, 127]), (9, np.uint8, [0, 255]),
     (10, np.int16, [-32768, 5]), (11, np.uint16, [65535, 1]), (12, np.int32, [-(2**31), 9]),
     (13, np.uint32, [2**32 - 1, 0]),
     (14, np.int64, [-(2**63), 3]), (15, np.uint64, [2**64 - 1, 2])],
)
def test_every_numeric_class(tmp_path, mclass, dtype, values):
    code = np.dtype(dtype).str[1:]
    mtype = {"f4": 7, "i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "i8": 12, "u8": 13}[code]
    v = load_mat(write(tmp_path, matrix("v", mclass, (1, 2), numbers(mtype, code, values))))["v"]
    assert v.dtype == dtype
    np.testing.assert_array_equal(v, np.array([values], dtype=dtype))


def test_logical_and_complex(tmp_path):
    path = write(
        tmp_path,
        matrix("mask", MX_UINT8, (1, 3), numbers(MI_UINT8, "u1", [1, 0, 1]), flags=FLAG_LOGICAL),
        matrix("z", MX_DOUBLE, (1, 2), numbers(MI_DOUBLE, "f8", [1, 2]), numbers(MI_DOUBLE, "f8", [-1, 0.5]),
               flags=FLAG_COMPLEX),
    )
    out = load_mat(path)
    assert out["mask"].dtype == bool and out["mask"].tolist() == [[True, False, True]]
    assert out["z"].dtype == np.complex128 and out["z"].tolist() == [[1 - 1j, 2 + 0.5j]]


def test_big_endian_file(tmp_path):
    elem = matrix("a", MX_DOUBLE, (2, 3), numbers(MI_DOUBLE, "f8", [1, 4, 2, 5, 3, 6], ">"), order=">")
    np.testing.assert_array_equal(load_mat(write(tmp_path, elem, order=">"))["a"], [[1, 2, 3], [4, 5, 6]])


# --- compression ------------------------------------------------------------------------------------------
def test_compressed_element(tmp_path):
    text = matrix("s", MX_CHAR, (1, 2), element(MI_UTF8, b"ok"))
    out = load_mat(write(tmp_path, compressed(A23), compressed(text)))
    np.testing.assert_array_equal(out["a"], [[1, 2, 3], [4, 5, 6]])
    assert out["s"] == "ok"


def test_unfinished_zlib_stream_holding_the_whole_element_is_accepted(tmp_path):
    np.testing.assert_array_equal(load_mat(write(tmp_path, compressed(A23, finish=False)))["a"][1], [4, 5, 6])


def test_compressed_stream_cut_inside_the_element_is_an_error(tmp_path):
    packer = zlib.compressobj()
    stream = packer.compress(A23) + packer.flush(zlib.Z_SYNC_FLUSH)
    cut = stream[: len(stream) // 2]
    path = write(tmp_path, struct.pack("<II", MI_COMPRESSED, len(cut)) + cut)
    with pytest.raises(DataFormatError, match=r"t\.mat: variable at byte 128.*past the end"):
        load_mat(path)


# --- text, cells, structs -----------------------------------------------------------------------------------
def test_char_arrays(tmp_path):
    path = write(
        tmp_path,
        matrix("u8", MX_CHAR, (1, 4), element(MI_UTF8, b"walk")),
        matrix("u16", MX_CHAR, (1, 5), numbers(MI_UINT16, "u2", [ord(c) for c in "h\u00e9llo"])),
        # two rows 'abc', 'def' stored column by column: a d b e c f
        matrix("rows", MX_CHAR, (2, 3), numbers(MI_UINT16, "u2", [ord(c) for c in "adbecf"])),
        matrix("empty", MX_CHAR, (0, 0), element(MI_UTF8, b"")),
    )
    out = load_mat(path)
    assert out["u8"] == "walk" and out["u16"] == "h\u00e9llo" and out["empty"] == ""
    assert out["rows"].tolist() == ["abc", "def"]


def test_cell_array(tmp_path):
    cells = [  # nested arrays have empty names; the cell is 1x3 and the last member an empty element
        matrix("", MX_DOUBLE, (1, 2), numbers(MI_DOUBLE, "f8", [1, 2])),
        matrix("", MX_CHAR, (1, 2), element(MI_UTF8, b"ab")),
        element(MI_MATRIX, b""),
    ]
    c = load_mat(write(tmp_path, matrix("c", MX_CELL, (1, 3), *cells)))["c"]
    assert c.dtype == object and c.shape == (1, 3)
    np.testing.assert_array_equal(c[0, 0], [[1, 2]])
    assert c[0, 1] == "ab" and c[0, 2].shape == (0, 0)


def test_struct_array(tmp_path):
    names = b"id\0\0\0\0\0\0" + b"label\0\0\0"  # two field names padded to 8 bytes each

    def record(i: float, label: bytes) -> bytes:
        return matrix("", MX_DOUBLE, (1, 1), numbers(MI_DOUBLE, "f8", [i])) + matrix(
            "", MX_CHAR, (1, len(label)), element(MI_UTF8, label)
        )

    s = matrix("s", MX_STRUCT, (1, 2), small(MI_INT32, struct.pack("<i", 8)), element(MI_INT8, names),
               record(1, b"run"), record(2, b"jump"))
    out = load_mat(write(tmp_path, s))["s"]
    assert out.shape == (1, 2) and list(out[0, 0]) == ["id", "label"]
    assert out[0, 1]["id"][0, 0] == 2 and out[0, 1]["label"] == "jump" and out[0, 0]["label"] == "run"


def test_variable_names_skips_the_others_undecoded(tmp_path):
    sparse = matrix("sp", MX_SPARSE, (2, 2), numbers(MI_INT32, "i4", [0]))
    path = write(tmp_path, sparse, compressed(A23))
    assert list(load_mat(path, variable_names=["a"])) == ["a"]
    with pytest.raises(DataFormatError, match=r"'sp': sparse arrays are not supported"):
        load_mat(path)


# --- bad files ----------------------------------------------------------------------------------------------
def test_v73_hdf5_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "v73.mat"
    path.write_bytes(header(version=0x0200, text=b"MATLAB 7.3 MAT-file, Platform: GLNXA64") + b"\x89HDF\r\n")
    with pytest.raises(DataFormatError, match=r"v73\.mat: a MATLAB v7\.3 MAT-file \(HDF5\)"):
        load_mat(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"MATLAB 5.0", r"10 bytes, too short for a MAT-file header"),
        (bytes(128), r"not a Level-5 MAT-file"),
        (header() + A23[:-8], r"t\.mat: byte 128: element of 104 bytes runs 8 bytes past the end"),
        (header() + A23 + b"\x01\x02", r"t\.mat: byte 240: 2 stray bytes"),
        (header() + numbers(MI_DOUBLE, "f8", [1.0]), r"expected a variable \(miMATRIX.*found data type 9"),
        (header() + struct.pack("<II", MI_COMPRESSED, 4) + b"abcd", r"corrupt compressed element"),
        (header() + matrix("a", MX_DOUBLE, (2, 3), numbers(MI_DOUBLE, "f8", [1, 2])), r"'a': 2 values for"),
        (header() + matrix("a", MX_DOUBLE, (2, 3)), r"'a': the array ends before its real part"),
    ],
    ids=["short", "no-indicator", "truncated", "stray-bytes", "not-a-matrix", "bad-zlib", "count", "no-data"],
)
def test_malformed_files_name_the_file_and_position(tmp_path, content, message):
    path = tmp_path / "t.mat"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message):
        load_mat(path)


# --- cross-checks with SciPy (when it happens to be installed) --------------------------------------------
def test_reads_what_scipy_savemat_writes(tmp_path):
    sio = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(0)
    values = {
        "d": rng.normal(size=(3, 4, 2)),
        "f": rng.normal(size=(5, 1)).astype(np.float32),
        "i": rng.integers(-9, 9, size=(2, 7)).astype(np.int16),
        "b": rng.random((4, 3)) > 0.5,
        "z": rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)),
        "s": "pick up & throw",
    }
    for compress in (False, True):
        path = tmp_path / f"scipy_{compress}.mat"
        sio.savemat(path, values, do_compression=compress)
        ours = load_mat(path)
        assert ours.keys() == values.keys() and ours["s"] == values["s"]
        for key in ("d", "f", "i", "b", "z"):
            assert ours[key].dtype == values[key].dtype
            np.testing.assert_array_equal(ours[key], values[key])


def test_agrees_with_scipy_on_real_penn_action_labels():
    sio = pytest.importorskip("scipy.io")
    files = sorted((shared_data("penn_action") / "labels").glob("*.mat"))
    # 1605 and 1833 have unfinished zlib streams; the others are a spread over the dataset
    for path in [files[0], files[1604], files[1832], files[-1], *files[100::400]]:
        ours, theirs = load_mat(path), sio.loadmat(path, mat_dtype=True)
        assert set(ours) == {k for k in theirs if not k.startswith("__")}
        for key, value in ours.items():
            if isinstance(value, str):
                assert value == theirs[key][0]
            else:
                assert value.dtype == theirs[key].dtype
                np.testing.assert_array_equal(value, theirs[key])


def test_reads_msr_action3d_structs_and_cells():
    root = shared_data("msr_action3d") / "data" / "MSRAction3D"
    body = load_mat(root / "body_model.mat")["body_model"][0, 0]
    assert body["n_joints"][0, 0] == 20 and body["bones"].shape == (19, 2)
    np.testing.assert_array_equal(body["bones"][:3], [[7, 4], [4, 3], [3, 20]])
    names = load_mat(root / "action_names.mat", variable_names=["action_names"])["action_names"]
    assert names.shape == (1, 20) and names[0, 0] == "high arm wave" and names[0, 19] == "pickup and throw"
    files = load_mat(root / "files_used.mat")["files_used"]
    assert files.shape == (557, 1) and files[0, 0].strip() == "a01_s01_e01"
