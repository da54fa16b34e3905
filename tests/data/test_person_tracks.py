"""Persons over time: crossing people keep their identity, track ids are followed, the most active kept."""
from __future__ import annotations

import numpy as np
import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.person_tracks import iou, link_persons
from pygkd.data.readers.pose_frames import PersonPose, PoseFrame

OFFSETS = np.stack([np.linspace(-5, 5, 17), np.linspace(-10, 10, 17)], axis=1)  # a 10 x 20 body


def person(x: float, y: float, score: float, box: bool = True, track_id: int | None = None) -> PersonPose:
    keypoints = np.concatenate([OFFSETS + [x, y], np.full((17, 1), score)], axis=1).astype(np.float32)
    bbox = np.array([x - 5, y - 10, x + 5, y + 10], np.float32) if box else None
    return PersonPose(keypoints, track_id, bbox)


def frames_of(rows: list[list[PersonPose]]) -> list[PoseFrame]:
    return [PoseFrame(t, persons, "coco17", f"f{t}") for t, persons in enumerate(rows)]


def test_iou_by_hand():
    assert iou(np.array([0, 0, 10, 20]), np.array([4, 0, 14, 20])) == pytest.approx(120 / 280)
    assert iou(np.array([0, 0, 1, 1]), np.array([2, 2, 3, 3])) == 0.0


@pytest.mark.parametrize("box", [True, False], ids=["boxes", "centroids"])
def test_crossing_people_keep_their_identity_without_track_ids(box):
    # A walks right from x = 0, B left from x = 42, 4 px a frame, at the same height: between frames 5 (A at 20,
    # B at 22) and 6 (A at 24, B at 18) B's detection is nearer A's last position than A's own.
    a = [person(4 * t, 50, 0.9, box) for t in range(11)]
    b = [person(42 - 4 * t, 50, 0.6, box) for t in range(11)]
    rows = [[a[t], b[t]] if t % 2 == 0 else [b[t], a[t]] for t in range(11)]
    out = link_persons(frames_of(rows), 2, "clip")
    assert out.shape == (2, 11, 17, 3)
    np.testing.assert_array_equal(out[0], np.stack([p.keypoints for p in a]))  # A is the more active
    np.testing.assert_array_equal(out[1], np.stack([p.keypoints for p in b]))


def test_track_ids_are_followed():
    # the tracker says the two swap places at frame 2 (say, after an occlusion); its ids win over the boxes
    rows = [
        [person(0, 0, 0.5, track_id=5), person(100, 0, 0.7, track_id=9)],
        [person(0, 0, 0.5, track_id=5), person(100, 0, 0.7, track_id=9)],
        [person(0, 0, 0.7, track_id=9), person(100, 0, 0.5, track_id=5)],
    ]
    out = link_persons(frames_of(rows), 2, "clip")
    np.testing.assert_array_equal(out[0, :, 0, 0], [95, 95, -5])  # id 9 (more active), x of joint 0
    np.testing.assert_array_equal(out[1, :, 0, 0], [-5, -5, 95])


def test_repeated_ids_in_a_frame_are_not_track_ids():
    # AlphaPose without tracking writes idx [0] for everyone: link by boxes instead
    rows = [[person(0, 0, 0.5, track_id=0), person(100, 0, 0.7, track_id=0)] for _ in range(2)]
    rows.append([person(102, 0, 0.7, track_id=0), person(2, 0, 0.5, track_id=0)])
    out = link_persons(frames_of(rows), 2, "clip")
    np.testing.assert_array_equal(out[0, :, 0, 0], [95, 95, 97])
    np.testing.assert_array_equal(out[1, :, 0, 0], [-5, -5, -3])


def test_the_most_active_persons_are_kept():
    # activity = the sum of scores: id 1 is seen in 3 frames at 0.375 (3 * 17 * 0.375 = 19.125), id 2 in
    # 1 frame at 0.75 (12.75), id 3 in 2 frames at 0.5 (17.0)
    rows = [
        [person(0, 0, 0.375, track_id=1), person(50, 0, 0.5, track_id=3)],
        [person(0, 0, 0.375, track_id=1), person(50, 0, 0.5, track_id=3), person(90, 0, 0.75, track_id=2)],
        [person(0, 0, 0.375, track_id=1)],
    ]
    out = link_persons(frames_of(rows), 2, "clip")
    assert out.shape == (2, 3, 17, 3)
    np.testing.assert_array_equal(out[:, :, 0, 2], [[0.375, 0.375, 0.375], [0.5, 0.5, 0.0]])
    assert not out[1, 2].any()  # id 3 is absent in frame 2: zeros
    assert link_persons(frames_of(rows), 5, "clip").shape[0] == 3


def test_low_scores_become_missing_joints_with_their_score_kept():
    p = person(10, 20, 0.875)
    p.keypoints[3, 2] = 0.25
    p.keypoints[4, 2] = 0.0
    out = link_persons(frames_of([[p]]), 2, "clip", min_score=0.3)
    np.testing.assert_array_equal(out[0, 0, 3], [0, 0, 0.25])
    np.testing.assert_array_equal(out[0, 0, 4], [0, 0, 0])
    np.testing.assert_array_equal(out[0, 0, 5], p.keypoints[5])
    kept = link_persons(frames_of([[p]]), 2, "clip")  # min_score 0: only the unfound joint 4 is missing
    np.testing.assert_array_equal(kept[0, 0, 3], p.keypoints[3])
    np.testing.assert_array_equal(kept[0, 0, 4], [0, 0, 0])


def test_no_person_and_mixed_layouts_are_errors():
    empty = [PoseFrame(t, [], None, f"f{t}") for t in range(3)]
    with pytest.raises(DataFormatError, match=r"clip: no person in any frame \(3 frames\)"):
        link_persons(empty, 2, "clip")
    wide = PersonPose(np.ones((25, 3), np.float32))
    mixed = frames_of([[person(0, 0, 0.5)]]) + [PoseFrame(1, [wide], "body25", "b.json")]
    with pytest.raises(DataFormatError, match=r"b.json: 25 keypoints \(layout body25\), but f0 has 17 \(layout coco"):
        link_persons(mixed, 2, "clip")
