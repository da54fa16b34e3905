"""LQ synthesis: joint tables, face geometry and projection by hand; degradation statistics and ordering."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pygkd.data.lq_synthesis import (
    KINECT_V2_COLOR,
    SEVERITIES,
    Degradation,
    PinholeCamera,
    SynthesizeLQ,
    body_size,
    burst_mask,
    degrade,
    face_points,
    map_layout,
    synthesize_lq,
)
from pygkd.data.skeleton_data import SkeletonData
from pygkd.data.transforms import keypoints_of
from pygkd.skeleton import get_layout

NTU, COCO, PENN = get_layout("ntu25"), get_layout("coco17"), get_layout("penn13")


def upright_ntu() -> np.ndarray:
    """One person facing the camera 3 m away, ``[1, 1, 25, 3]``; its left is at -x (Kinect frame)."""
    joints = {
        "head": (0.0, 0.6, 3.0), "neck": (0.0, 0.4, 3.0), "spine_shoulder": (0.0, 0.35, 3.0),
        "spine_mid": (0.0, 0.1, 3.0), "spine_base": (0.0, -0.15, 3.0),
        "left_shoulder": (-0.2, 0.35, 3.0), "right_shoulder": (0.2, 0.35, 3.0),
        "left_elbow": (-0.25, 0.05, 3.0), "right_elbow": (0.25, 0.05, 3.0),
        "left_wrist": (-0.3, -0.2, 2.9), "right_wrist": (0.3, -0.2, 2.9),
        "left_hip": (-0.1, -0.2, 3.0), "right_hip": (0.1, -0.2, 3.0),
        "left_knee": (-0.1, -0.6, 3.0), "right_knee": (0.1, -0.6, 3.0),
        "left_ankle": (-0.1, -1.0, 3.0), "right_ankle": (0.1, -1.0, 3.0),
    }
    k = np.zeros((1, 1, 25, 3), np.float32)
    for name, xyz in joints.items():
        k[0, 0, NTU.index(name)] = xyz
    return k  # hands, hand tips, thumbs and feet are missing: COCO has none of them


def test_projection_of_a_known_point_by_hand():
    uv = KINECT_V2_COLOR.project(np.array([[0.5, 0.25, 2.5], [0.0, 0.0, 0.0], [0.1, 0.1, -1.0]]))
    # u = 959.5 + 1081.37 * 0.5 / 2.5, v = 539.5 - 1081.37 * 0.25 / 2.5
    np.testing.assert_allclose(uv[0], [1175.774, 431.363], atol=1e-3)
    assert not uv[1:].any()  # missing, and behind the camera
    np.testing.assert_allclose(PinholeCamera(100, 200, 10, 20).project(np.array([1.0, 1.0, 2.0])), [60, -80])


def test_ntu25_to_coco17_limbs_are_the_same_joints():
    k = upright_ntu()
    coco = map_layout(k, "ntu25", "coco17")
    assert coco.shape == (1, 1, 17, 3)
    for side in ("left", "right"):
        for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            name = f"{side}_{joint}"
            np.testing.assert_array_equal(coco[0, 0, COCO.index(name)], k[0, 0, NTU.index(name)])


def test_face_points_by_hand_in_3d():
    coco = map_layout(upright_ntu(), "ntu25", "coco17")[0, 0]
    # up (0, 1, 0); left (-1, 0, 0); facing l x u = (0, 0, -1), towards the camera; shoulder width 0.4
    np.testing.assert_allclose(coco[COCO.index("nose")], [0.0, 0.6 - 0.4 * 0.05, 3.0 - 0.4 * 0.28], atol=1e-6)
    np.testing.assert_allclose(coco[COCO.index("left_eye")], [-0.036, 0.608, 3.0 - 0.088], atol=1e-6)
    np.testing.assert_allclose(coco[COCO.index("left_ear")], [-0.084, 0.6, 3.0], atol=1e-6)
    np.testing.assert_allclose(coco[COCO.index("right_ear")], [0.084, 0.6, 3.0], atol=1e-6)


def test_face_points_in_2d_look_at_the_camera():
    head, neck = np.array([100.0, 50.0]), np.array([100.0, 90.0])
    ls, rs = np.array([140.0, 100.0]), np.array([60.0, 100.0])  # tilted shoulders do not tilt the face
    nose, left_ear = face_points(head, neck, ls, rs, ["nose", "left_ear"])
    width = np.hypot(80, 0)
    np.testing.assert_allclose(nose, head + width * 0.05 * np.array([0.0, 1.0]))  # up is -y in the image
    np.testing.assert_allclose(left_ear, head + width * 0.21 * np.array([1.0, 0.0]))


def test_penn13_neck_is_the_mid_shoulder_and_missing_joints_propagate():
    k = np.zeros((1, 2, 13, 2), np.float32)
    k[0, :, PENN.index("head")] = (100.0, 40.0)
    k[0, :, PENN.index("left_shoulder")] = (120.0, 100.0)
    k[0, :, PENN.index("right_shoulder")] = (80.0, 100.0)
    k[0, :, PENN.index("left_wrist")] = (130.0, 160.0)
    k[0, 1, PENN.index("head")] = 0.0  # missing head in frame 1
    coco = map_layout(k, "penn13", "coco17")
    # neck (100, 100), up (0, -1), width 40: the nose is 2 pixels below the head
    np.testing.assert_allclose(coco[0, 0, COCO.index("nose")], [100.0, 42.0], atol=1e-5)
    np.testing.assert_array_equal(coco[0, 0, COCO.index("left_wrist")], [130.0, 160.0])
    assert not coco[0, 1, :5].any()  # no head: no face
    assert not coco[0, :, COCO.index("right_wrist")].any()  # not annotated
    np.testing.assert_array_equal(coco[0, 1, COCO.index("left_shoulder")], [120.0, 100.0])


def test_other_tables_and_unknown_pairs():
    kinect = np.random.default_rng(0).uniform(1, 2, (1, 3, 20, 3))
    coco = map_layout(kinect, "kinect20", "coco17")
    k20 = get_layout("kinect20")
    np.testing.assert_allclose(coco[..., COCO.index("right_knee"), :], kinect[..., k20.index("right_knee"), :], 1e-6)
    ui = np.random.default_rng(1).uniform(1, 2, (1, 3, 22, 3))
    coco = map_layout(ui, "uiprmd_kinect22", "coco17")
    u22 = get_layout("uiprmd_kinect22")
    np.testing.assert_allclose(coco[..., 5, :], ui[..., u22.index("left_upper_arm"), :], 1e-6)  # left_shoulder
    np.testing.assert_allclose(coco[..., 15, :], ui[..., u22.index("left_foot"), :], 1e-6)  # left_ankle
    np.testing.assert_array_equal(map_layout(coco, "coco17", "coco17"), coco)
    with pytest.raises(KeyError, match="no joint table from layout 'coco17' to 'ntu25'"):
        map_layout(coco, "coco17", "ntu25")


def test_severity_none_only_maps_and_projects():
    k = upright_ntu()
    lq = synthesize_lq(k, "ntu25", np.random.default_rng(0), severity="none")
    assert lq.shape == (1, 1, 17, 3) and lq.dtype == np.float32
    wrist = KINECT_V2_COLOR.project(k[0, 0, NTU.index("left_wrist")])
    np.testing.assert_allclose(lq[0, 0, COCO.index("left_wrist"), :2], wrist, rtol=1e-6)
    np.testing.assert_array_equal(lq[..., 2], 1.0)


def test_body_size_is_the_median_box_diagonal():
    p = np.zeros((2, 3, 4, 2))
    p[0, :, 0], p[0, :, 1] = (10.0, 10.0), (40.0, 50.0)  # 30 x 40 box: 50
    p[0, 2, 1] = (70.0, 90.0)  # one larger frame does not move the median
    assert body_size(p).tolist() == [50.0, 0.0]


def test_burst_mask_rate_and_run_length():
    on = burst_mask(np.random.default_rng(0), (400, 200), rate=0.1, burst=4.0)
    starts = np.diff(np.pad(on.astype(int), ((0, 0), (1, 0))), axis=1) == 1
    assert abs(on.mean() - 0.1) < 0.01
    assert abs(on.sum() / starts.sum() - 4.0) < 0.25
    assert not burst_mask(np.random.default_rng(0), (3, 5), rate=0.0, burst=2.0).any()


def walking_pixels(frames: int = 60) -> np.ndarray:
    """True 2D COCO joints of two persons, ``[2, T, 17, 2]``, the second absent in the first 10 frames."""
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, (17, 2)) * (200, 500) + (800, 300)
    t = np.arange(frames)[:, None, None]
    person = base + 20 * np.sin(0.2 * t + rng.uniform(0, 6, (17, 1)))
    pixels = np.stack([person, person + (400, 0)])
    pixels[1, :10] = 0.0
    return pixels.astype(np.float32)


def error_stats(severity: str) -> tuple[float, float, float]:
    points = walking_pixels()
    out = degrade(points, "coco17", severity, np.random.default_rng(11))
    present = out[..., 2] > 0
    size = body_size(points)[:, None, None] * np.ones(present.shape)
    error = np.linalg.norm(out[..., :2] - points, axis=-1)[present] / size[present]
    truly_present = points.any(-1)
    return float(error.mean()), 1.0 - present.sum() / truly_present.sum(), float(out[..., 2][present].mean())


def test_errors_grow_with_severity():
    stats = [error_stats(s) for s in ("none", "mild", "moderate", "severe")]
    errors, missing, scores = zip(*stats)
    assert errors[0] < 1e-6 and missing[0] == 0.0 and scores[0] == 1.0  # float32 rounding only
    assert all(a < b for a, b in zip(errors, errors[1:]))
    assert all(a < b for a, b in zip(missing, missing[1:]))
    assert all(a > b for a, b in zip(scores, scores[1:]))


def test_degrade_keeps_absent_persons_absent_and_is_seeded():
    points = walking_pixels()
    a = degrade(points, "coco17", "severe", np.random.default_rng(3))
    assert a.shape == (2, 60, 17, 3)
    assert not a[1, :10].any()
    missing = ~a[..., :2].any(-1)
    assert np.array_equal(missing, a[..., 2] == 0)  # missing joints have score 0 and only those
    assert np.array_equal(a, degrade(points, "coco17", "severe", np.random.default_rng(3)))
    assert not np.array_equal(a, degrade(points, "coco17", "severe", np.random.default_rng(4)))


def test_swaps_exchange_left_and_right_exactly():
    points = walking_pixels()
    out = degrade(points, "coco17", Degradation(swap_rate=0.3, swap_burst=2.0), np.random.default_rng(0))
    left, right = COCO.index("left_wrist"), COCO.index("right_wrist")
    same = np.all(out[0, :, left, :2] == points[0, :, left], -1)
    swapped = np.all(out[0, :, left, :2] == points[0, :, right], -1)
    assert np.all(same ^ swapped) and 0 < swapped.sum() < 60
    np.testing.assert_array_equal(out[0, swapped, right, :2], points[0, swapped, left])
    assert np.all(out[0, swapped, left, 2] < 0.01 + 1e-6)  # a swap is a large error: low confidence
    np.testing.assert_array_equal(out[..., COCO.index("nose"), :2], points[..., COCO.index("nose"), :])


def test_bad_degradations():
    with pytest.raises(ValueError, match="miss_rate"):
        Degradation(miss_rate=0.7)
    with pytest.raises(ValueError, match="swap_burst"):
        Degradation(swap_burst=0.5)
    with pytest.raises(ValueError, match="unknown severity 'awful'"):
        degrade(walking_pixels(), "coco17", "awful", np.random.default_rng(0))
    assert set(SEVERITIES) == {"none", "mild", "moderate", "severe"}


def hq_graph(index: int) -> SkeletonData:
    k = np.repeat(upright_ntu(), 8, axis=1) + np.random.default_rng(index).normal(0, 0.01, (1, 8, 25, 3))
    data = SkeletonData.from_keypoints(k.astype(np.float32), "ntu25", 2, f"s{index}")
    data.index = torch.tensor([index])
    return data


def test_synthesize_lq_transform_is_fixed_per_sample():
    transform = SynthesizeLQ(severity="moderate", seed=0)
    out = transform(hq_graph(4))
    assert out.layout == "coco17" and out.x.shape == (17, 8, 3) and out.num_persons == 1
    assert out.edge_index.max() == 16 and out.part.tolist() == list(COCO.part)
    assert out.y.item() == 2 and out.index.item() == 4 and out.sample_id == "s4"
    assert torch.equal(transform(hq_graph(4)).x, out.x)
    other = hq_graph(4)
    other.index = torch.tensor([5])
    assert not torch.equal(transform(other).x, out.x)
    score = keypoints_of(out)[..., 2]
    assert score.min() >= 0 and score.max() <= 1 and score.lt(1).any()
    with pytest.raises(ValueError, match="unknown severity"):
        SynthesizeLQ(severity="awful")


def test_synthesize_lq_from_2d_drops_extra_channels():
    k = np.zeros((1, 4, 13, 3), np.float32)
    k[..., :2] = np.random.default_rng(0).uniform(100, 400, (1, 4, 13, 2))
    k[..., 2] = 1.0  # a visibility flag, not a depth
    lq = synthesize_lq(k, "penn13", np.random.default_rng(0), severity="none", source_dims=2)
    np.testing.assert_array_equal(lq[..., COCO.index("left_knee"), :2], k[..., PENN.index("left_knee"), :2])
    with pytest.raises(ValueError, match="source_dims"):
        synthesize_lq(k, "penn13", np.random.default_rng(0), source_dims=4)
