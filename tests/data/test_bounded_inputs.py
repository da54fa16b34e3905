"""Bounded inputs: archives that declare more than they hold or than the limit are refused before the memory
is taken (MAT compressed elements, npz members, pickled arrays); keypoints must be real numbers; short clips
are reported; stale partial folders are removed; non-finite values are caught when a sample is loaded."""
from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.transforms import BaseTransform

from pygkd.data.dataset import SkeletonDataset
from pygkd.data.raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from pygkd.data.readers.generic_npz import read_npz
from pygkd.data.readers.matfile import MAX_ELEMENT_BYTES, MI_COMPRESSED, MI_MATRIX, load_mat
from pygkd.data.readers.pyskl import MAX_ARRAY_BYTES, load_annotation_file
from pygkd.data.store import MIN_FRAMES, PreparedDataset, prepare

from tests.data.mat_writer import header, variable

GB = 2**30


# ------------------------------------------------------------------------------------------- MAT-files


def deflated(data: bytes) -> bytes:
    return struct.pack("<II", MI_COMPRESSED, len(stream := zlib.compress(data, 9))) + stream


def test_mat_compressed_element_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    # a few KB of zlib: an miMATRIX tag declaring 3 GB, then 4 MB of zeros (all the stream really holds)
    path = tmp_path / "bomb.mat"
    path.write_bytes(header() + deflated(struct.pack("<II", MI_MATRIX, 3 * GB) + bytes(4 * 2**20)))
    assert path.stat().st_size < 10_000
    with pytest.raises(DataFormatError, match=rf"bomb.mat: variable at byte 128: compressed element declares "
                       rf"{8 + 3 * GB} bytes, more than the limit of {MAX_ELEMENT_BYTES}"):
        load_mat(path)


def test_mat_compressed_element_inflating_past_its_declared_size_is_refused(tmp_path):
    real = variable("x", np.arange(4.0))
    path = tmp_path / "longer.mat"
    path.write_bytes(header() + deflated(real + bytes(2**20)))  # the element, then 1 MB it does not declare
    with pytest.raises(DataFormatError, match=f"inflates past the {len(real)} bytes it declares"):
        load_mat(path)
    path.write_bytes(header() + deflated(real))
    np.testing.assert_array_equal(load_mat(path)["x"], [[0.0, 1.0, 2.0, 3.0]])
    with pytest.raises(DataFormatError, match="more than the limit of 16"):
        load_mat(path, max_bytes=16)


# ----------------------------------------------------------------------------------------------- npz


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def valid_arrays() -> dict[str, np.ndarray]:
    return {"labels": np.array([0, 1]), "hq_layout": np.array("coco17"),
            "hq_keypoints": np.arange(2 * 1 * 4 * 17 * 2, dtype=np.float32).reshape(2, 1, 4, 17, 2)}


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)
    return path


def test_npz_member_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    members = {k: npy_bytes(v) for k, v in valid_arrays().items()}
    header_only = io.BytesIO()  # a .npy header of 2 x 1 x 2**28 x 17 x 2 float32 (68 GB), then 1 MB of zeros
    np.lib.format.write_array_header_1_0(header_only, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (2, 1, 2**28, 17, 2)})
    members["hq_keypoints"] = header_only.getvalue() + bytes(2**20)
    path = write_zip(tmp_path / "bomb.npz", members)
    assert path.stat().st_size < 10_000
    with pytest.raises(DataFormatError, match=r"bomb.npz: key 'hq_keypoints': the array float32\[2, 1, 268435456, "
                       r"17, 2\] declares 73014444032 bytes, more than the limit of 1073741824"):
        read_npz(path)


def test_npz_header_declaring_more_than_the_member_holds_is_refused(tmp_path):
    members = {k: npy_bytes(v) for k, v in valid_arrays().items()}
    keypoints = valid_arrays()["hq_keypoints"]
    header_only = io.BytesIO()
    np.lib.format.write_array_header_1_0(header_only, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (2, 1, 400, 17, 2)})
    members["hq_keypoints"] = header_only.getvalue() + keypoints.tobytes()
    path = write_zip(tmp_path / "short.npz", members)
    with pytest.raises(DataFormatError, match=r"key 'hq_keypoints': the .npy header declares float32\[2, 1, 400, "
                       r"17, 2\] \(108928 bytes\), the archive member holds 1216 bytes"):
        read_npz(path)


def test_npz_member_with_a_bad_crc_names_the_key(tmp_path):
    arrays = valid_arrays()
    arrays["hq_keypoints"] = np.repeat(arrays["hq_keypoints"], 8, axis=2)  # larger than zipfile's 4 KB read-ahead
    path = tmp_path / "crc.npz"
    np.savez(path, **arrays)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(arrays["hq_keypoints"].tobytes()[:64]) + 100
    data[at] ^= 0xFF  # one flipped bit in a stored member
    path.write_bytes(bytes(data))
    raw = read_npz(path)  # the headers are fine
    with pytest.raises(DataFormatError, match=r"crc.npz: key 'hq_keypoints': corrupt archive member \(BadZipFile: "
                       r"Bad CRC-32"):
        list(raw.samples())


