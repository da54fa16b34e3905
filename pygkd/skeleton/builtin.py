"""The built-in layouts. Joint orders follow each source's own file order (0-based).

Part letters in the tables: H head/trunk (axial skeleton), LA/RA left/right arm, LL/RL left/right leg.
The pose estimators' layouts (``openpose18``, ``body25``, ``halpe26``, ``mediapipe33``) give every point that
COCO-17 also has COCO's joint name, which is how :mod:`pygkd.skeleton.mapping` maps them onto each other.
"""
from __future__ import annotations

from .layout import Layout, register_layout

_PART_CODE = {"H": 0, "LA": 1, "RA": 2, "LL": 3, "RL": 4}


def _make(name: str, description: str, table: list[tuple[str, str]], bones, center: str, mirror=()) -> Layout:
    joints = tuple(j for j, _ in table)
    ix = {j: i for i, j in enumerate(joints)}
    return register_layout(
        Layout(
            name=name,
            joints=joints,
            bones=tuple((ix[a], ix[b]) for a, b in bones),
            center=ix[center],
            part=tuple(_PART_CODE[p] for _, p in table),
            mirror=tuple((ix[a], ix[b]) for a, b in mirror),
            description=description,
        )
    )


def _lr_pairs(joints) -> list[tuple[str, str]]:
    """(left_x, right_x) for every joint name with a left_ prefix whose right_ twin exists."""
    names = [j for j, _ in joints]
    return [(j, "right_" + j[5:]) for j in names if j.startswith("left_") and "right_" + j[5:] in names]


_NTU25 = [
    ("spine_base", "H"), ("spine_mid", "H"), ("neck", "H"), ("head", "H"),
    ("left_shoulder", "LA"), ("left_elbow", "LA"), ("left_wrist", "LA"), ("left_hand", "LA"),
    ("right_shoulder", "RA"), ("right_elbow", "RA"), ("right_wrist", "RA"), ("right_hand", "RA"),
    ("left_hip", "LL"), ("left_knee", "LL"), ("left_ankle", "LL"), ("left_foot", "LL"),
    ("right_hip", "RL"), ("right_knee", "RL"), ("right_ankle", "RL"), ("right_foot", "RL"),
    ("spine_shoulder", "H"), ("left_hand_tip", "LA"), ("left_thumb", "LA"),
    ("right_hand_tip", "RA"), ("right_thumb", "RA"),
]
NTU25 = _make(
    "ntu25",
    "Kinect v2 (NTU RGB+D, NTU-120), 25 joints; hand tip and thumb hang on the hand",
    _NTU25,
    [
        ("spine_base", "spine_mid"), ("spine_mid", "spine_shoulder"), ("neck", "spine_shoulder"),
        ("head", "neck"), ("left_shoulder", "spine_shoulder"), ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"), ("left_hand", "left_wrist"), ("right_shoulder", "spine_shoulder"),
        ("right_elbow", "right_shoulder"), ("right_wrist", "right_elbow"), ("right_hand", "right_wrist"),
        ("left_hip", "spine_base"), ("left_knee", "left_hip"), ("left_ankle", "left_knee"),
        ("left_foot", "left_ankle"), ("right_hip", "spine_base"), ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"), ("right_foot", "right_ankle"), ("left_hand_tip", "left_hand"),
        ("left_thumb", "left_hand"), ("right_hand_tip", "right_hand"), ("right_thumb", "right_hand"),
    ],
    center="spine_shoulder",
    mirror=_lr_pairs(_NTU25),
)

