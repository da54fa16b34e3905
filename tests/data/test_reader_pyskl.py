"""PYSKL annotation pickles: values, pairing, splits, the restricted unpickler and bad input."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.pyskl import load_annotation_file, read_pyskl


def ann_2d(name: str, label: int, persons: int = 1, frames: int = 4, seed: int = 0) -> dict:
    """A PYSKL 2D annotation (HRNet style): float16 COCO-17 keypoints and scores."""
    rng = np.random.default_rng(seed)
    return {
        "frame_dir": name,
        "label": label,
        "img_shape": (1080, 1920),
        "original_shape": (1080, 1920),
        "total_frames": frames,
        "keypoint": (rng.random((persons, frames, 17, 2)) * 1000).astype(np.float16),
        "keypoint_score": rng.random((persons, frames, 17)).astype(np.float16),
    }


def ann_3d(name: str, label: int, frames: int = 5, seed: int = 1) -> dict:
    """A PYSKL 3D annotation (ntu60_3danno style): float32 Kinect keypoints, no scores."""
    rng = np.random.default_rng(seed)
    return {"frame_dir": name, "label": np.int64(label), "total_frames": frames,
            "keypoint": rng.normal(size=(2, frames, 25, 3)).astype(np.float32)}


def dump(path: Path, annotations: list[dict], split: dict | None = None, protocol: int = 2) -> Path:
    data = {"annotations": annotations}
    if split is not None:
        data["split"] = split
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_values_scores_and_splits(tmp_path, protocol):
    anns = [ann_2d("S001C001P001R001A001", 0, persons=2, seed=3), ann_2d("S001C001P002R001A002", 1)]
    split = {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C001P002R001A002"],
             "xview_train": ["S001C001P001R001A001", "S001C001P002R001A002"]}
    ds = read_pyskl(dump(tmp_path / "ntu_hrnet.pkl", anns, split, protocol))
    first, second = list(ds.samples())

    assert ds.name == "ntu_hrnet" and ds.class_names == ["0", "1"] and ds.num_samples == 2
    assert ds.streams["lq"].layout == "coco17" and ds.streams["lq"].channels == ("x", "y", "score")
    lq = first.streams["lq"]
    assert lq.shape == (2, 4, 17, 3) and lq.dtype == np.float32
    np.testing.assert_array_equal(lq[1, 2, 5, :2], anns[0]["keypoint"][1, 2, 5].astype(np.float32))
    assert lq[1, 2, 5, 2] == np.float32(anns[0]["keypoint_score"][1, 2, 5])
    assert first.splits == ("xsub_train", "xview_train") and second.splits == ("xsub_val", "xview_train")
    assert first.meta == {"img_shape": [1080, 1920], "total_frames": 4}
    assert "hq" not in first.streams and ds.skipped == {"split_entries_without_sample": 0}


def test_hq_pairing_by_frame_dir(tmp_path):
    lq = dump(tmp_path / "lq.pkl", [ann_2d("a", 0), ann_2d("b", 1), ann_2d("c", 1)], {"train": ["a", "b", "c", "z"]})
    hq_anns = [ann_3d("c", 1), ann_3d("a", 0), ann_3d("x", 0), ann_3d("y", 1)]
    ds = read_pyskl(lq, dump(tmp_path / "hq.pkl", hq_anns), class_names=["sit", "stand"])
    samples = {s.sample_id: s for s in ds.samples()}

    assert list(samples) == ["a", "b", "c"]
    assert set(samples["a"].streams) == {"lq", "hq"} and set(samples["b"].streams) == {"lq"}
    np.testing.assert_array_equal(samples["c"].streams["hq"], hq_anns[0]["keypoint"])
    assert ds.streams["hq"].layout == "ntu25" and ds.streams["hq"].channels == ("x", "y", "z")
    assert ds.skipped == {"split_entries_without_sample": 1, "hq_only": 2}
    assert ds.notes == {"solitary": 1, "hq_only_examples": ["x", "y"]}
    assert ds.class_names == ["sit", "stand"]


def test_label_disagreement_between_files(tmp_path):
    lq = dump(tmp_path / "lq.pkl", [ann_2d("a", 0)], {"train": ["a"]})
    hq = dump(tmp_path / "hq.pkl", [ann_3d("a", 3)])
    with pytest.raises(DataFormatError, match=r"sample a: label 0 in .*lq.pkl but 3 in .*hq.pkl"):
        read_pyskl(lq, hq)


def test_files_without_common_samples(tmp_path):
    lq = dump(tmp_path / "lq.pkl", [ann_2d("a", 0)], {"train": ["a"]})
    hq = dump(tmp_path / "hq.pkl", [ann_3d("b", 0)])
    with pytest.raises(DataFormatError, match="hq.pkl: no frame_dir in common with .*lq.pkl"):
        read_pyskl(lq, hq)


def test_numpy_1_pickles_load(tmp_path):
    data = pickle.dumps({"split": {"t": ["a"]}, "annotations": [ann_2d("a", 0)]}, protocol=2)
    legacy = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != data
    path = tmp_path / "old.pkl"
    path.write_bytes(legacy)
    (sample,) = read_pyskl(path).samples()
    assert sample.streams["lq"].shape == (1, 4, 17, 3)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_pickle_is_refused_before_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [_Exploit(marker)]}, protocol=protocol))
    with pytest.raises(DataFormatError, match=rf"{path.name}: refused to unpickle global (os|posix|nt)\.system"):
        read_pyskl(path)
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = tmp_path / "eval.pkl"
    path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")  # protocol 0: builtins.eval('1+1')
    with pytest.raises(DataFormatError, match="refused to unpickle global builtins.eval"):
        load_annotation_file(path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("split"), "missing the 'split' dict"),
        (lambda d: d["split"].update({"": ["a"]}), "split name '' is not a non-empty string"),
        (lambda d: d["split"].update({3: ["a"]}), "split name 3 is not a non-empty string"),
        (lambda d: d["split"].update({"t": "a"}), "split 't' is a str, expected a list"),
        (lambda d: d["annotations"][0].pop("keypoint"), r"annotation 0 \(a\): missing key 'keypoint'"),
        (lambda d: d["annotations"].append(ann_2d("a", 0)), "frame_dir 'a' appears twice"),
        (lambda d: d["annotations"][0].update(label=-1), "sample a: label -1 is not a class index"),
        (lambda d: d["annotations"][0].update(label=1.5), "sample a: label 1.5 is not a class index"),
        (lambda d: d.update(annotations={}), "expected a dict with an 'annotations' list"),
    ],
)
def test_bad_structure(tmp_path, mutate, message):
    data = {"split": {"t": ["a"]}, "annotations": [ann_2d("a", 0)]}
    mutate(data)
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(DataFormatError, match=message):
        read_pyskl(path)


def bad_sample(tmp_path: Path, **changes) -> Path:
    ann = ann_2d("a", 0)
    ann.update(changes)
    return dump(tmp_path / "bad.pkl", [ann_2d("ok", 0), ann], {"t": ["a", "ok"]})


def test_wrong_joint_count_names_the_sample(tmp_path):
    path = bad_sample(tmp_path, keypoint=np.zeros((1, 4, 18, 2), np.float16), keypoint_score=np.zeros((1, 4, 18)))
    with pytest.raises(DataFormatError, match=r"bad.pkl: sample a: 18 joints, the layout expects 17"):
        list(read_pyskl(path).samples())


def test_non_finite_value_names_the_sample(tmp_path):
    keypoint = np.zeros((1, 4, 17, 2), np.float16)
    keypoint[0, 3, 2, 1] = np.inf
    with pytest.raises(DataFormatError, match=r"sample a: non-finite value inf at person 0, frame 3, joint 2"):
        list(read_pyskl(bad_sample(tmp_path, keypoint=keypoint)).samples())


def test_empty_sequence_names_the_sample(tmp_path):
    path = bad_sample(tmp_path, keypoint=np.zeros((1, 0, 17, 2), np.float16), keypoint_score=np.zeros((1, 0, 17)))
    with pytest.raises(DataFormatError, match=r"sample a: empty sequence \(persons=1, frames=0\)"):
        list(read_pyskl(path).samples())


def test_score_shape_and_presence_must_match(tmp_path):
    with pytest.raises(DataFormatError, match=r"sample a: keypoint_score shape \(1, 4, 16\) does not match"):
        list(read_pyskl(bad_sample(tmp_path, keypoint_score=np.zeros((1, 4, 16)))).samples())
    ann = ann_2d("a", 0)
    del ann["keypoint_score"]
    path = dump(tmp_path / "mixed.pkl", [ann_2d("ok", 0), ann], {"t": ["a"]})
    with pytest.raises(DataFormatError, match="sample a: keypoint_score is missing"):
        list(read_pyskl(path).samples())


def test_label_out_of_range_of_class_names(tmp_path):
    path = dump(tmp_path / "lq.pkl", [ann_2d("a", 0), ann_2d("b", 2)], {"t": ["a"]})
    with pytest.raises(DataFormatError, match="sample b: label 2 out of range for 2 classes"):
        read_pyskl(path, class_names=["x", "y"])


def test_not_a_pickle(tmp_path):
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DataFormatError, match="junk.pkl: not a readable pickle"):
        read_pyskl(path)


def test_prepares_into_the_store(tmp_path):
    from pygkd.data.store import PreparedDataset, prepare

    lq = dump(tmp_path / "lq.pkl", [ann_2d("a", 0), ann_2d("b", 1)], {"xsub_train": ["a"], "xsub_val": ["b"]})
    hq = dump(tmp_path / "hq.pkl", [ann_3d("b", 1)])
    prepared = PreparedDataset(prepare(read_pyskl(lq, hq), tmp_path / "prepared", progress=False))
    assert [prepared.has("hq", i) for i in range(2)] == [False, True]
    assert prepared.streams["lq"].channels == ("x", "y", "score") and prepared.split("xsub_val").tolist() == [1]
    assert prepared.meta(0) == {"img_shape": [1080, 1920], "total_frames": 4}
