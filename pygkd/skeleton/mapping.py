r"""Joint mappings between skeleton layouts: the target's joints as weighted sums of the source's.

A target joint is a :data:`Combination` of source joints whose weights sum to 1: a copy is one joint with
weight 1, OpenPose's neck is ``½ left_shoulder + ½ right_shoulder``. A :class:`JointMapping` holds the
combinations of all target joints as one weight matrix, and :func:`map_keypoints` applies it to keypoints.

:func:`joint_mapping` derives the mapping between two *COCO-named* layouts, those that call the 17 COCO
keypoints by COCO's names (``coco17``, ``openpose18``, ``body25``, ``halpe26``, ``mediapipe33``, and any layout
file that does the same). Each target joint is

1. the source joint of the same name (these layouts give one anatomical point one name), or else
2. the target's declared combination (:data:`COMPUTED_JOINTS`) of joints the source has.

So a layout that contains COCO-17 maps to ``coco17`` by dropping joints, ``coco17`` maps to ``openpose18`` by
computing the neck, ``body25`` maps to ``openpose18`` copying its own neck, and a pair whose target has joints
the source cannot make (``coco17`` to ``body25``: the feet) raises a :class:`LayoutError` naming them. The
simulation of COCO-17 from Kinect or mocap skeletons, whose face points must be placed geometrically, is
:mod:`pygkd.data.lq_synthesis`, which shares :func:`combination_weights` and :func:`combine_joints`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .builtin import COCO17
from .layout import Layout, LayoutError, get_layout, layout_names

Combination = tuple[tuple[str, float], ...]
"""A point as a weighted sum of source joints, ``(("left_shoulder", 0.5), ("right_shoulder", 0.5))``."""

_MID_SHOULDER: Combination = (("left_shoulder", 0.5), ("right_shoulder", 0.5))
_MID_HIP: Combination = (("left_hip", 0.5), ("right_hip", 0.5))

COMPUTED_JOINTS: dict[str, dict[str, Combination]] = {
    "openpose18": {"neck": _MID_SHOULDER},
    "body25": {"neck": _MID_SHOULDER, "mid_hip": _MID_HIP},
    "halpe26": {"neck": _MID_SHOULDER, "hip": _MID_HIP},
}
"""Per layout, the joints that can be computed from COCO-17 joints when a source lacks them. OpenPose takes
its neck and mid-hip as these midpoints of the shoulders and hips when it trains on COCO annotations; Halpe
annotates its neck and hip centre, which the midpoints approximate. The other joints of these layouts that COCO-17
lacks (feet, Halpe's head top, MediaPipe's eye corners, mouth and hands) cannot be computed."""

COCO17_NAMES = frozenset(COCO17.joints)


def combination_weights(source: Layout, combos: list[Combination]) -> np.ndarray:
    """``[len(combos), V_source]`` weight matrix of a list of joint combinations of ``source``."""
    w = np.zeros((len(combos), source.num_joints))
    for row, combo in enumerate(combos):
        for joint, weight in combo:
            w[row, source.index(joint)] += weight
    return w


def combine_joints(points: np.ndarray, present: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted joints ``[..., V, D]`` -> ``[..., R, D]`` with ``w`` ``[R, V]``, and ``[..., R]`` bool: a result
    is present if all the joints it is made of are (``present`` ``[..., V]``)."""
    out = np.einsum("rv,...vd->...rd", w, points)
    ok = ~((w != 0) & ~present[..., None, :]).any(-1)
    return out, ok


@dataclass(frozen=True, eq=False)
class JointMapping:
    """How the joints of layout ``target`` are made from those of ``source``.

    Attributes:
        source, target: layout names.
        weights: ``[V_target, V_source]``; row ``t`` holds the weights of the source joints whose sum is target
            joint ``t`` (a copied joint is a one-hot row). Rows sum to 1.
    """

    source: str
    target: str
    weights: np.ndarray


def is_coco_named(layout: Layout) -> bool:
    """Whether ``layout`` calls all 17 COCO keypoints by COCO's names (and so takes part in :func:`joint_mapping`)."""
    return COCO17_NAMES <= set(layout.joints)


def joint_mapping(source: str | Layout, target: str | Layout) -> JointMapping:
    """The mapping from ``source`` to ``target`` (see the module docstring); the identity for one layout.

    Raises:
        LayoutError: a layout is not COCO-named, or the source lacks what some target joints are made of
            (the message names those joints).
    """
    source, target = get_layout(source), get_layout(target)
    if source.name == target.name:
        return JointMapping(source.name, target.name, np.eye(source.num_joints))
    for layout in (source, target):
        if not is_coco_named(layout):
            lacking = sorted(COCO17_NAMES - set(layout.joints))
            named = [n for n in layout_names() if is_coco_named(get_layout(n))]
            raise LayoutError(
                f"no joint mapping from layout {source.name!r} to {target.name!r}: {layout.name!r} does not name "
                f"the COCO keypoints {lacking}; mappings exist between {named} (SynthesizeLQ simulates coco17 "
                "from body skeletons)"
            )
    have = set(source.joints)
    computed = COMPUTED_JOINTS.get(target.name, {})
    combos: list[Combination] = []
    impossible = []
    for joint in target.joints:
        if joint in have:
            combos.append(((joint, 1.0),))
        elif joint in computed and all(j in have for j, _ in computed[joint]):
            combos.append(computed[joint])
        else:
            impossible.append(joint)
    if impossible:
        raise LayoutError(
            f"cannot map layout {source.name!r} to {target.name!r}: {target.name}'s joints {impossible} cannot "
            f"be made from {source.name}'s"
        )
    return JointMapping(source.name, target.name, combination_weights(source, combos))


def map_keypoints(keypoints: np.ndarray, mapping: JointMapping, score: bool) -> np.ndarray:
    """Keypoints ``[M, T, V_source, C]`` -> ``[M, T, V_target, C]`` (float32) by ``mapping``.

    A source joint is missing when its coordinates are all zero or, with ``score`` (the last channel is a
    confidence), its score is 0. A target joint made of a missing joint is missing: zeros in every channel.
    The coordinates of the others are the weighted sums; the confidence of a copied joint is its source's,
    that of a computed joint the minimum of its sources'.
    """
    weights = mapping.weights
    if keypoints.ndim != 4 or keypoints.shape[2] != weights.shape[1]:
        raise ValueError(
            f"expected keypoints [M, T, {weights.shape[1]}, C] of layout {mapping.source!r}, "
            f"got shape {tuple(keypoints.shape)}"
        )
    coords = keypoints[..., :-1] if score else keypoints
    present = coords.any(-1)
    if score:
        present &= keypoints[..., -1] > 0
    points, ok = combine_joints(coords, present, weights)
    if score:
        sources = np.where(weights != 0, keypoints[..., None, :, -1], np.inf).min(-1)  # [M, T, V_target]
        points = np.concatenate([points, sources[..., None]], axis=-1)
    return (points * ok[..., None]).astype(np.float32)
