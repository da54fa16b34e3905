"""SYSU 3D HOI reader: sklWorld.mat files written here in the release's layout; splits checked by counting."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.sysu import SYSU_ACTIONS, find_clips, read_sysu, sysu_splits
from tests.data.mat_writer import write_mat


def sw(frames: int, seed: int) -> np.ndarray:
    """``SW`` as the release stores it: ``[20 joints, 3, T]`` float64."""
    return np.random.default_rng(seed).normal(size=(20, 3, frames))


def write_clip(base: Path, subject: str, video: int, array: np.ndarray, variable: str = "SW") -> Path:
    folder = base / subject / f"video{video}"
    folder.mkdir(parents=True)
    return write_mat(folder / "sklWorld.mat", {variable: array})


def release(tmp_path: Path, subjects=("P1", "P2", "P10", "P3"), videos=(1, 2, 12)) -> Path:
    base = tmp_path / "SYSU3DAction" / "3DvideoNorm"
    for s, subject in enumerate(subjects):
        for video in videos:
            write_clip(base, subject, video, sw(6 + s, seed=10 * s + video))
    return tmp_path / "SYSU3DAction"


def test_values_labels_and_subjects(tmp_path):
    root = release(tmp_path)
    ds = read_sysu(root, num_splits=2)
    samples = {s.sample_id: s for s in ds.samples()}

    assert ds.num_samples == 12 and len(samples) == 12
    assert ds.class_names == list(SYSU_ACTIONS) and ds.class_names[11] == "sweeping"
    assert ds.streams["hq"].layout == "kinect20" and ds.streams["hq"].channels == ("x", "y", "z")
    clip = samples["P10_video12"]
    expected = sw(6 + 2, seed=10 * 2 + 12)  # P10 is the third subject in natural order: P1, P2, P3, P10
    assert clip.label == 11 and clip.streams["hq"].shape == (1, 8, 20, 3)
    np.testing.assert_array_equal(clip.streams["hq"][0, 5, 3], expected[3, :, 5].astype(np.float32))
    assert clip.meta == {"subject": "P10", "subject_index": 3}
    assert samples["P3_video1"].meta["subject_index"] == 2 and samples["P3_video1"].label == 0
    # the 3DvideoNorm folder itself works as root too
    assert [c.sample_id for c in find_clips(root / "3DvideoNorm")] == [c.sample_id for c in find_clips(root)]


def test_split_names_and_both_settings(tmp_path):
    ds = read_sysu(release(tmp_path, subjects=("a", "b", "c", "d", "e")), seed=7, num_splits=3)
    samples = list(ds.samples())
    assert all(len(s.splits) == 6 for s in samples)
    assert samples[0].splits[0].startswith("s1_split00_") and samples[0].splits[5].startswith("s2_split02_")
    for i in range(3):
        train_1 = [s for s in samples if f"s1_split{i:02d}_train" in s.splits]
        train_2 = [s for s in samples if f"s2_split{i:02d}_train" in s.splits]
        # setting 1: 3 of the 5 clips of every action (half, rounded up) train
        assert Counter(s.label for s in train_1) == {0: 3, 1: 3, 11: 3}
        # setting 2: 3 of 5 subjects train, with all of their clips
        subjects = {s.meta["subject"] for s in train_2}
        assert len(subjects) == 3 and len(train_2) == 9
        assert all(f"s2_split{i:02d}_test" in s.splits for s in samples if s.meta["subject"] not in subjects)


def test_splits_are_seeded(tmp_path):
    clips = find_clips(release(tmp_path, subjects=tuple(f"S{i}" for i in range(8)), videos=(1, 2)))
    assert sysu_splits(clips, seed=3, num_splits=4) == sysu_splits(clips, seed=3, num_splits=4)
    assert sysu_splits(clips, seed=3, num_splits=4) != sysu_splits(clips, seed=4, num_splits=4)
    splits = sysu_splits(clips, seed=3, num_splits=4)
    per_split = {tuple(names[i] for names in splits) for i in range(0, 8, 2)}
    assert len(per_split) > 1  # the four setting-1 splits are not all the same


def test_wrong_joint_count(tmp_path):
    path = write_clip(tmp_path, "P1", 1, np.zeros((19, 3, 5)))
    message = rf"{path}: SW has shape \(19, 3, 5\), expected \[20 joints, 3, T frames\]"
    with pytest.raises(DataFormatError, match=message):
        list(read_sysu(tmp_path).samples())


def test_non_finite_value_names_the_file(tmp_path):
    array = sw(5, seed=0)
    array[4, 1, 2] = np.nan
    path = write_clip(tmp_path, "P1", 3, array)
    message = rf"{path}: non-finite value nan at person 0, frame 2, joint 4, channel 1"
    with pytest.raises(DataFormatError, match=message):
        list(read_sysu(tmp_path).samples())


def test_empty_sequence(tmp_path):
    path = write_clip(tmp_path, "P1", 3, np.zeros((20, 3, 0)))
    with pytest.raises(DataFormatError, match=rf"{path}: empty sequence \(persons=1, frames=0\)"):
        list(read_sysu(tmp_path).samples())


def test_one_frame_clip_saved_without_its_frame_axis(tmp_path):
    write_clip(tmp_path, "P1", 3, sw(1, seed=0)[:, :, 0])  # what MATLAB writes for [20, 3, 1]
    (sample,) = read_sysu(tmp_path, num_splits=1).samples()
    np.testing.assert_array_equal(sample.streams["hq"][0, 0], sw(1, seed=0)[:, :, 0].astype(np.float32))


def test_missing_variable_and_unreadable_file(tmp_path):
    path = write_clip(tmp_path, "P1", 1, sw(3, 0), variable="S")
    with pytest.raises(DataFormatError, match=rf"{path}: no variable 'SW'"):
        list(read_sysu(tmp_path).samples())
    path.write_bytes(b"MATLAB 5.0 MAT-file, broken")
    with pytest.raises(DataFormatError, match=str(path)):
        list(read_sysu(tmp_path).samples())


def test_bad_tree(tmp_path):
    write_clip(tmp_path / "a", "P1", 13, sw(3, 0))
    with pytest.raises(DataFormatError, match="action 13 outside video1..video12"):
        read_sysu(tmp_path / "a")
    (tmp_path / "b" / "P1" / "video2").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="video2: expected the skeleton file sklWorld.mat"):
        read_sysu(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataFormatError, match="no <subject>/video<k>/sklWorld.mat found"):
        read_sysu(tmp_path / "c")
    with pytest.raises(DataFormatError, match="not a folder"):
        read_sysu(tmp_path / "missing")


def test_prepares_into_the_store(tmp_path):
    from pygkd.data.store import PreparedDataset, prepare

    raw = read_sysu(release(tmp_path, subjects=("P1", "P2"), videos=(1, 5)), num_splits=2)
    prepared = PreparedDataset(prepare(raw, tmp_path / "prepared", progress=False))
    assert prepared.sample_ids == ["P1_video1", "P1_video5", "P2_video1", "P2_video5"]
    assert prepared.labels.tolist() == [0, 4, 0, 4] and len(prepared.split_names) == 8
    np.testing.assert_array_equal(prepared.keypoints("hq", 3)[0, 2], sw(7, seed=15)[:, :, 2].astype(np.float32))
