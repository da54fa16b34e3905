"""One frame of each pose estimator's format, written here from its public specification, read back."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.pose_frames import PoseFrame, order_frames, parse_frame


def flat(num_joints: int, offset: float = 0.0) -> list[float]:
    """x, y, c per joint: x = 10 k + offset, y = 10 k + 1 + offset, c = 0.5 (exact in float32)."""
    return [v for k in range(num_joints) for v in (10.0 * k + offset, 10.0 * k + 1 + offset, 0.5)]


def test_openpose_body25_and_coco18():
    frame = parse_frame(
        {"version": 1.3, "people": [
            {"person_id": [-1], "pose_keypoints_2d": flat(25), "face_keypoints_2d": [], "hand_left_keypoints_2d": []},
            {"person_id": [7], "pose_keypoints_2d": flat(25, 100.0)},
        ]}, "f.json")
    assert frame.layout == "body25" and frame.index is None and frame.source == "f.json"
    first, second = frame.persons
    assert first.keypoints.shape == (25, 3) and first.keypoints.dtype == np.float32
    np.testing.assert_array_equal(first.keypoints[3], [30.0, 31.0, 0.5])
    np.testing.assert_array_equal(second.keypoints[24], [340.0, 341.0, 0.5])
    assert (first.track_id, second.track_id) == (None, 7) and first.bbox is None
    coco18 = parse_frame({"people": [{"pose_keypoints_2d": flat(18)}]}, "g.json")
    assert coco18.layout == "openpose18" and coco18.persons[0].keypoints.shape == (18, 3)
    assert parse_frame({"version": 1.3, "people": []}, "h.json") == PoseFrame(None, [], None, "h.json")


def test_mmpose_frame_and_wholebody_body_joints():
    instance = {
        "keypoints": [[2.0 * k, 2.0 * k + 1] for k in range(133)],
        "keypoint_scores": [k / 256 for k in range(133)],
        "bbox": [[1.0, 2.0, 30.0, 40.0]],  # split_instances writes the box as a one-element tuple
        "bbox_score": 0.75,
        "track_id": 4,
    }
    frame = parse_frame({"frame_id": 3, "instances": [instance]}, "v.json: frame 3")
    (person,) = frame.persons
    assert (frame.index, frame.layout, person.track_id) == (3, "coco17", 4)
    assert person.keypoints.shape == (17, 3)
    np.testing.assert_array_equal(person.keypoints[16], [32.0, 33.0, 16 / 256])
    np.testing.assert_array_equal(person.bbox, [1.0, 2.0, 30.0, 40.0])
    image = parse_frame([{"keypoints": [[0.5, 1.5]] * 26, "keypoint_scores": [0.25] * 26}], "img.json")
    assert image.layout == "halpe26" and image.index is None and image.persons[0].bbox is None


def test_mediapipe_frame_lists_and_dicts():
    marks = [[k / 64, k / 32, -0.1, 0.75] for k in range(33)]
    frame = parse_frame({"frame": 5, "landmarks": marks}, "m.jsonl:6")
    assert (frame.index, frame.layout) == (5, "mediapipe33")
    np.testing.assert_array_equal(frame.persons[0].keypoints[2], [2 / 64, 2 / 32, 0.75])  # z dropped
    as_dicts = [{"x": x, "y": y, "z": z, "visibility": v} for x, y, z, v in marks]
    two = parse_frame({"frame": 6, "poses": [marks, as_dicts]}, "m.jsonl:7")
    np.testing.assert_array_equal(two.persons[0].keypoints, two.persons[1].keypoints)
    assert parse_frame({"frame": 7, "landmarks": []}, "m.jsonl:8").persons == []


def test_coco_and_alphapose_results_of_one_image():
    results = [
        {"image_id": "12.jpg", "category_id": 1, "keypoints": flat(136), "score": 2.5, "box": [10, 20, 30, 40],
         "idx": [3]},
        {"image_id": "12.jpg", "category_id": 1, "keypoints": flat(136, 1.0), "score": 1.5, "idx": [0, 2]},
    ]
    frame = parse_frame(results, "ap.json")
    assert (frame.index, frame.layout) == (12, "halpe26")
    a, b = frame.persons
    assert a.keypoints.shape == (26, 3) and (a.track_id, b.track_id) == (3, None)
    np.testing.assert_array_equal(a.bbox, [10, 20, 40, 60])  # x, y, w, h -> x1, y1, x2, y2
    coco = parse_frame([{"image_id": 42, "category_id": 1, "keypoints": flat(17), "score": 0.9}], "res.json")
    assert (coco.index, coco.layout) == (42, "coco17")


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"people": [{"pose_keypoints_2d": flat(20)}]},
         r"where: person 0: pose_keypoints_2d has 20 keypoints, expected 25 \(OpenPose BODY_25\) or 18"),
        ({"people": [{"pose_keypoints_2d": flat(25)[:-1]}]}, "pose_keypoints_2d has 74 numbers"),
        ({"people": [{"pose_keypoints_2d": ["a"] * 75}]}, r"pose_keypoints_2d\[0\] is 'a', expected a number"),
        ({"people": {}}, "'people' is a dict, expected a list"),
        ({"frame_id": -1, "instances": []}, "frame_id is -1, expected a frame number >= 0"),
        ({"instances": [{"keypoints": [[1, 2, 3]] * 17, "keypoint_scores": [1] * 17}]},
         r"instance 0: keypoints\[0\] is \[1, 2, 3\], expected \[x, y\]"),
        ({"frame": 0, "landmarks": [{"x": 0, "y": 0, "z": 0}] * 33}, r"landmarks\[0\]\[3\] is None, expected a number"),
        ({"instances": [{"keypoints": [[1, 2]] * 17, "keypoint_scores": [1] * 16}]}, "16 keypoint_scores for 17"),
        ({"frame": 0, "landmarks": [[0, 0, 0, 1]] * 32}, "landmarks has 32 keypoints, expected 33"),
        ([{"image_id": 1, "keypoints": flat(17)}, {"image_id": 2, "keypoints": flat(17)}], "results of several images"),
        ({"keypoints": flat(17)}, "where: not a pose frame; expected an OpenPose frame"),
    ],
)
def test_bad_frames_name_where_and_what(obj, message):
    with pytest.raises(DataFormatError, match=message):
        parse_frame(obj, "where")


def test_nan_and_negative_confidences_are_refused():
    values = flat(25)
    values[3 * 2 + 2] = float("nan")
    text = json.dumps({"people": [{"pose_keypoints_2d": values}]})  # JSON text with NaN, as Python writes it
    assert "NaN" in text
    with pytest.raises(DataFormatError, match="f.json: person 0: keypoint 2 has confidence nan, expected a finite"):
        parse_frame(json.loads(text), "f.json")
    negative = flat(17)
    negative[3 * 4 + 2] = -0.25
    with pytest.raises(DataFormatError, match="result 0: keypoint 4 has confidence -0.25, expected a finite score"):
        parse_frame([{"image_id": 0, "keypoints": negative}], "r.json")
    nan_x = flat(17)
    nan_x[3] = float("nan")
    with pytest.raises(DataFormatError, match="keypoint 1 has x = nan, expected a finite coordinate"):
        parse_frame([{"image_id": 0, "keypoints": nan_x}], "r.json")


def test_order_frames_sorts_fills_gaps_and_names_duplicates():
    person = parse_frame({"people": [{"pose_keypoints_2d": flat(18)}]}, "x").persons
    frames = [PoseFrame(i, person, "openpose18", f"f{i}.json") for i in (4, 2, 5)]
    ordered = order_frames(frames, "clip")
    assert [f.index for f in ordered] == [2, 3, 4, 5]
    assert [f.source for f in ordered] == ["f2.json", "clip: frame 3 (no detection)", "f4.json", "f5.json"]
    assert ordered[1].persons == [] and ordered[1].layout is None
    unnumbered = [PoseFrame(None, person, "openpose18", s) for s in "abc"]
    assert order_frames(unnumbered, "clip") == unnumbered
    with pytest.raises(DataFormatError, match="clip: frame 2 appears twice: f2.json and again.json"):
        order_frames(frames + [PoseFrame(2, [], None, "again.json")], "clip")
    with pytest.raises(DataFormatError, match="clip: b has no frame number, unlike the others"):
        order_frames(frames + [unnumbered[1]], "clip")
    stamps = [PoseFrame(i, person, "openpose18", f"{i}.jpg") for i in (20231203120000, 20231203120001)]
    with pytest.raises(DataFormatError, match=r"clip: frame numbers 0..20231203120000 for 2 frames \(0.jpg .. 2023"):
        order_frames([stamps[0], PoseFrame(0, person, "openpose18", "0.jpg")], "clip")
    assert len(order_frames(stamps, "clip")) == 2
