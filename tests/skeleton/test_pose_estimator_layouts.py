"""The pose estimators' layouts against the tools' published keypoint tables, and their parts and mirrors."""
import re
from pathlib import Path

import numpy as np
import pytest

from pygkd.skeleton import PARTS, get_layout, joint_mapping

# As published: OpenPose doc/02_output.md and src/openpose/pose/poseParameters.cpp (POSE_BODY_25_BODY_PARTS,
# POSE_COCO_BODY_PARTS), the Halpe-FullBody README ("26 body keypoints"; its "Rknee" spelled RKnee here) and
# MediaPipe's PoseLandmark enum / Pose Landmarker model card.
BODY_25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip", "RKnee",
           "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
           "RBigToe", "RSmallToe", "RHeel"]
COCO_18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee", "RAnkle",
           "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"]
HALPE_26 = ["Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
            "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "Head", "Neck", "Hip", "LBigToe", "RBigToe",
            "LSmallToe", "RSmallToe", "LHeel", "RHeel"]
MEDIAPIPE_33 = ["NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE",
                "RIGHT_EYE_OUTER", "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER",
                "RIGHT_SHOULDER", "LEFT_ELBOW", "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY",
                "LEFT_INDEX", "RIGHT_INDEX", "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE",
                "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX",
                "RIGHT_FOOT_INDEX"]
ESTIMATORS = ["openpose18", "body25", "halpe26", "mediapipe33"]


def snake(name: str) -> str:
    """OpenPose/Halpe's ``LBigToe`` -> ``left_big_toe``; ``MidHip`` -> ``mid_hip``."""
    side = {"L": "left_", "R": "right_"}.get(name[0], "") if re.match(r"[LR][A-Z]", name) else ""
    rest = name[1:] if side else name
    return side + re.sub(r"(?<!^)([A-Z])", r"_\1", rest).lower()


@pytest.mark.parametrize(
    "name, published",
    [("body25", BODY_25), ("openpose18", COCO_18), ("halpe26", HALPE_26), ("mediapipe33", MEDIAPIPE_33)],
)
def test_joint_order_is_the_published_one(name, published):
    assert get_layout(name).joints == tuple(snake(j) if not j.isupper() else j.lower() for j in published)


def test_spot_checks_of_the_index_tables():
    body25, op18, halpe, mp = (get_layout(n) for n in ("body25", "openpose18", "halpe26", "mediapipe33"))
    assert (body25.joints[8], body25.joints[19], body25.joints[24]) == ("mid_hip", "left_big_toe", "right_heel")
    assert (op18.joints[1], op18.joints[8], op18.joints[17]) == ("neck", "right_hip", "left_ear")
    assert (halpe.joints[17], halpe.joints[18], halpe.joints[19]) == ("head", "neck", "hip")
    assert (mp.joints[2], mp.joints[9], mp.joints[31]) == ("left_eye", "mouth_left", "left_foot_index")


def test_supersets_of_coco17():
    coco = get_layout("coco17").joints
    assert set(get_layout("openpose18").joints) == set(coco) | {"neck"}
    assert get_layout("halpe26").joints[:17] == coco  # Halpe keeps COCO's order first
    for name in ("body25", "mediapipe33"):
        assert set(coco) <= set(get_layout(name).joints)


LIMB = {"shoulder": "arm", "elbow": "arm", "wrist": "arm", "pinky": "arm", "index": "arm", "thumb": "arm",
        "hip": "leg", "knee": "leg", "ankle": "leg", "heel": "leg", "big_toe": "leg", "small_toe": "leg",
        "foot_index": "leg"}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_parts_follow_the_trunk_rule(name):
    """Face and trunk joints (neck, mid-hip, head top) in part 0, shoulders in the arms, hips and feet in the legs."""
    layout = get_layout(name)
    for joint, part in zip(layout.joints, layout.part):
        side, _, rest = joint.partition("_")
        expected = f"{side}_{LIMB[rest]}" if side in ("left", "right") and rest in LIMB else "head"
        assert PARTS[part] == expected, joint


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_left_joint_is_mirrored_and_the_graph_is_connected(name):
    layout = get_layout(name)
    mirrored = {layout.joints[a]: layout.joints[b] for a, b in layout.mirror}
    lefts = [j for j in layout.joints if j.startswith("left_") or j.endswith("_left")]
    assert {j: mirrored[j] for j in lefts} == {j: j.replace("left", "right") for j in lefts}
    for a, b in layout.mirror:
        assert PARTS[layout.part[b]] == PARTS[layout.part[a]].replace("left", "right")
    assert int(layout.hop_distance().max()) < layout.num_joints  # every joint reachable from every joint
    assert len(layout.bones) == layout.num_joints - 1  # a tree: no bone twice, no cycle


def test_the_documented_tables_are_the_layouts_and_their_mappings():
    """docs/formats.md ("Pose-estimator layouts"): the joint-order table and the mapping table to coco17."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    section = doc.split("## Pose-estimator layouts", 1)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if re.match(r"\| \d+ ", line)]
    order, to_coco = rows[:33], rows[33:]
    code = {"H": "head", "LA": "left_arm", "RA": "right_arm", "LL": "left_leg", "RL": "right_leg"}
    for column, name in enumerate(ESTIMATORS, start=1):
        layout = get_layout(name)
        cells = [r[column].split()[:2] for r in order if r[column]]
        assert [j for j, _ in cells] == list(layout.joints)
        assert [code[p] for _, p in cells] == [PARTS[p] for p in layout.part]
        w = joint_mapping(name, "coco17").weights
        assert [int(r[column]) for r in to_coco] == [int(np.flatnonzero(row)[0]) for row in w]