def test_truncated_npz_is_refused(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez_compressed(path, **valid_arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFormatError, match=r"cut.npz: not an .npz file of .npy arrays \(BadZipFile"):
        read_npz(path)


# -------------------------------------------------------------------------------------------- pickles


class Reduce:
    """Pickles as ``function(*args)``: how a crafted annotation file asks the unpickler to allocate."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def annotation_file(tmp_path: Path, keypoint) -> Path:
    path = tmp_path / "ann.pkl"
    path.write_bytes(pickle.dumps({"annotations": [{"frame_dir": "a", "label": 0, "keypoint": keypoint}]},
                                  protocol=2))
    return path


def test_pickled_array_asking_for_gigabytes_is_refused(tmp_path):
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, under its own module path
    path = annotation_file(tmp_path, Reduce(reconstruct, np.ndarray, (2**40,), b"b"))
    assert path.stat().st_size < 1000
    with pytest.raises(DataFormatError, match=rf"ann.pkl: the pickle asks for an array of {2**40} bytes "
                       rf"\(shape \({2**40},\)\), more than the limit of {MAX_ARRAY_BYTES} bytes"):
        load_annotation_file(path)


def test_pickled_bytes_asking_for_gigabytes_and_direct_ndarray_calls_are_refused(tmp_path):
    with pytest.raises(DataFormatError, match=rf"asks for a bytes of {2**40} bytes"):
        load_annotation_file(annotation_file(tmp_path, Reduce(bytes, 2**40)))
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        load_annotation_file(annotation_file(tmp_path, Reduce(np.ndarray, (2**40,))))
    kp = np.ones((1, 2, 17, 2), np.float16)  # an ordinary array still loads
    np.testing.assert_array_equal(load_annotation_file(annotation_file(tmp_path, kp))["annotations"][0]["keypoint"], kp)


# ---------------------------------------------------------------------------------------- keypoints


@pytest.mark.parametrize("dtype", [np.complex64, bool, object])
def test_keypoints_must_be_real_numbers(dtype):
    with pytest.raises(DataFormatError, match=rf"s.npz: sample 3: keypoints of dtype {np.dtype(dtype)}, expected "
                       r"real numbers: float16/32/64 or an integer type \(int8..int64, uint8..uint64\)"):
        check_keypoints(np.ones((1, 2, 17, 2), dtype), 17, 2, "s.npz: sample 3")


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float16, np.float64])
def test_integer_and_float_keypoints_become_float32(dtype):
    out = check_keypoints(np.full((1, 2, 17, 2), 7, dtype), 17, 2, "here")
    assert out.dtype == np.float32 and (out == 7).all()


# ----------------------------------------------------------------------------------- prepare and load


def raw_of(samples: list[RawSample]) -> RawDataset:
    return RawDataset("toy", ["a", "b"], {"lq": StreamInfo("coco17", ("x", "y"))}, lambda: iter(samples), len(samples))


def clip(frames: int, value: float = 1.0) -> np.ndarray:
    return np.full((1, frames, 17, 2), value, np.float32)


def test_short_clips_are_reported(tmp_path):
    samples = [RawSample("long", 0, {"lq": clip(MIN_FRAMES)}, ("train",)),
               RawSample("short", 1, {"lq": clip(MIN_FRAMES - 1)}, ("train",))]
    with pytest.warns(UserWarning, match=rf"toy: clips shorter than {MIN_FRAMES} frames: 1 in stream 'lq' "
                      r"\(e.g. 'short'\)"):
        out = prepare(raw_of(samples), tmp_path / "toy", progress=False)
    assert PreparedDataset(out).summary()["short_clips"] == {"lq": {"count": 1, "min_frames": MIN_FRAMES,
                                                                    "examples": ["short"]}}


def test_stale_partial_folders_of_a_killed_prepare_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"toy.partial-{int(dead.stdout)}"
    live = tmp_path / f"toy.partial-{subprocess.os.getppid()}"  # a prepare still running elsewhere
    other = tmp_path / "other.partial-1"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "labels.npy").write_bytes(b"half")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare(raw_of([RawSample("s", 0, {"lq": clip(MIN_FRAMES)}, ("train",))]), tmp_path / "toy", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["toy", live.name, other.name])


class Explode(BaseTransform):
    def forward(self, data):
        data.x = data.x / 0.0
        return data


def test_non_finite_values_are_caught_when_a_sample_is_loaded(tmp_path):
    samples = [RawSample(f"s{i}", i % 2, {"lq": clip(MIN_FRAMES, i)}, ("train",)) for i in range(1, 4)]
    root = prepare(raw_of(samples), tmp_path / "toy", progress=False)
    frames = np.load(root / "lq.frames.npy", mmap_mode="r+")
    frames[MIN_FRAMES + 3, 0, 5, 1] = np.nan  # sample #1, frame 3, joint 5, channel y
    frames.flush()
    del frames
    dataset = SkeletonDataset(root, None, "lq")
    assert torch.isfinite(dataset[0].x).all()
    with pytest.raises(DataFormatError, match=r"toy: sample #1 's2', stream 'lq': non-finite value in the stored "
                       r"keypoints \(person 0, frame 3, joint 5, channel 1\)"):
        dataset[1]
    with pytest.raises(DataFormatError, match=r"sample #0 's1', stream 'lq': non-finite value in the output of the "
                       r"transform Explode\(\)"):
        SkeletonDataset(root, None, "lq", Explode())[0]
