"""The pose-estimator readers as datasets: labels and splits, pairing with an HQ reader by clip id, and
``pygkd prepare`` end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from pygkd.data.dataset import PairDataset
from pygkd.data.raw import DataFormatError
from pygkd.data.readers import get_reader
from pygkd.data.store import PreparedDataset, prepare
from pygkd.skeleton import layout_names
from tests.data.pose_writers import (
    pose, write_alphapose, write_coco_results, write_mediapipe_csv, write_mmpose_inferencer, write_openpose,
)


def mmpose_clips(root: Path, clips: dict[str, str], frames: int = 2) -> dict[str, list]:
    """One MMPose file per clip, ``root/<folder>/<clip>.json``; clip k's person stands at x = 10 k."""
    written = {}
    for k, (clip, folder) in enumerate(clips.items()):
        poses = [[pose(17, 10 * k + t, 5)] for t in range(frames)]
        write_mmpose_inferencer(root / folder / f"{clip}.json", poses)
        written[clip] = poses
    return written


CLIPS = {"c0": "wave", "c1": "sit", "c2": "wave", "c3": "sit", "c4": "wave", "c5": "sit"}


def test_label_folders_and_stratified_fractions(tmp_path):
    written = mmpose_clips(tmp_path, CLIPS)
    ds = get_reader("mmpose")(tmp_path, splits={"train": 2 / 3, "test": 1 / 3}, seed=1)
    assert ds.class_names == ["sit", "wave"] and ds.num_samples == 6
    assert ds.streams["lq"].layout == "coco17" and ds.streams["lq"].channels == ("x", "y", "score")
    samples = {s.sample_id: s for s in ds.samples()}
    assert {c: s.label for c, s in samples.items()} == {c: int(label == "wave") for c, label in CLIPS.items()}
    assert samples["c3"].meta == {"source": "sit/c3.json"}
    np.testing.assert_array_equal(samples["c3"].streams["lq"][0, 1], written["c3"][1][0])
    split_counts = {(s.label, s.splits) for s in samples.values()}
    assert sorted(sum(1 for s in samples.values() if s.splits == ("train",) and s.label == k) for k in (0, 1)) == [2, 2]
    assert split_counts == {(0, ("train",)), (0, ("test",)), (1, ("train",)), (1, ("test",))}


def test_label_and_split_csv(tmp_path):
    written = mmpose_clips(tmp_path / "clips", {"c0": ".", "c1": ".", "c2": "."})
    (tmp_path / "labels.csv").write_text("clip,label\nc0,jump\nc2,run\nc9,run\n")
    (tmp_path / "splits.csv").write_text("clip,split\nc0,train\nc2,test\n")
    ds = get_reader("mmpose")(tmp_path / "clips", labels=tmp_path / "labels.csv", splits=tmp_path / "splits.csv",
                              class_names=["run", "jump"])
    samples = list(ds.samples())
    assert [(s.sample_id, s.label, s.splits) for s in samples] == [("c0", 1, ("train",)), ("c2", 0, ("test",))]
    np.testing.assert_array_equal(samples[1].streams["lq"][0, 0], written["c2"][0][0])
    assert ds.skipped == {"unlabelled": 1, "label_rows_without_clip": 1, "split_rows_without_clip": 0}


def test_unknown_label_and_mixed_layouts_fail(tmp_path):
    mmpose_clips(tmp_path / "clips", {"c0": ".", "c1": "."})
    (tmp_path / "labels.csv").write_text("clip,label\nc0,jump\nc1,jmup\n")
    with pytest.raises(DataFormatError, match=r"labels.csv:3: unknown label 'jmup' of clip 'c1'; expected one of jump"):
        get_reader("mmpose")(tmp_path / "clips", labels=tmp_path / "labels.csv", class_names=["jump", "run"])
    write_alphapose(tmp_path / "clips" / "c2.json", [[pose(26, 0, 0)]])
    (tmp_path / "labels.csv").write_text("clip,label\nc0,jump\nc1,jump\nc2,jump\n")
    ds = get_reader("mmpose")(tmp_path / "clips", fmt=None, labels=tmp_path / "labels.csv")
    with pytest.raises(DataFormatError, match=r"c2.json: layout halpe26, but the first clip 'c0' is coco17"):
        list(ds.samples())


def write_hq_npz(path: Path, ids: list[str], labels: list[int], splits: dict[str, list[int]]) -> np.ndarray:
    """An HQ stream in the generic .npz format: ntu25 x, y, z, 4 frames, value = sample index."""
    keypoints = np.stack([np.full((1, 4, 25, 3), i, np.float32) for i in range(len(ids))])
    np.savez(path, labels=np.array(labels), sample_ids=np.array(ids), class_names=np.array(["sit", "wave"]),
             hq_layout=np.array("ntu25"), hq_keypoints=keypoints,
             **{f"split_{name}": np.array(members) for name, members in splits.items()})
    return keypoints


