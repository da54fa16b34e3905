"""Joint mappings between layouts: hand-written keypoints and index tables, missing joints, scores, errors."""
import numpy as np
import pytest

from pygkd.skeleton import LayoutError, get_layout, joint_mapping, map_keypoints

# coco17 index <- openpose18 index, read off the two published tables (COCO: nose, l/r eye, l/r ear, l/r
# shoulder, ...; OpenPose COCO-18: nose, neck, r shoulder, r elbow, r wrist, l shoulder, ...).
COCO_FROM_OPENPOSE18 = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
OP18_NECK, OP18_RSHOULDER, OP18_LSHOULDER = 1, 2, 5
COCO_LSHOULDER, COCO_RSHOULDER = 5, 6


def keypoints(v: int, m: int = 1, t: int = 2, seed: int = 0) -> np.ndarray:
    """``[M, T, V, 3]`` (x, y, score) with every joint present, distinct coordinates and scores in (0.2, 1)."""
    rng = np.random.default_rng(seed)
    k = np.concatenate([rng.uniform(10, 500, (m, t, v, 2)), rng.uniform(0.2, 1.0, (m, t, v, 1))], axis=-1)
    return k.astype(np.float32)


def test_openpose18_to_coco17_drops_the_neck():
    k = keypoints(18)
    out = map_keypoints(k, joint_mapping("openpose18", "coco17"), score=True)
    np.testing.assert_array_equal(out, k[:, :, COCO_FROM_OPENPOSE18])  # copied joints keep value and score


def test_coco17_to_openpose18_computes_the_neck_from_the_shoulders():
    k = keypoints(17)
    out = map_keypoints(k, joint_mapping("coco17", "openpose18"), score=True)
    np.testing.assert_array_equal(out[:, :, COCO_FROM_OPENPOSE18], k)
    ls, rs = k[:, :, COCO_LSHOULDER], k[:, :, COCO_RSHOULDER]
    np.testing.assert_allclose(out[:, :, OP18_NECK, :2], (ls[..., :2] + rs[..., :2]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(out[:, :, OP18_NECK, 2], np.minimum(ls[..., 2], rs[..., 2]))


def test_round_trip_coco17_openpose18_coco17_is_the_identity():
    k = keypoints(17, m=2, t=3)
    k[1, 2, 9] = 0  # a missing left wrist stays missing
    there = map_keypoints(k, joint_mapping("coco17", "openpose18"), score=True)
    np.testing.assert_array_equal(map_keypoints(there, joint_mapping("openpose18", "coco17"), score=True), k)


def test_missing_sources_propagate_and_zero_every_channel():
    k = keypoints(17, t=3)
    k[0, 0, COCO_LSHOULDER, 2] = 0.0  # frame 0: left shoulder seen, but score 0
    k[0, 1, COCO_RSHOULDER, :2] = 0.0  # frame 1: right shoulder at (0, 0) with a score: missing too
    out = map_keypoints(k, joint_mapping("coco17", "openpose18"), score=True)
    assert not out[0, 0, OP18_NECK].any() and not out[0, 0, OP18_LSHOULDER].any()
    assert not out[0, 1, OP18_NECK].any() and not out[0, 1, OP18_RSHOULDER].any()
    np.testing.assert_array_equal(out[0, 1, OP18_LSHOULDER], k[0, 1, COCO_LSHOULDER])
    assert out[0, 2, OP18_NECK, 2] > 0  # frame 2 intact


def test_without_a_score_channel_every_channel_is_a_coordinate():
    k = keypoints(17)
    k[..., 2] = 0.0  # e.g. z = 0: a coordinate, not a score
    out = map_keypoints(k, joint_mapping("coco17", "openpose18"), score=False)
    np.testing.assert_allclose(out[0, 0, OP18_NECK], (k[0, 0, COCO_LSHOULDER] + k[0, 0, COCO_RSHOULDER]) / 2)


def test_a_joint_the_source_has_is_copied_not_computed():
    body25 = get_layout("body25")
    k = keypoints(25)
    out = map_keypoints(k, joint_mapping("body25", "openpose18"), score=True)
    np.testing.assert_array_equal(out[:, :, OP18_NECK], k[:, :, body25.index("neck")])  # not the shoulders' mean
    assert not np.allclose(out[0, 0, OP18_NECK, :2], k[0, 0, [2, 5], :2].mean(0))


def test_halpe26_to_body25_copies_the_feet_and_computes_the_mid_hip():
    k = keypoints(26)
    out = map_keypoints(k, joint_mapping("halpe26", "body25"), score=True)
    # body25 19..24 = l big toe, l small toe, l heel, r big toe, r small toe, r heel; halpe26 20..25 = l/r big
    # toe, l/r small toe, l/r heel
    np.testing.assert_array_equal(out[:, :, 19:25], k[:, :, [20, 22, 24, 21, 23, 25]])
    np.testing.assert_allclose(out[:, :, 8, :2], (k[:, :, 11, :2] + k[:, :, 12, :2]) / 2, rtol=1e-6)  # hips 11, 12


def test_mediapipe33_to_coco17_takes_the_eye_centres():
    k = keypoints(33)
    out = map_keypoints(k, joint_mapping("mediapipe33", "coco17"), score=True)
    # coco17 <- mediapipe33: nose 0, eyes 2 and 5 (not the corners), ears 7, 8, then shoulders ... ankles 11..28
    np.testing.assert_array_equal(out, k[:, :, [0, 2, 5, 7, 8, *range(11, 17), *range(23, 29)]])


def test_mapping_data_rows_sum_to_one_and_a_layout_maps_onto_itself():
    for source, target in [("body25", "coco17"), ("coco17", "openpose18"), ("halpe26", "body25")]:
        w = joint_mapping(source, target).weights
        assert w.shape == (get_layout(target).num_joints, get_layout(source).num_joints)
        np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_array_equal(joint_mapping("body25", "body25").weights, np.eye(25))


@pytest.mark.parametrize(
    "source, target, message",
    [
        ("coco17", "body25", r"body25's joints \['left_big_toe', 'left_small_toe', 'left_heel', 'right_big_toe', "
                             r"'right_small_toe', 'right_heel'\] cannot be made from coco17's"),
        ("coco17", "halpe26", r"halpe26's joints \['head', 'left_big_toe'"),
        ("mediapipe33", "body25", r"\['left_big_toe', 'left_small_toe', 'right_big_toe', 'right_small_toe'\]"),
        ("ntu25", "coco17", r"'ntu25' does not name the COCO keypoints \['left_ear', 'left_eye', 'nose'"),
        ("coco17", "penn13", r"'penn13' does not name"),
    ],
)
def test_an_impossible_mapping_names_what_cannot_be_made(source, target, message):
    with pytest.raises(LayoutError, match=message):
        joint_mapping(source, target)


def test_keypoints_of_another_layout_are_refused():
    with pytest.raises(ValueError, match=r"expected keypoints \[M, T, 17, C\] of layout 'coco17', got shape"):
        map_keypoints(keypoints(18), joint_mapping("coco17", "openpose18"), score=True)
