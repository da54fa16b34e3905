"""Clips of every pose-estimator format, written here from the formats' specifications, read back by
:func:`read_pose_clips` with the values, person order and frame order checked, and every bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.pose_clips import find_clips, read_pose_clips
from tests.data.pose_writers import (
    pose, write_alphapose, write_coco_results, write_mediapipe_csv, write_mediapipe_jsonl, write_mmpose_demo,
    write_mmpose_inferencer, write_openpose,
)


def one(path: Path, **kwargs):
    (clip,) = read_pose_clips(path, **kwargs)
    return clip


def two_people(num_joints: int, frames: int = 3) -> list[list[np.ndarray]]:
    """A (score 0.75) on the left, B (score 0.5) on the right, both stepping right by 1 px a frame."""
    return [[pose(num_joints, 10 + t, 20, 0.75), pose(num_joints, 60 + t, 20, 0.5)] for t in range(frames)]


# ------------------------------------------------------------------------------ OpenPose


def test_openpose_body25_folder_clip(tmp_path):
    poses = two_people(25)
    write_openpose(tmp_path / "clipA", "video", poses)
    clip = one(tmp_path / "clipA")
    assert (clip.clip_id, clip.layout, clip.keypoints.shape) == ("clipA", "body25", (2, 3, 25, 3))
    np.testing.assert_array_equal(clip.keypoints[0, 2], poses[2][0])
    np.testing.assert_array_equal(clip.keypoints[1, 1], poses[1][1])


def test_openpose_prefixes_split_a_folder_and_frames_are_sorted(tmp_path):
    poses = [[pose(18, t, 0)] for t in range(4)]
    paths = write_openpose(tmp_path / "out", "walk01", poses)
    write_openpose(tmp_path / "out", "run02", [[pose(18, 100, 0)]])
    paths[1].rename(paths[1].with_name("walk01_000000000001_keypoints.json.tmp"))  # frame 1 lost: empty frame
    clips = {c.clip_id: c for c in read_pose_clips(tmp_path / "out", fmt="openpose")}
    assert sorted(clips) == ["run02", "walk01"] and clips["walk01"].layout == "openpose18"
    kp = clips["walk01"].keypoints
    assert kp.shape == (1, 4, 18, 3) and not kp[0, 1].any()
    np.testing.assert_array_equal(kp[0, [0, 2, 3], 0, 0], [0, 2, 3])


def test_openpose_track_ids_are_followed(tmp_path):
    poses = [[pose(25, 0, 0, 0.5), pose(25, 50, 0, 0.75)], [pose(25, 50, 0, 0.75), pose(25, 0, 0, 0.5)]]
    write_openpose(tmp_path / "c", "c", poses, person_ids=[[3, 8], [8, 3]])
    kp = one(tmp_path / "c").keypoints
    np.testing.assert_array_equal(kp[:, :, 0, 0], [[50, 50], [0, 0]])  # id 8 (more active) first


def test_openpose_wrong_count_in_one_frame_names_the_file(tmp_path):
    paths = write_openpose(tmp_path / "c", "c", [[pose(25, 0, 0)], [pose(25, 0, 0)]])
    data = json.loads(paths[1].read_text())
    values = data["people"][0]["pose_keypoints_2d"]
    data["people"][0]["pose_keypoints_2d"] = values[:54]
    paths[1].write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=rf"{paths[1]}: 18 keypoints \(layout openpose18\), but .*"
                                              r"c_000000000000_keypoints.json has 25 \(layout body25\)"):
        one(tmp_path / "c")
    data["people"][0]["pose_keypoints_2d"] = values[:60]
    paths[1].write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=rf"{paths[1]}: person 0: pose_keypoints_2d has 20 keypoints, expected"):
        one(tmp_path / "c")


def test_not_json_names_line_and_column(tmp_path):
    paths = write_openpose(tmp_path / "c", "c", [[pose(25, 0, 0)]])
    paths[0].write_text('{"version": 1.3,\n "people": [}\n')
    with pytest.raises(DataFormatError, match=rf"{paths[0]}:2:13: not JSON \(Expecting value\)"):
        one(tmp_path / "c")


# ------------------------------------------------------------------------------ MMPose


def test_mmpose_inferencer_and_demo_forms(tmp_path):
    poses = two_people(17)
    clip = one(write_mmpose_inferencer(tmp_path / "v1.json", poses))
    assert (clip.clip_id, clip.layout, clip.keypoints.shape) == ("v1", "coco17", (2, 3, 17, 3))
    np.testing.assert_array_equal(clip.keypoints[1, 0], poses[0][1])
    boxes = [[[5.0 + t, 10, 20 + t, 40], [55.0 + t, 10, 70 + t, 40]] for t in range(3)]
    demo = one(write_mmpose_demo(tmp_path / "v2.json", poses, boxes), fmt="mmpose")
    np.testing.assert_array_equal(demo.keypoints, clip.keypoints)  # frame ids from 1: same frames


def test_mmpose_wholebody_keeps_the_body_and_checks_meta(tmp_path):
    poses = [[pose(133, 0, 0)]]
    path = write_mmpose_demo(tmp_path / "wb.json", poses)
    clip = one(path)
    assert clip.layout == "coco17" and clip.keypoints.shape == (1, 1, 17, 3)
    np.testing.assert_array_equal(clip.keypoints[0, 0], poses[0][0][:17])
    data = json.loads(path.read_text())
    data["meta_info"]["num_keypoints"] = 17
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"wb.json: frame_id 1: instance 0 has 133 keypoints, meta_info.num_"):
        one(path)


def test_mmpose_duplicate_frames_name_both(tmp_path):
    path = write_mmpose_inferencer(tmp_path / "v.json", [[pose(17, 0, 0)]] * 3)
    data = json.loads(path.read_text())
    data[2]["frame_id"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"v.json: frame 0 appears twice: .*v.json: frame_id 0 and .*v.json: "
                                              "frame_id 0"):
        one(path)


# ------------------------------------------------------------------------------ AlphaPose


def test_alphapose_results_boxes_link_crossing_people(tmp_path):
    # A (score 0.75) walks right, B (0.5) left; AlphaPose without tracking: idx repeats, persons by boxes
    a = [pose(26, 4 * t, 0, 0.75) for t in range(11)]
    b = [pose(26, 42 - 4 * t, 0, 0.5) for t in range(11)]
    poses = [[a[t], b[t]] if t % 2 else [b[t], a[t]] for t in range(11)]
    boxes = [[[float(p[0, 0]), 0.0, 10.0, 20.0] for p in persons] for persons in poses]
    path = write_alphapose(tmp_path / "clip7" / "alphapose-results.json", poses, boxes=boxes)
    clip = one(tmp_path)
    assert (clip.clip_id, clip.layout, clip.source) == ("clip7", "halpe26", str(path))
    path.write_text("[]")
    with pytest.raises(DataFormatError, match="alphapose-results.json: no person in any frame"):
        one(tmp_path)
    np.testing.assert_array_equal(clip.keypoints[0], np.stack(a))
    np.testing.assert_array_equal(clip.keypoints[1], np.stack(b))


def test_alphapose_track_ids_and_halpe136(tmp_path):
    poses = [[pose(136, 0, 0, 0.5), pose(136, 50, 0, 0.75)], [pose(136, 50, 0, 0.75), pose(136, 0, 0, 0.5)]]
    path = write_alphapose(tmp_path / "r.json", poses, idx=[[1, 2], [2, 1]])
    clip = one(path, fmt="alphapose")
    assert clip.keypoints.shape == (2, 2, 26, 3)
    np.testing.assert_array_equal(clip.keypoints[0, :, 0, 0], [50, 50])


def test_alphapose_missing_images_are_empty_frames_and_duplicates_fail(tmp_path):
    path = write_alphapose(tmp_path / "r.json", [[pose(17, 0, 0)]] * 2)
    records = json.loads(path.read_text())
    records[1]["image_id"] = "3.jpg"  # nobody found in 1.jpg, 2.jpg
    path.write_text(json.dumps(records))
    kp = one(path).keypoints
    assert kp.shape == (1, 4, 17, 3) and not kp[0, 1:3].any() and kp[0, 3].any()
    records[1]["image_id"] = "000.jpg"
    path.write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match=r"frame 0 appears twice: .*image_id '0.jpg' and .*image_id '000.jpg'"):
        one(path)


def test_negative_and_nan_confidence_name_the_record(tmp_path):
    path = write_alphapose(tmp_path / "r.json", [[pose(17, 0, 0)], [pose(17, 0, 0)]])
    text = path.read_text()
    records = json.loads(text)
    records[1]["keypoints"][3 * 5 + 2] = -0.5
    path.write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match=r"r.json: result 1 \(image_id '1.jpg'\): keypoint 5 has confidence -0.5"):
        one(path)
    records[1]["keypoints"][3 * 5 + 2] = float("nan")
    path.write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match=r"result 1 \(image_id '1.jpg'\): keypoint 5 has confidence nan"):
        one(path)


# ------------------------------------------------------------------------------ COCO results


def test_coco_results_with_an_images_table_or_csv(tmp_path):
    clips = {"cA": [[pose(17, t, 0)] for t in range(3)], "cB": [[pose(17, 9, 9)], [], [pose(17, 8, 8)]]}
    results, annotation = write_coco_results(tmp_path / "res.json", clips)
    (tmp_path / "ann.json").write_text(json.dumps(annotation))
    read = {c.clip_id: c for c in read_pose_clips(results, "coco_results", images=tmp_path / "ann.json")}
    assert sorted(read) == ["cA", "cB"] and read["cA"].layout == "coco17"
    np.testing.assert_array_equal(read["cA"].keypoints[0, 2], clips["cA"][2][0])
    assert read["cB"].keypoints.shape == (1, 3, 17, 3) and not read["cB"].keypoints[0, 1].any()
    rows = "".join(f"{im['id']},{im['file_name'].split('/')[0]},{2 - k % 3}\n"  # frames reversed per clip
                   for k, im in enumerate(annotation["images"]))
    (tmp_path / "map.csv").write_text("image_id,clip,frame\n" + rows)
    by_csv = {c.clip_id: c for c in read_pose_clips(results, images=tmp_path / "map.csv")}
    np.testing.assert_array_equal(by_csv["cA"].keypoints[0], read["cA"].keypoints[0, ::-1])


def test_coco_result_outside_the_mapping(tmp_path):
    results, annotation = write_coco_results(tmp_path / "res.json", {"cA": [[pose(17, 0, 0)], [pose(17, 1, 0)]]})
    annotation["images"] = annotation["images"][:1]
    (tmp_path / "ann.json").write_text(json.dumps(annotation))
    with pytest.raises(DataFormatError, match=r"res.json: result 1: image_id 101 is not in the images mapping .*ann"):
        find_clips(results, "coco_results", images=tmp_path / "ann.json")
    annotation["images"][0]["file_name"] = "000000.jpg"
    (tmp_path / "ann.json").write_text(json.dumps(annotation))
    with pytest.raises(DataFormatError, match=r"images\[0\]: file_name '000000.jpg' has no clip folder"):
        find_clips(results, "coco_results", images=tmp_path / "ann.json")


def test_coco_results_without_mapping_are_one_clip(tmp_path):
    results, _ = write_coco_results(tmp_path / "video.json", {"c": [[pose(17, t, 0)] for t in range(2)]}, first_id=0)
    clip = one(results)
    assert clip.clip_id == "video" and clip.keypoints.shape == (1, 2, 17, 3)


# ------------------------------------------------------------------------------ MediaPipe


def test_mediapipe_jsonl_and_csv_agree(tmp_path):
    poses = [[pose(33, 0.25, 0.5, 0.875)], [pose(33, 0.25, 0.5, 0.875), pose(33, 0.75, 0.5, 0.5)],
             [pose(33, 0.25, 0.5, 0.875)]]
    jsonl = one(write_mediapipe_jsonl(tmp_path / "a.jsonl", poses))
    assert (jsonl.clip_id, jsonl.layout, jsonl.keypoints.shape) == ("a", "mediapipe33", (2, 3, 33, 3))
    np.testing.assert_array_equal(jsonl.keypoints[0, 1], poses[1][0])  # x, y, visibility (z dropped)
    np.testing.assert_array_equal(jsonl.keypoints[1, 1], poses[1][1])
    assert not jsonl.keypoints[1, [0, 2]].any()
    csv_clip = one(write_mediapipe_csv(tmp_path / "b.csv", poses), fmt="mediapipe")
    np.testing.assert_array_equal(csv_clip.keypoints, jsonl.keypoints)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"frame": 0, "landmarks": [[0, 0, 0, 1]]}\n', r"a.jsonl:1: person 0: landmarks has 1 keypoints, expected 33"),
        ('{"frame": 0, "landmarks": []}\n{"frame": 0 "x": 1}\n', r"a.jsonl:2:13: not JSON"),
        ('{"frame": 0, "people": []}\n', r"a.jsonl:1: expected a frame"),
        ('{"frame": 0, "landmarks": []}\n{"frame": 1, "landmarks": []}\n', r"a.jsonl: no person in any frame"),
    ],
)
def test_bad_mediapipe_jsonl(tmp_path, text, message):
    (tmp_path / "a.jsonl").write_text(text)
    with pytest.raises(DataFormatError, match=message):
        one(tmp_path / "a.jsonl")


def test_bad_mediapipe_csv(tmp_path):
    path = write_mediapipe_csv(tmp_path / "b.csv", [[pose(33, 0, 0)]])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:8] + lines[9:]) + "\n")  # landmark 7 of frame 0 left out
    with pytest.raises(DataFormatError, match="b.csv: frame 0, person 0: landmark 7 missing"):
        one(path)
    path.write_text("\n".join(lines + [lines[3]]) + "\n")
    with pytest.raises(DataFormatError, match=r"b.csv:35: frame 0, person 0, landmark 2 again \(first at line 4\)"):
        one(path)


# ------------------------------------------------------------------------------ folders of clips


def test_a_folder_of_every_format(tmp_path):
    write_openpose(tmp_path / "walk" / "op1", "x", [[pose(25, 0, 0)]])
    write_mmpose_inferencer(tmp_path / "walk" / "mm1.json", [[pose(17, 0, 0)]])
    write_alphapose(tmp_path / "run" / "ap1" / "alphapose-results.json", [[pose(26, 0, 0)]])
    write_mediapipe_jsonl(tmp_path / "run" / "mp1.jsonl", [[pose(33, 0, 0)]])
    write_mediapipe_csv(tmp_path / "run" / "mp2.csv", [[pose(33, 0, 0)]])
    (tmp_path / "labels.csv").write_text("clip,label\nop1,walk\n")  # not a clip
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "junk.json").write_text("{}")
    found = {c.clip_id: c.parts for c in find_clips(tmp_path)}
    assert found == {"ap1": ("run", "ap1"), "mp1": ("run", "mp1.jsonl"), "mp2": ("run", "mp2.csv"),
                     "mm1": ("walk", "mm1.json"), "op1": ("walk", "op1")}
    layouts = {c.clip_id: c.layout for c in read_pose_clips(tmp_path)}
    assert layouts == {"ap1": "halpe26", "mp1": "mediapipe33", "mp2": "mediapipe33", "mm1": "coco17", "op1": "body25"}
    assert [c.clip_id for c in find_clips(tmp_path, fmt="mediapipe")] == ["mp1", "mp2"]


def test_clip_ids_must_be_unique_and_clips_exist(tmp_path):
    write_mmpose_inferencer(tmp_path / "a" / "v.json", [[pose(17, 0, 0)]])
    write_mmpose_inferencer(tmp_path / "b" / "v.json", [[pose(17, 0, 0)]])
    with pytest.raises(DataFormatError, match=r"clip id 'v' twice: .*a/v.json and .*b/v.json"):
        find_clips(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty: no pose clips of any known format found"):
        find_clips(tmp_path / "empty")
    (tmp_path / "other.json").write_text('{"images": []}')
    with pytest.raises(DataFormatError, match="other.json: not a pose clip; expected MMPose predictions"):
        one(tmp_path / "other.json")