def test_pairing_with_an_hq_reader(tmp_path):
    written = mmpose_clips(tmp_path / "lq", CLIPS)
    hq = write_hq_npz(tmp_path / "hq.npz", ["c1", "c0", "h9", "c4"], [0, 1, 0, 1], {"train": [0, 1, 2], "test": [3]})
    ds = get_reader("mmpose")(tmp_path / "lq", labels="folders", splits="hq", hq_reader="npz",
                              hq_root=tmp_path / "hq.npz")
    assert set(ds.streams) == {"lq", "hq"} and ds.streams["hq"].layout == "ntu25" and ds.num_samples == 6
    samples = list(ds.samples())
    assert [(s.sample_id, sorted(s.streams), s.splits) for s in samples] == [
        ("c1", ["hq", "lq"], ("train",)), ("c0", ["hq", "lq"], ("train",)), ("c4", ["hq", "lq"], ("test",)),
        ("c3", ["lq"], ()), ("c5", ["lq"], ()), ("c2", ["lq"], ()),  # solitary, in the clips' order (sit/, wave/)
    ]
    np.testing.assert_array_equal(samples[0].streams["hq"], hq[0])
    np.testing.assert_array_equal(samples[0].streams["lq"][0, 1], written["c1"][1][0])
    assert ds.skipped["hq_only"] == 1 and ds.notes["hq_only_examples"] == ["h9"]
    assert ds.notes["lq_without_hq"] == 3 and ds.notes["lq_without_hq_examples"] == ["c3", "c5", "c2"]

    prepared = PreparedDataset(prepare(ds, tmp_path / "prepared", progress=False))
    pairs = PairDataset(prepared, None, lq=("lq", None), hq=("hq", None))
    assert [bool(pairs[k].has_hq) for k in range(6)] == [True, True, True, False, False, False]
    assert prepared.skipped["hq_only"] == 1 and prepared.notes["lq_without_hq"] == 3


def test_labels_from_the_hq_reader_and_label_disagreement(tmp_path):
    mmpose_clips(tmp_path / "lq", {f"x_{c}_rgb": "." for c in ("c0", "c1", "c7")})
    write_hq_npz(tmp_path / "hq.npz", ["c0", "c1"], [1, 0], {"train": [0], "test": [1]})
    ds = get_reader("mmpose")(tmp_path / "lq", hq_reader="npz", hq_root=tmp_path / "hq.npz", id_pattern=r"x_(c\d)_")
    assert ds.class_names == ["sit", "wave"] and ds.num_samples is None
    samples = list(ds.samples())
    assert [(s.sample_id, s.label, s.splits) for s in samples] == [("c0", 1, ("train",)), ("c1", 0, ("test",))]
    assert ds.skipped == {"hq_only": 0, "lq_only_unlabelled": 1} and ds.notes["lq_only_unlabelled_examples"] == ["c7"]

    mmpose_clips(tmp_path / "lq2", {"c0": "wave", "c1": "wave"})  # the folders say c1 waves, the HQ labels say sit
    ds = get_reader("mmpose")(tmp_path / "lq2", labels="folders", class_names=["sit", "wave"], hq_reader="npz",
                              hq_root=tmp_path / "hq.npz")
    with pytest.raises(DataFormatError, match="sample c1: label 'wave' from the clips' labels but 'sit' from HQ"):
        list(ds.samples())
    with pytest.raises(DataFormatError, match=r"no clip id matches a sample id of HQ reader hq \(clips e.g. \['x_c0"):
        list(get_reader("mmpose")(tmp_path / "lq", hq_reader="npz", hq_root=tmp_path / "hq.npz").samples())
    with pytest.raises(DataFormatError, match="clip id 'x_c0_rgb' does not match id_pattern 'z'"):
        get_reader("mmpose")(tmp_path / "lq", id_pattern="z")


def test_hq_option_errors(tmp_path):
    mmpose_clips(tmp_path / "lq", {"c0": "wave"})
    with pytest.raises(DataFormatError, match=r"hq_reader npz \(hq_root, hq_options\): missing a required argument"):
        get_reader("mmpose")(tmp_path / "lq", hq_reader="npz")
    with pytest.raises(DataFormatError, match="hq_reader: unknown dataset 'kinect'"):
        get_reader("mmpose")(tmp_path / "lq", hq_reader="kinect", hq_root=tmp_path)
    with pytest.raises(DataFormatError, match="'hq' needs hq_reader"):
        get_reader("mmpose")(tmp_path / "lq", labels="hq")
    with pytest.raises(DataFormatError, match=r"splits=s.csv: with labels=hq the splits are the HQ reader's too"):
        get_reader("mmpose")(tmp_path / "lq", splits="s.csv", hq_reader="npz", hq_root=tmp_path)
    with pytest.raises(DataFormatError, match=r"splits=0.8: expected a clip,split CSV file, fractions"):
        get_reader("mmpose")(tmp_path / "lq", splits=0.8)


# ------------------------------------------------------------------------------ pygkd prepare