_KINECT20 = [
    ("hip_center", "H"), ("spine", "H"), ("shoulder_center", "H"), ("head", "H"),
    ("left_shoulder", "LA"), ("left_elbow", "LA"), ("left_wrist", "LA"), ("left_hand", "LA"),
    ("right_shoulder", "RA"), ("right_elbow", "RA"), ("right_wrist", "RA"), ("right_hand", "RA"),
    ("left_hip", "LL"), ("left_knee", "LL"), ("left_ankle", "LL"), ("left_foot", "LL"),
    ("right_hip", "RL"), ("right_knee", "RL"), ("right_ankle", "RL"), ("right_foot", "RL"),
]
KINECT20 = _make(
    "kinect20",
    "Kinect v1 SDK order, 20 joints (SYSU 3D HOI; MSR Action3D is reordered to it by its reader)",
    _KINECT20,
    [
        ("hip_center", "spine"), ("spine", "shoulder_center"), ("shoulder_center", "head"),
        ("shoulder_center", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("left_wrist", "left_hand"), ("shoulder_center", "right_shoulder"), ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"), ("right_wrist", "right_hand"), ("hip_center", "left_hip"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_foot"),
        ("hip_center", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("right_ankle", "right_foot"),
    ],
    center="shoulder_center",
    mirror=_lr_pairs(_KINECT20),
)

_COCO17 = [
    ("nose", "H"), ("left_eye", "H"), ("right_eye", "H"), ("left_ear", "H"), ("right_ear", "H"),
    ("left_shoulder", "LA"), ("right_shoulder", "RA"), ("left_elbow", "LA"), ("right_elbow", "RA"),
    ("left_wrist", "LA"), ("right_wrist", "RA"), ("left_hip", "LL"), ("right_hip", "RL"),
    ("left_knee", "LL"), ("right_knee", "RL"), ("left_ankle", "LL"), ("right_ankle", "RL"),
]
COCO17 = _make(
    "coco17",
    "COCO keypoints, 17 joints (PifPaf, HRNet, OpenPose-COCO order of MMPose/PYSKL)",
    _COCO17,
    [
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
        ("nose", "left_shoulder"), ("nose", "right_shoulder"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ],
    center="nose",
    mirror=_lr_pairs(_COCO17),
)

_PENN13 = [
    ("head", "H"), ("left_shoulder", "LA"), ("right_shoulder", "RA"), ("left_elbow", "LA"),
    ("right_elbow", "RA"), ("left_wrist", "LA"), ("right_wrist", "RA"), ("left_hip", "LL"),
    ("right_hip", "RL"), ("left_knee", "LL"), ("right_knee", "RL"), ("left_ankle", "LL"), ("right_ankle", "RL"),
]
PENN13 = _make(
    "penn13",
    "Penn Action human annotation, 13 joints (labels/*.mat order)",
    _PENN13,
    [
        ("head", "left_shoulder"), ("head", "right_shoulder"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
    ],
    center="head",
    mirror=_lr_pairs(_PENN13),
)

_UIPRMD_KINECT22 = [
    ("waist", "H"), ("spine", "H"), ("chest", "H"), ("neck", "H"), ("head", "H"), ("head_tip", "H"),
    ("left_collar", "LA"), ("left_upper_arm", "LA"), ("left_forearm", "LA"), ("left_hand", "LA"),
    ("right_collar", "RA"), ("right_upper_arm", "RA"), ("right_forearm", "RA"), ("right_hand", "RA"),
    ("left_upper_leg", "LL"), ("left_lower_leg", "LL"), ("left_foot", "LL"), ("left_toes", "LL"),
    ("right_upper_leg", "RL"), ("right_lower_leg", "RL"), ("right_foot", "RL"), ("right_toes", "RL"),
]
_UIPRMD_KINECT22_PARENT = [None, 0, 1, 2, 3, 4, 2, 6, 7, 8, 2, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20]
UIPRMD_KINECT22 = _make(
    "uiprmd_kinect22",
    "UI-PRMD Kinect v2 skeleton, 22 joints (dataset file order; bones = its parent chain)",
    _UIPRMD_KINECT22,
    [(_UIPRMD_KINECT22[c][0], _UIPRMD_KINECT22[p][0]) for c, p in enumerate(_UIPRMD_KINECT22_PARENT) if p is not None],
    center="chest",
    mirror=_lr_pairs(_UIPRMD_KINECT22),
)

# Vicon Plug-in-Gait full-body marker set: the 4/5/7/7/4/6/6 grouping measured in ui_prmd/README.txt is
# exactly PiG's head / torso / left arm / right arm / pelvis / left leg / right leg marker order.
_UIPRMD_VICON39 = [
    ("LFHD", "H"), ("RFHD", "H"), ("LBHD", "H"), ("RBHD", "H"),
    ("C7", "H"), ("T10", "H"), ("CLAV", "H"), ("STRN", "H"), ("RBAK", "H"),
    ("left_shoulder", "LA"), ("left_upper_arm", "LA"), ("left_elbow", "LA"), ("left_forearm", "LA"),
    ("left_wrist_a", "LA"), ("left_wrist_b", "LA"), ("left_finger", "LA"),
    ("right_shoulder", "RA"), ("right_upper_arm", "RA"), ("right_elbow", "RA"), ("right_forearm", "RA"),
    ("right_wrist_a", "RA"), ("right_wrist_b", "RA"), ("right_finger", "RA"),
    ("LASI", "H"), ("RASI", "H"), ("LPSI", "H"), ("RPSI", "H"),
    ("left_thigh", "LL"), ("left_knee", "LL"), ("left_tibia", "LL"), ("left_ankle", "LL"),
    ("left_heel", "LL"), ("left_toe", "LL"),
    ("right_thigh", "RL"), ("right_knee", "RL"), ("right_tibia", "RL"), ("right_ankle", "RL"),
    ("right_heel", "RL"), ("right_toe", "RL"),
]


def _limb(side: str, names: list[str]) -> list[tuple[str, str]]:
    chain = [f"{side}_{n}" for n in names]
    return list(zip(chain[:-1], chain[1:]))


UIPRMD_VICON39 = _make(
    "uiprmd_vicon39",
    "UI-PRMD Vicon optical markers, 39 points (Plug-in-Gait full-body order)",
    _UIPRMD_VICON39,
    [
        ("LFHD", "RFHD"), ("LFHD", "LBHD"), ("RFHD", "RBHD"), ("LBHD", "RBHD"), ("LBHD", "C7"), ("RBHD", "C7"),
        ("C7", "T10"), ("C7", "CLAV"), ("CLAV", "STRN"), ("C7", "RBAK"), ("T10", "LPSI"), ("T10", "RPSI"),
        ("LASI", "RASI"), ("LASI", "LPSI"), ("RASI", "RPSI"), ("LPSI", "RPSI"),
        ("CLAV", "left_shoulder"), ("CLAV", "right_shoulder"), ("LASI", "left_thigh"), ("RASI", "right_thigh"),
        *[
            bone
            for side in ("left", "right")
            for bone in (
                _limb(side, ["shoulder", "upper_arm", "elbow", "forearm", "wrist_a", "wrist_b"])
                + [(f"{side}_wrist_a", f"{side}_finger")]
                + _limb(side, ["thigh", "knee", "tibia", "ankle", "heel"])
                + [(f"{side}_ankle", f"{side}_toe")]
            )
        ],
    ],
    center="C7",
    mirror=_lr_pairs(_UIPRMD_VICON39) + [("LFHD", "RFHD"), ("LBHD", "RBHD"), ("LASI", "RASI"), ("LPSI", "RPSI")],
)


# OpenPose: joint orders of POSE_COCO_BODY_PARTS and POSE_BODY_25_BODY_PARTS in OpenPose's
# src/openpose/pose/poseParameters.cpp, as listed in doc/02_output.md ("Keypoint Ordering in C++/Python"). The
# bones are OpenPose's part pairs (POSE_BODY_PART_PAIRS) without the ear-shoulder pairs, which its part
# affinity fields use but which are no bones.
_OPENPOSE18 = [
    ("nose", "H"), ("neck", "H"), ("right_shoulder", "RA"), ("right_elbow", "RA"), ("right_wrist", "RA"),
    ("left_shoulder", "LA"), ("left_elbow", "LA"), ("left_wrist", "LA"), ("right_hip", "RL"), ("right_knee", "RL"),
    ("right_ankle", "RL"), ("left_hip", "LL"), ("left_knee", "LL"), ("left_ankle", "LL"), ("right_eye", "H"),
    ("left_eye", "H"), ("right_ear", "H"), ("left_ear", "H"),
]
_FACE = [("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"), ("left_eye", "left_ear")]
_UPPER_BODY = [("neck", "nose"), *[b for s in ("left", "right") for b in _limb(s, ["shoulder", "elbow", "wrist"])],
                  ("neck", "left_shoulder"), ("neck", "right_shoulder")]
_LEGS = [b for s in ("left", "right") for b in _limb(s, ["hip", "knee", "ankle"])]
OPENPOSE18 = _make(
    "openpose18",
    "OpenPose COCO-18 (POSE_COCO_BODY_PARTS, doc/02_output.md): COCO-17 plus the neck, in OpenPose's own order",
    _OPENPOSE18,
    [*_UPPER_BODY, ("neck", "left_hip"), ("neck", "right_hip"), *_LEGS, *_FACE],
    center="neck",
    mirror=_lr_pairs(_OPENPOSE18),
)

_BODY25 = [
    *_OPENPOSE18[:8], ("mid_hip", "H"), ("right_hip", "RL"), ("right_knee", "RL"), ("right_ankle", "RL"),
    ("left_hip", "LL"), ("left_knee", "LL"), ("left_ankle", "LL"), ("right_eye", "H"), ("left_eye", "H"),
    ("right_ear", "H"), ("left_ear", "H"), ("left_big_toe", "LL"), ("left_small_toe", "LL"), ("left_heel", "LL"),
    ("right_big_toe", "RL"), ("right_small_toe", "RL"), ("right_heel", "RL"),
]
_FEET = [
    b for s in ("left", "right") for b in _limb(s, ["ankle", "big_toe", "small_toe"]) + [(f"{s}_ankle", f"{s}_heel")]
]
BODY25 = _make(
    "body25",
    "OpenPose BODY_25 (POSE_BODY_25_BODY_PARTS, doc/02_output.md): COCO-17, neck, mid-hip and three points per foot",
    _BODY25,
    [*_UPPER_BODY, ("neck", "mid_hip"), ("mid_hip", "left_hip"), ("mid_hip", "right_hip"), *_LEGS, *_FACE,
     *_FEET],
    center="neck",
    mirror=_lr_pairs(_BODY25),
)

# AlphaPose Halpe-26: the 26 body keypoints of the Halpe-FullBody README ("Keypoints format"), the body part of
# AlphaPose's halpe26 and halpe136 models. "head" is the top of the head, "hip" the pelvis centre.
_HALPE26 = [
    *_COCO17, ("head", "H"), ("neck", "H"), ("hip", "H"), ("left_big_toe", "LL"), ("right_big_toe", "RL"),
    ("left_small_toe", "LL"), ("right_small_toe", "RL"), ("left_heel", "LL"), ("right_heel", "RL"),
]
HALPE26 = _make(
    "halpe26",
    "AlphaPose Halpe-26 (Halpe-FullBody README): COCO-17 order, then head top, neck, hip centre and the feet",
    _HALPE26,
    [("neck", "head"), *_UPPER_BODY, ("neck", "hip"), ("hip", "left_hip"), ("hip", "right_hip"), *_LEGS,
     *_FACE, *_FEET],
    center="neck",
    mirror=_lr_pairs(_HALPE26),
)

# MediaPipe / BlazePose: the 33 landmarks of the Pose Landmarker model, in the order of
# https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker ("Pose landmarker model") and of the
# PoseLandmark enum of mediapipe.python.solutions.pose. Bones follow its POSE_CONNECTIONS, made a tree like
# coco17's (nose to shoulders, shoulders to hips) and joining the mouth to the nose.
_MEDIAPIPE33 = [
    ("nose", "H"), ("left_eye_inner", "H"), ("left_eye", "H"), ("left_eye_outer", "H"), ("right_eye_inner", "H"),
    ("right_eye", "H"), ("right_eye_outer", "H"), ("left_ear", "H"), ("right_ear", "H"), ("mouth_left", "H"),
    ("mouth_right", "H"),
    *[(f"{s}_{j}", f"{s[0].upper()}A") for j in ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
      for s in ("left", "right")],
    *[(f"{s}_{j}", f"{s[0].upper()}L") for j in ("hip", "knee", "ankle", "heel", "foot_index")
      for s in ("left", "right")],
]
MEDIAPIPE33 = _make(
    "mediapipe33",
    "MediaPipe Pose Landmarker (BlazePose), 33 landmarks in MediaPipe's order",
    _MEDIAPIPE33,
    [
        *[b for s in ("left", "right") for b in _limb(s, ["eye_inner", "eye", "eye_outer", "ear"])],
        ("nose", "left_eye_inner"), ("nose", "right_eye_inner"), ("nose", "mouth_left"), ("nose", "mouth_right"),
        ("nose", "left_shoulder"), ("nose", "right_shoulder"),
        *[b for s in ("left", "right") for b in _limb(s, ["shoulder", "elbow", "wrist", "pinky"])
          + [(f"{s}_wrist", f"{s}_index"), (f"{s}_wrist", f"{s}_thumb"), (f"{s}_shoulder", f"{s}_hip")]
          + _limb(s, ["hip", "knee", "ankle", "heel"]) + [(f"{s}_ankle", f"{s}_foot_index")]],
    ],
    center="nose",
    mirror=_lr_pairs(_MEDIAPIPE33) + [("mouth_left", "mouth_right")],
)
