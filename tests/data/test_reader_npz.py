"""Generic .npz reader: dense and ragged streams read back by hand, and every documented error."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.generic_npz import array_headers, read_npz
from pygkd.skeleton import get_layout

RNG = np.random.default_rng(0)
HQ = RNG.normal(size=(3, 2, 5, 25, 3)).astype(np.float32)  # dense NTU-25, 3 samples, 2 persons, 5 frames
LQ_FRAMES = RNG.random((9, 1, 17, 2)).astype(np.float32)  # ragged COCO-17: 4 + 2 + 3 frames
LQ_SCORES = RNG.random((9, 1, 17)).astype(np.float32)


def valid() -> dict[str, np.ndarray]:
    return {
        "labels": np.array([2, 0, 1]),
        "class_names": np.array(["wave", "sit", "jump"]),
        "sample_ids": np.array(["a", "b", "c"]),
        "hq_layout": np.array("ntu25"),
        "hq_keypoints": HQ,
        "hq_lengths": np.array([5, 3, 0]),  # sample c has no HQ
        "lq_layout": np.array("coco17"),
        "lq_frames": LQ_FRAMES,
        "lq_offsets": np.array([0, 4, 6, 9]),
        "lq_scores": LQ_SCORES,
        "split_train": np.array([0, 2]),
        "split_test": np.array([1]),
    }


def save(tmp_path: Path, arrays: dict, name: str = "mine.npz") -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_dense_and_ragged_streams_read_back(tmp_path):
    ds = read_npz(save(tmp_path, valid()))
    a, b, c = ds.samples()

    assert ds.name == "mine" and ds.class_names == ["wave", "sit", "jump"] and ds.num_samples == 3
    assert ds.streams["hq"].layout == "ntu25" and ds.streams["hq"].channels == ("x", "y", "z")
    assert ds.streams["lq"].layout == "coco17" and ds.streams["lq"].channels == ("x", "y", "score")
    assert (a.sample_id, a.label, a.splits) == ("a", 2, ("train",))
    assert (b.label, b.splits, c.splits) == (0, ("test",), ("train",))
    np.testing.assert_array_equal(b.streams["hq"], HQ[1, :, :3])
    assert set(c.streams) == {"lq"}
    # sample b's LQ is ragged frames 4 and 5: frame 1 of person 0 is row 5
    np.testing.assert_array_equal(b.streams["lq"][0, 1, :, :2], LQ_FRAMES[5, 0])
    np.testing.assert_array_equal(b.streams["lq"][0, 1, :, 2], LQ_SCORES[5, 0])
    assert c.streams["lq"].shape == (1, 3, 17, 3)
    assert ds.notes == {"without_stream": {"hq": 1, "lq": 0}}


def test_defaults_and_channel_names(tmp_path):
    kp = RNG.random((2, 1, 4, 17, 4)).astype(np.float32)
    arrays = {"labels": np.array([0, 3]), "lq_layout": np.array("coco17"), "lq_keypoints": kp,
              "lq_channels": np.array(["x", "y", "vx", "vy"])}
    ds = read_npz(save(tmp_path, arrays))
    first, second = ds.samples()
    assert ds.class_names == ["0", "1", "2", "3"] and (first.sample_id, second.sample_id) == ("0", "1")
    assert ds.streams["lq"].channels == ("x", "y", "vx", "vy") and first.splits == ()
    np.testing.assert_array_equal(second.streams["lq"], kp[1])


def test_layout_file_next_to_the_npz(tmp_path):
    spec = get_layout("kinect20").to_dict() | {"name": "my_kinect20"}
    (tmp_path / "my20.json").write_text(json.dumps(spec))
    arrays = {"labels": np.array([0]), "hq_layout": np.array("my20.json"),
              "hq_keypoints": np.zeros((1, 1, 2, 20, 3), np.float32)}
    ds = read_npz(save(tmp_path, arrays))
    assert ds.streams["hq"].layout == str((tmp_path / "my20.json").resolve())
    assert get_layout(ds.streams["hq"].layout).name == "my_kinect20"


def test_headers_are_read_without_the_data(tmp_path):
    headers = array_headers(save(tmp_path, valid()))
    assert headers["hq_keypoints"] == ((3, 2, 5, 25, 3), np.dtype(np.float32))
    assert headers["hq_layout"][0] == ()


def test_compressed_files_work(tmp_path):
    path = tmp_path / "small.npz"
    np.savez_compressed(path, **valid())
    assert [s.sample_id for s in read_npz(path).samples()] == ["a", "b", "c"]


def bad(tmp_path: Path, **changes) -> Path:
    arrays = valid()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return save(tmp_path, arrays)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"labels": None}, "key 'labels': missing"),
        ({"labels": np.array([2, 0, 3])}, "key 'labels': sample 2: label 3 outside 0..2"),
        ({"labels": np.array([2, -1, 0])}, "key 'labels': sample 1: label -1 outside 0..2"),
        ({"labels": np.array([[2, 0, 1]])}, "key 'labels': expected a 1-D integer array"),
        ({"labels": np.array([], dtype=np.int64)}, "key 'labels': no samples"),
        ({"hq_keypoint": HQ}, "key 'hq_keypoint': unknown key"),
        ({"split_": np.array([0])}, "key 'split_': empty split name"),
        ({"split_test": np.array([1, 7])}, "key 'split_test': index 7 at position 1 outside 0..2"),
        ({"split_test": np.array([1, 1])}, "key 'split_test': sample 1 listed twice"),
        ({"split_test": np.array([0.5])}, "key 'split_test': expected a 1-D integer array"),
        ({"hq_keypoints": HQ[..., :24, :]}, "key 'hq_keypoints': 24 joints, layout 'ntu25' has 25"),
        ({"hq_keypoints": HQ[:2]}, r"key 'hq_keypoints': expected \[N=3, M, T, V, C\], got shape \(2, 2, 5, 25, 3\)"),
        ({"hq_lengths": np.array([5, 6, 0])}, "key 'hq_lengths': sample 1: length 6 outside 0..5"),
        ({"hq_layout": None}, "key 'hq_layout': missing"),
        ({"hq_layout": np.array("ntu26")}, "key 'hq_layout': unknown layout 'ntu26'"),
        ({"hq_layout": np.array(["ntu25"])}, "key 'hq_layout': expected a string"),
        ({"hq_frames": LQ_FRAMES}, r"key 'hq_keypoints': give either hq_keypoints \(dense\) or hq_frames"),
        ({"lq_offsets": None}, "key 'lq_frames': stream 'lq' needs lq_keypoints, or lq_frames with lq_offsets"),
        ({"lq_offsets": np.array([0, 4, 6, 8])}, r"key 'lq_offsets': expected 0 .. F=9, got 0 .. 8"),
        ({"lq_offsets": np.array([0, 5, 4, 9])}, r"key 'lq_offsets': sample 1: offsets decrease \(5 > 4\)"),
        ({"lq_offsets": np.array([0, 4, 9])}, "key 'lq_offsets': expected 4 entries, got 3"),
        ({"lq_lengths": np.array([1, 1, 1])}, "key 'lq_lengths': only with dense lq_keypoints"),
        ({"lq_scores": LQ_SCORES[:, :, :16]}, r"key 'lq_scores': expected shape \(9, 1, 17\) .*, got \(9, 1, 16\)"),
        ({"lq_channels": np.array(["u", "v", "w"])}, "key 'lq_channels': expected 2 entries, got 3"),
        ({"sample_ids": np.array(["a", "b", "a"])}, "key 'sample_ids': 'a' appears twice"),
        ({"sample_ids": np.array([1, 2, 3])}, "key 'sample_ids': expected a 1-D unicode array"),
        ({"class_names": np.array(["wave", 1], dtype=object)}, "key 'class_names': object arrays are refused"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path, changes, message):
    path = bad(tmp_path, **changes)
    with pytest.raises(DataFormatError, match=rf"{path.name}: {message}"):
        read_npz(path)


def test_non_finite_value_names_the_sample(tmp_path):
    hq = HQ.copy()
    hq[1, 0, 2, 3, 0] = np.nan
    path = bad(tmp_path, hq_keypoints=hq)
    with pytest.raises(DataFormatError, match=r"sample 1 \(b\), key 'hq_keypoints': non-finite value nan at person 0, "
                                              r"frame 2, joint 3, channel 0"):
        list(read_npz(path).samples())


def test_frames_past_a_samples_length_are_not_read(tmp_path):
    hq = HQ.copy()
    hq[1, :, 3:] = np.nan  # sample b has 3 valid frames; the padding may hold anything
    (_, b, _) = read_npz(bad(tmp_path, hq_keypoints=hq)).samples()
    assert b.streams["hq"].shape == (2, 3, 25, 3)


def test_empty_sequence_in_every_stream(tmp_path):
    path = bad(tmp_path, lq_offsets=np.array([0, 4, 9, 9]))  # sample c: no HQ (length 0) and no LQ frames
    with pytest.raises(DataFormatError, match=r"sample 2 \(c\): empty sequence in every stream"):
        read_npz(path)


def test_more_channels_need_names(tmp_path):
    arrays = {"labels": np.array([0]), "lq_layout": np.array("coco17"),
              "lq_keypoints": np.zeros((1, 1, 2, 17, 4), np.float32)}
    with pytest.raises(DataFormatError, match="key 'lq_keypoints': 4 channels; name them in lq_channels"):
        read_npz(save(tmp_path, arrays))


def test_no_stream_and_not_an_npz(tmp_path):
    with pytest.raises(DataFormatError, match="no stream"):
        read_npz(save(tmp_path, {"labels": np.array([0])}))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"no zip here")
    with pytest.raises(DataFormatError, match="junk.npz: not an .npz file"):
        read_npz(junk)


def test_prepares_into_the_store(tmp_path):
    from pygkd.data.store import PreparedDataset, prepare

    prepared = PreparedDataset(prepare(read_npz(save(tmp_path, valid())), tmp_path / "prepared", progress=False))
    assert prepared.sample_ids == ["a", "b", "c"] and not prepared.has("hq", 2)
    np.testing.assert_array_equal(prepared.keypoints("hq", 1), HQ[1, :, :3])
    assert prepared.split("train").tolist() == [0, 2]
    assert prepared.notes == {"without_stream": {"hq": 1, "lq": 0}}