def run(*args: str | Path):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_prepare_coco_results_with_images_and_hq(tmp_path):
    clips = {"c0": [[pose(17, 1, 2)], [pose(17, 3, 4)]], "c1": [[pose(17, 5, 6)]], "c4": [[], [pose(17, 7, 8)]]}
    results, annotation = write_coco_results(tmp_path / "res.json", clips)
    (tmp_path / "ann.json").write_text(json.dumps(annotation))
    (tmp_path / "labels.csv").write_text("clip,label\nc0,sit\nc1,wave\nc4,wave\n")
    write_hq_npz(tmp_path / "hq.npz", ["c1", "c0"], [1, 0], {"train": [0, 1]})
    out = tmp_path / "prepared"
    result = run("prepare", "coco_results", "--root", results, "--out", out, "-o", f"images={tmp_path / 'ann.json'}",
                 "-o", f"labels={tmp_path / 'labels.csv'}", "-o", "hq_reader=npz",
                 "-o", f"hq_root={tmp_path / 'hq.npz'}", "-o", "splits=hq")
    assert result.exit_code == 0, result.output
    prepared = PreparedDataset(out)
    assert prepared.sample_ids == ["c1", "c0", "c4"] and prepared.labels.tolist() == [1, 0, 1]
    assert prepared.split("train").tolist() == [0, 1]
    np.testing.assert_array_equal(prepared.keypoints("lq", 1)[0, 1], clips["c0"][1][0])
    assert not prepared.keypoints("lq", 2)[0, 0].any() and not prepared.has("hq", 2)


def test_prepare_mmpose_with_labels_and_a_bad_label(tmp_path):
    mmpose_clips(tmp_path / "clips", {"c0": ".", "c1": "."})
    (tmp_path / "labels.csv").write_text("clip,label\nc0,jump\nc1,run\n")
    out = tmp_path / "prepared"
    result = run("prepare", "mmpose", "--root", tmp_path / "clips", "--out", out,
                 "-o", f"labels={tmp_path / 'labels.csv'}", "-o", "splits={train: 0.5, test: 0.5}",
                 "-o", "num_persons=1")
    assert result.exit_code == 0, result.output
    assert "clips: 2 samples, 2 classes" in result.output
    info = json.loads(run("info", out, "--json").output)
    assert info["streams"]["lq"]["layout"] == "coco17" and info["streams"]["lq"]["num_persons"] == 1
    # one clip per class: 0.5 of 1 rounds to the first split of the largest remainder, train
    assert {k: v["samples"] for k, v in info["splits"].items()} == {"train": 2}
    (tmp_path / "labels.csv").write_text("clip,label\nc0,jump\nc1,jmup\n")
    bad = run("prepare", "mmpose", "--root", tmp_path / "clips", "--out", tmp_path / "bad",
              "-o", f"labels={tmp_path / 'labels.csv'}", "-o", "class_names=[jump, run]")
    assert bad.exit_code == 1 and "labels.csv:3: unknown label 'jmup' of clip 'c1'" in bad.output
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("fmt", ["openpose", "alphapose", "mediapipe"])
def test_prepare_every_estimator_layout(tmp_path, fmt):
    layout, joints = {"openpose": ("body25", 25), "alphapose": ("halpe26", 26), "mediapipe": ("mediapipe33", 33)}[fmt]
    if layout not in layout_names():
        pytest.skip(f"layout {layout} is registered by the layouts work")
    root = tmp_path / "clips"
    written = {}
    for k, (clip, label) in enumerate({"c0": "walk", "c1": "run", "c2": "walk"}.items()):
        poses = [[pose(joints, 100 * k + t, 10, 0.5), pose(joints, 50 + 100 * k, 10, 0.25)] for t in range(3)]
        if fmt == "openpose":
            write_openpose(root / label / clip, "video", poses)
        elif fmt == "alphapose":
            write_alphapose(root / label / clip / "alphapose-results.json", poses,
                            boxes=[[[100.0 * k + t, 10, 8, 13], [50.0 + 100 * k, 10, 8, 13]] for t in range(3)])
        else:
            write_mediapipe_csv(root / label / f"{clip}.csv", poses)
        written[clip] = poses
    (tmp_path / "splits.csv").write_text("clip,split\nc0,train\nc1,train\nc2,test\n")
    out = tmp_path / "prepared"
    result = run("prepare", fmt, "--root", root, "--out", out, "-o", f"splits={tmp_path / 'splits.csv'}")
    assert result.exit_code == 0, result.output
    prepared = PreparedDataset(out)
    assert prepared.streams["lq"].layout == layout and prepared.class_names == ["run", "walk"]
    assert sorted(prepared.sample_ids) == ["c0", "c1", "c2"] and prepared.split("test").tolist() == [
        prepared.sample_ids.index("c2")]
    k = prepared.sample_ids.index("c1")
    np.testing.assert_array_equal(prepared.keypoints("lq", k)[:, 2], np.stack([p for p in written["c1"][2]]))
