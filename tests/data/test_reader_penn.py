"""Penn Action reader: label files written here as MAT-files, values checked by hand, and the real labels."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.penn_action import CLASS_NAMES, read_clip, read_penn_action
from tests.conftest import shared_data
from tests.data.mat_writer import write_mat


def clip(frames: int = 4, action: str = "bowl", train: int = 1, **changes) -> dict:
    """The variables of a label file; joint j of frame t is at (10 t + j, 100 + j + 0.25), visible if j is even."""
    t, j = np.meshgrid(np.arange(frames), np.arange(13), indexing="ij")
    variables = {
        "action": action,
        "pose": "front",
        "x": (10.0 * t + j),
        "y": (100.0 + j + 0.25 + 0 * t),
        "visibility": j % 2 == 0,
        "train": np.array([[train]], dtype=np.int32),
        "bbox": np.zeros((frames, 4)),
        "dimensions": np.array([[360.0, 480.0, frames]]),
        "nframes": np.array([[float(frames)]]),
    }
    variables.update(changes)
    return variables


def test_class_names_are_the_sorted_actions():
    assert len(CLASS_NAMES) == 15 and CLASS_NAMES == sorted(CLASS_NAMES)


def test_values_splits_and_meta(tmp_path):
    sample = read_clip(write_mat(tmp_path / "0007.mat", clip(frames=4, action="pushup", train=-1)))
    hq = sample.streams["hq"]
    assert hq.shape == (1, 4, 13, 3) and hq.dtype == np.float32
    np.testing.assert_array_equal(hq[0, 3, 5], [35.0, 105.25, 0.0])  # frame 3, joint 5 (right_elbow): invisible
    np.testing.assert_array_equal(hq[0, 2, 4], [24.0, 104.25, 1.0])
    assert sample.sample_id == "0007" and sample.label == CLASS_NAMES.index("pushup") == 9
    assert sample.splits == ("test",) and sample.meta == {"view": "front", "image_size": [360, 480]}


def test_dataset_from_root_or_labels_folder(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    write_mat(labels / "0002.mat", clip(action="squat", train=1))
    write_mat(labels / "0001.mat", clip(action="bowl", train=-1))
    for root in (tmp_path, labels):
        ds = read_penn_action(root)
        samples = list(ds.samples())
        assert ds.num_samples == 2 and [s.sample_id for s in samples] == ["0001", "0002"]
        assert [s.splits for s in samples] == [("test",), ("train",)]
        assert ds.streams["hq"].layout == "penn13" and ds.streams["hq"].channels == ("x", "y", "visibility")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"action": "curling"}, r"action 'curling' is not one of the 15"),
        ({"train": np.array([[0]], dtype=np.int32)}, r"'train' is .*expected 1 \(train\) or -1 \(test\)"),
        ({"y": np.zeros((4, 12))}, r"x, y, visibility have shapes .*expected one \[T, 13\]"),
        ({"x": np.full((4, 13), np.nan)}, r"non-finite value nan at person 0, frame 0, joint 0"),
        ({"x": np.zeros((0, 13)), "y": np.zeros((0, 13)), "visibility": np.zeros((0, 13), bool)}, "empty sequence"),
    ],
    ids=["action", "train-flag", "shape", "nan", "empty"],
)
def test_bad_label_files(tmp_path, changes, message):
    path = write_mat(tmp_path / "0001.mat", clip(**changes))
    with pytest.raises(DataFormatError, match=r"0001\.mat: " + message):
        read_clip(path)


def test_missing_variable_and_missing_files(tmp_path):
    variables = clip()
    del variables["visibility"]
    with pytest.raises(DataFormatError, match=r"0001\.mat: missing variables \['visibility'\]"):
        read_clip(write_mat(tmp_path / "0001.mat", variables))
    with pytest.raises(DataFormatError, match=r"no labels/\*\.mat files"):
        read_penn_action(tmp_path / "empty")


# --- the real data ---------------------------------------------------------------------------------------
def test_real_counts_and_splits():
    ds = read_penn_action(shared_data("penn_action"))
    samples = list(ds.samples())
    assert ds.num_samples == len(samples) == 2326
    assert Counter(s.splits[0] for s in samples) == {"train": 1258, "test": 1068}
    per_class = Counter(ds.class_names[s.label] for s in samples)
    assert len(per_class) == 15 and per_class["squat"] == 231 and per_class["jump_rope"] == 82
    assert sum(s.streams["hq"].shape[1] for s in samples) == 163841  # frames


@pytest.mark.parametrize(
    "name, frame, x, y, visible, label, split",
    [
        ("0001", 0, [136.5, 135.0, 102.75, 160.5, 141.0, 162.0, 154.5, 114.75, 107.25, 142.5, 102.0, 141.75, 93.0],
         [71.25, 102.75, 99.0, 148.5, 148.5, 117.75, 122.25, 175.5, 180.0, 255.0, 255.75, 324.75, 321.0],
         [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1], "baseball_pitch", "test"),
        ("1605", 156, [333.0, 309.0, 284.25, 0.75, 233.25, 238.5, 208.5, 228.0, 214.5, 189.75, 168.75, 0.75, 132.75],
         [225.0, 216.75, 239.25, 0.75, 242.25, 196.5, 228.75, 201.0, 222.75, 174.75, 183.0, 0.75, 216.0],
         [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1], "situp", "train"),
    ],
)
def test_real_frames_match_the_label_files(name, frame, x, y, visible, label, split):
    """Values as SciPy's loadmat reads them (1605.mat is one of the files with unfinished zlib streams),
    except that invisible joints parked at the corner (0.75, 0.75) read as missing (all zero)."""
    sample = read_clip(shared_data("penn_action") / "labels" / f"{name}.mat")
    expected = np.stack([x, y, visible], axis=-1)
    expected[(expected[:, 2] == 0) & (expected[:, 0] == 0.75) & (expected[:, 1] == 0.75)] = 0.0
    np.testing.assert_array_equal(sample.streams["hq"][0, frame], expected)
    assert CLASS_NAMES[sample.label] == label and sample.splits == (split,)
