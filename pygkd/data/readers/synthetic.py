r"""A synthetic action dataset whose classes are defined by known body parts, generated on the fly.

It lets the whole pipeline run from a fresh clone with no data, and checks the part matrix against a known
answer (:data:`ACTIONS`): ``stand`` moves no part of its own, and every other class moves exactly one
part, two classes per part (nod and tilt for the head, wave and punch for each arm, side kick and stomp
for each leg), while every part carries nuisance motion shared by all classes. A defining part is thus the
only evidence of its class, and hiding it leaves a sample that looks like ``stand`` or like its part's
other class, so the occlusion study of Eq. 12 can find exactly the defining part. (A class moving two
parts would be recognised from either alone, so occluding one part at a time could not find it; and with
one class per part and no ``stand``, a hidden part with every other part at rest would still name it.)

Every sample is one person drawn from a kinematic body model (Kinect-v2 25-joint skeleton, :func:`pose_joints`):

* body: height scale U(0.85, 1.15) and per-segment lengths x U(0.95, 1.05);
* action: the class's motion at a speed x U(0.75, 1.33) of its base frequency, amplitude x U(0.8, 1.2),
  random phase, faded in and out at random times;
* nuisance: every joint angle of every part drifts by two slow random sinusoids (a few degrees), the
  trunk sways and the pelvis wanders by a few centimetres;
* view: facing the camera +- 40 degrees, 2.6-3.8 m away, +-0.5 m sideways, camera 0.9-1.2 m above the floor.

Streams: ``hq`` = ``ntu25`` (x, y, z) metres in the Kinect camera frame with 4 mm sensor noise; ``lq`` =
``coco17`` (x, y, score) pixels, simulated from ``hq`` by :func:`pygkd.data.lq_synthesis.synthesize_lq` at
the chosen severity. Splits ``train`` and ``test``. Everything is drawn from
``default_rng([seed, sample_index, salt])``: the same seed gives the same dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ...skeleton import get_layout
from ..lq_synthesis import degradation, synthesize_lq
from ..raw import RawDataset, RawSample, StreamInfo

FPS = 30.0
SIDES = (("left", 1.0), ("right", -1.0))  # sign of the body-frame x axis (x points to the person's left)
_SALT_BODY, _SALT_LQ = 11, 12

Pose = dict[str, np.ndarray]
"""Joint angles in degrees over frames, ``[T]`` each: ``neck_pitch``, ``neck_roll``, ``lean_pitch``,
``lean_roll`` and, per side, ``{side}_{segment}_{abd|flex}`` for the segments upper_arm, forearm, thigh,
shank. A segment hangs straight down at (0, 0); ``abd`` swings it out sideways, ``flex`` forward."""

REST_POSE: dict[str, float] = {
    "neck_pitch": 0.0, "neck_roll": 0.0, "lean_pitch": 0.0, "lean_roll": 0.0,
    **{f"{s}_{k}": v for s, _ in SIDES for k, v in {
        "upper_arm_abd": 8.0, "upper_arm_flex": 0.0, "forearm_abd": 8.0, "forearm_flex": 12.0,
        "thigh_abd": 3.0, "thigh_flex": 0.0, "shank_abd": 3.0, "shank_flex": -2.0,
    }.items()},
}

NUISANCE_DEG: dict[str, float] = {
    "neck": 2.0, "lean": 1.5, "upper_arm": 3.0, "forearm": 4.0, "thigh": 2.0, "shank": 3.0,
}
"""Largest amplitude of each of the two nuisance sinusoids of an angle, by angle group."""

# Segment lengths and offsets (metres) of a 1.75 m adult, body frame: x left, y up, z forward.
_LENGTH = {"upper_arm": 0.29, "forearm": 0.25, "hand": 0.08, "hand_tip": 0.07, "thigh": 0.43, "shank": 0.42,
           "foot": 0.13, "ankle_height": 0.07}
_SPINE_MID, _SPINE_SHOULDER = np.array([0.0, 0.25, 0.0]), np.array([0.0, 0.48, 0.0])
_NECK, _HEAD = np.array([0.0, 0.07, 0.0]), np.array([0.0, 0.22, 0.02])  # from spine_shoulder
_SHOULDER, _HIP = np.array([0.17, -0.02, 0.0]), np.array([0.09, -0.06, 0.0])  # left side; x mirrored for right


def _rot_x(deg: np.ndarray) -> np.ndarray:
    """``[T]`` degrees -> ``[T, 3, 3]``; positive tips +y towards +z (forward)."""
    a = np.radians(deg)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)


def _rot_z(deg: np.ndarray) -> np.ndarray:
    """``[T]`` degrees -> ``[T, 3, 3]``; positive tips +y towards -x."""
    a = np.radians(deg)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def segment_direction(abd: np.ndarray, flex: np.ndarray, side: float) -> np.ndarray:
    r"""Unit direction ``[T, 3]`` of a segment that hangs down at (0, 0), swung out sideways by ``abd``
    and then forward by ``flex`` degrees: :math:`(\pm\sin a,\ -\cos a \cos f,\ \cos a \sin f)`."""
    a, f = np.radians(abd), np.radians(flex)
    return np.stack([side * np.sin(a), -np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)], -1)


def pose_joints(pose: Pose, lengths: dict[str, float], scale: float) -> np.ndarray:
    """Forward kinematics: joint angles -> ``ntu25`` joints ``[T, 25, 3]`` in the body frame (metres, x to
    the person's left, y up, z forward, floor at y = 0, the pelvis ``spine_base`` above the origin); the
    lower foot stands on the floor. ``lengths`` are this body's segment lengths (metres) and ``scale`` its
    size relative to the 1.75 m model, applied to the trunk, shoulder and hip offsets."""
    ntu = get_layout("ntu25")
    t = len(pose["neck_pitch"])
    out = np.zeros((t, ntu.num_joints, 3))

    def put(name: str, points: np.ndarray) -> None:
        out[:, ntu.index(name)] = points

    def mirrored(offset: np.ndarray, side: float) -> np.ndarray:
        return offset * np.array([side, 1.0, 1.0]) * scale

    # Legs first: their reach below the pelvis sets the pelvis height.
    depth = []
    for side, sign in SIDES:
        thigh = segment_direction(pose[f"{side}_thigh_abd"], pose[f"{side}_thigh_flex"], sign)
        shank = segment_direction(pose[f"{side}_shank_abd"], pose[f"{side}_shank_flex"], sign)
        foot = segment_direction(pose[f"{side}_shank_abd"], pose[f"{side}_shank_flex"] + 90.0, sign)
        hip = mirrored(_HIP, side=sign)
        knee = hip + lengths["thigh"] * thigh
        ankle = knee + lengths["shank"] * shank
        for name, points in (("hip", hip), ("knee", knee), ("ankle", ankle), ("foot", ankle + lengths["foot"] * foot)):
            put(f"{side}_{name}", points)
        depth.append(-ankle[:, 1] + lengths["ankle_height"])
    pelvis = np.zeros((t, 3))
    pelvis[:, 1] = np.maximum(*depth)

    # Upper body in the trunk frame, then leaned about the pelvis.
    neck_rot = _rot_x(pose["neck_pitch"]) @ _rot_z(pose["neck_roll"])
    upper = {"spine_mid": np.broadcast_to(_SPINE_MID * scale, (t, 3)),
             "spine_shoulder": np.broadcast_to(_SPINE_SHOULDER * scale, (t, 3))}
    upper["neck"] = upper["spine_shoulder"] + neck_rot @ (_NECK * scale)
    upper["head"] = upper["spine_shoulder"] + neck_rot @ (_HEAD * scale)
    for side, sign in SIDES:
        arm = segment_direction(pose[f"{side}_upper_arm_abd"], pose[f"{side}_upper_arm_flex"], sign)
        fore = segment_direction(pose[f"{side}_forearm_abd"], pose[f"{side}_forearm_flex"], sign)
        shoulder = upper["spine_shoulder"] + mirrored(_SHOULDER, side=sign)
        wrist = shoulder + lengths["upper_arm"] * arm + lengths["forearm"] * fore
        hand = wrist + lengths["hand"] * fore
        upper[f"{side}_shoulder"] = shoulder
        upper[f"{side}_elbow"] = shoulder + lengths["upper_arm"] * arm
        upper[f"{side}_wrist"], upper[f"{side}_hand"] = wrist, hand
        upper[f"{side}_hand_tip"] = hand + lengths["hand_tip"] * fore
        upper[f"{side}_thumb"] = hand + 0.5 * lengths["hand_tip"] * fore + np.array([0.0, 0.0, 0.03]) * scale
    lean = _rot_x(pose["lean_pitch"]) @ _rot_z(pose["lean_roll"])
    for name, points in upper.items():
        put(name, np.einsum("tij,tj->ti", lean, points))
    return out + pelvis[:, None]


def _ramp(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _blend(pose: Pose, angle: str, target: np.ndarray | float, env: np.ndarray) -> None:
    pose[angle] = pose[angle] + env * (target - pose[angle])


Move = Callable[[Pose, np.ndarray, np.ndarray, float], None]
"""``move(pose, phase [T] radians, envelope [T] in 0..1, amplitude scale)`` adds a class's motion to ``pose``."""


def _stand(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
    """No motion of its own: only the nuisance shared by all classes."""


def _nod(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
    pose["neck_pitch"] = pose["neck_pitch"] + env * amp * (10.0 + 35.0 * np.sin(phase))


def _tilt_head(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
    pose["neck_roll"] = pose["neck_roll"] + env * amp * 30.0 * np.sin(phase)


def _wave(side: str) -> Move:
    def move(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
        _blend(pose, f"{side}_upper_arm_abd", 100.0, env)
        _blend(pose, f"{side}_upper_arm_flex", 10.0, env)
        _blend(pose, f"{side}_forearm_abd", 160.0 + amp * 30.0 * np.sin(phase), env)
        _blend(pose, f"{side}_forearm_flex", 0.0, env)

    return move


def _punch(side: str) -> Move:
    def move(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
        reach = amp * np.maximum(np.sin(phase), 0) ** 2  # from a guard at the chin to a straight arm
        _blend(pose, f"{side}_upper_arm_abd", 15.0, env)
        _blend(pose, f"{side}_upper_arm_flex", 30.0 + 55.0 * reach, env)
        _blend(pose, f"{side}_forearm_abd", -10.0, env)
        _blend(pose, f"{side}_forearm_flex", 130.0 - 40.0 * reach, env)

    return move


def _kick(side: str) -> Move:
    def move(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
        lift = env * amp * np.maximum(np.sin(phase), 0) ** 2  # a straight leg swung out sideways
        for segment in ("thigh", "shank"):
            pose[f"{side}_{segment}_abd"] = pose[f"{side}_{segment}_abd"] + 55.0 * lift

    return move


def _stomp(side: str) -> Move:
    def move(pose: Pose, phase: np.ndarray, env: np.ndarray, amp: float) -> None:
        knee = env * amp * 70.0 * np.maximum(np.sin(phase), 0) ** 2  # knee up, shank hanging back, stamp
        pose[f"{side}_thigh_flex"] = pose[f"{side}_thigh_flex"] + knee
        pose[f"{side}_shank_flex"] = pose[f"{side}_shank_flex"] - 0.3 * knee

    return move


@dataclass(frozen=True)
class SyntheticAction:
    """One class: its name, the body parts that define it, its base frequency (Hz) and how it moves them."""

    name: str
    parts: tuple[str, ...]
    hz: float
    move: Move


ACTIONS: tuple[SyntheticAction, ...] = (
    SyntheticAction("stand", (), 1.0, _stand),
    SyntheticAction("nod", ("head",), 1.0, _nod),
    SyntheticAction("tilt_head", ("head",), 0.8, _tilt_head),
    SyntheticAction("wave_left_arm", ("left_arm",), 1.6, _wave("left")),
    SyntheticAction("punch_left_arm", ("left_arm",), 1.2, _punch("left")),
    SyntheticAction("wave_right_arm", ("right_arm",), 1.6, _wave("right")),
    SyntheticAction("punch_right_arm", ("right_arm",), 1.2, _punch("right")),
    SyntheticAction("side_kick_left_leg", ("left_leg",), 0.8, _kick("left")),
    SyntheticAction("stomp_left_leg", ("left_leg",), 0.9, _stomp("left")),
    SyntheticAction("side_kick_right_leg", ("right_leg",), 0.8, _kick("right")),
    SyntheticAction("stomp_right_leg", ("right_leg",), 0.9, _stomp("right")),
)
"""The classes, in label order: standing (nuisance motion only) and two per body part, each moving that
part only."""


def _nuisance(rng: np.random.Generator, angle: str, t: np.ndarray) -> np.ndarray:
    group = next(g for g in NUISANCE_DEG if g in angle)
    amp = NUISANCE_DEG[group] * rng.uniform(0.3, 1.0, 2)
    hz, phase = rng.uniform(0.15, 0.7, 2), rng.uniform(0.0, 2 * np.pi, 2)
    return (amp[:, None] * np.sin(2 * np.pi * hz[:, None] * t + phase[:, None])).sum(0)


def synthetic_action(label: int, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One HQ sample of class ``label``: ``ntu25`` joints ``[1, frames, 25, 3]`` (float32, metres, Kinect
    camera frame) and its facts (height scale, view angle, speed)."""
    action = ACTIONS[label]
    t = np.arange(frames) / FPS
    duration = frames / FPS
    scale = rng.uniform(0.85, 1.15)
    lengths = {k: v * scale * rng.uniform(0.95, 1.05) for k, v in _LENGTH.items()}
    pose = {k: np.full(frames, v) for k, v in REST_POSE.items()}

    speed, amp = rng.uniform(0.75, 1.33), rng.uniform(0.8, 1.2)
    phase = 2 * np.pi * action.hz * speed * t + rng.uniform(0.0, 2 * np.pi)
    start, end = rng.uniform(0.0, 0.15) * duration, rng.uniform(0.85, 1.0) * duration
    env = _ramp((t - start) / 0.3) * _ramp((end - t) / 0.3)
    action.move(pose, phase, env, amp)
    for angle in pose:
        pose[angle] = pose[angle] + _nuisance(rng, angle, t)

    body = pose_joints(pose, lengths, scale)
    wander = rng.normal(0.0, 0.03, 3) * np.array([1.0, 0.0, 1.0])  # pelvis drifts on the floor
    body += wander * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))[:, None, None]
    yaw = rng.uniform(-40.0, 40.0)
    position = np.array([rng.uniform(-0.5, 0.5), -rng.uniform(0.9, 1.2), rng.uniform(2.6, 3.8)])
    camera = body @ _rot_y(180.0 + yaw).T + position  # facing the camera (-z) at yaw 0
    camera += rng.normal(0.0, 0.004, camera.shape)
    meta = {"height_scale": round(float(scale), 3), "view_deg": round(float(yaw), 1),
            "speed": round(float(speed), 3)}
    return camera[None].astype(np.float32), meta


def read_synthetic(
    root: Path | None = None,
    train_per_class: int = 32,
    test_per_class: int = 16,
    frames: int = 64,
    seed: int = 0,
    severity: str = "moderate",
) -> RawDataset:
    """The built-in synthetic dataset (see the module docstring); ``root`` is not read (the data is
    generated) and is accepted so that every reader has the same signature.

    Samples ``0 .. K * train_per_class - 1`` (K = 11 classes) are the ``train`` split, the rest ``test``;
    labels cycle through :data:`ACTIONS`. The defaults, 528 samples of 64 frames, take about 2 s.
    """
    degradation(severity)
    if train_per_class < 0 or test_per_class < 0 or frames < 2:
        raise ValueError(
            f"need train_per_class, test_per_class >= 0 and frames >= 2; got {train_per_class}, "
            f"{test_per_class}, {frames}"
        )
    k = len(ACTIONS)
    num_train, num = k * train_per_class, k * (train_per_class + test_per_class)

    def samples() -> Iterator[RawSample]:
        for i in range(num):
            label = i % k
            hq, meta = synthetic_action(label, frames, np.random.default_rng([seed, i, _SALT_BODY]))
            lq = synthesize_lq(hq, "ntu25", np.random.default_rng([seed, i, _SALT_LQ]), "coco17", severity)
            yield RawSample(
                sample_id=f"syn{i:05d}_{ACTIONS[label].name}",
                label=label,
                streams={"hq": hq, "lq": lq},
                splits=("train",) if i < num_train else ("test",),
                meta=meta,
            )

    return RawDataset(
        name="synthetic",
        class_names=[a.name for a in ACTIONS],
        streams={"hq": StreamInfo("ntu25", ("x", "y", "z")), "lq": StreamInfo("coco17", ("x", "y", "score"))},
        samples=samples,
        num_samples=num,
        notes={
            "generator": "pygkd.data.readers.synthetic",
            "seed": seed,
            "severity": severity,
            "frames": frames,
            "defining_parts": {a.name: list(a.parts) for a in ACTIONS},
        },
    )
