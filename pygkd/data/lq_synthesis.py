r"""Low-quality skeletons simulated from high-quality ones, for datasets that only have HQ.

This is a **simulation** of the ways fast 2D pose estimators fail, not a pose estimator: it never sees an
image. It turns an HQ skeleton (Kinect 3D, mocap, human 2D annotation) into an LQ one in three steps:

1. :func:`map_layout`: the source layout's joints -> the target layout's joints, by a table of weighted
   joint combinations (:data:`LAYOUT_MAPS`); COCO's face points (nose, eyes, ears), which no body
   skeleton has, are placed from the head, neck and shoulders (:func:`face_points`);
2. :meth:`PinholeCamera.project`: 3D camera-frame metres -> 2D pixels (skipped for 2D sources);
3. :func:`degrade`: jitter, missed joints, left/right swaps, one-frame flicker and a confidence channel,
   at a named severity (:data:`SEVERITIES`, numbers in ``docs/lq_synthesis.md``).

:func:`synthesize_lq` chains the three on numpy arrays; :class:`SynthesizeLQ` is the same as a transform.
A joint whose coordinates are all zero is missing, in the input and in the output (score 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.transforms import BaseTransform

from ..skeleton import Layout, get_layout
from ..skeleton.mapping import Combination, combination_weights, combine_joints
from .dense import DenseBatch
from .skeleton_data import SkeletonData
from .transforms import index_rng, keypoints_of, sample_rng, with_keypoints

_SALT_LQ = 3

@dataclass(frozen=True)
class LayoutMap:
    """How to compute the joints of ``target`` from those of ``source``.

    Attributes:
        source, target: layout names.
        joints: target joint -> weighted source joints (weights sum to 1); every target joint not listed
            must be a face point (:data:`FACE_OFFSETS`).
        head, neck, left_shoulder, right_shoulder: the source points that place the face points.
    """

    source: str
    target: str
    joints: dict[str, Combination]
    head: Combination = ()
    neck: Combination = ()
    left_shoulder: Combination = ()
    right_shoulder: Combination = ()


FACE_OFFSETS: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, -0.05, 0.28),
    "left_eye": (0.09, 0.02, 0.22),
    "right_eye": (-0.09, 0.02, 0.22),
    "left_ear": (0.21, 0.0, 0.0),
    "right_ear": (-0.21, 0.0, 0.0),
}
"""Face points from the head joint, as (left, up, forward) in units of the shoulder width: an ear 0.21
(7 cm for shoulder joints 33 cm apart) beside the head centre, the eyes 3 cm either side of the midline
and 7 cm in front, the nose 9 cm in front and 2 cm below (adult anthropometry, rounded)."""


def _one(joint: str) -> Combination:
    return ((joint, 1.0),)


_COCO_LIMBS = tuple(
    f"{side}_{j}" for side in ("left", "right") for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
)
_SAME_LIMBS = {j: _one(j) for j in _COCO_LIMBS}
# UI-PRMD names a joint after the segment that starts there: the upper arm starts at the shoulder.
_UIPRMD_SEGMENT = {"shoulder": "upper_arm", "elbow": "forearm", "wrist": "hand", "hip": "upper_leg",
                   "knee": "lower_leg", "ankle": "foot"}
_UIPRMD_LIMBS = {f"{s}_{j}": _one(f"{s}_{seg}") for s in ("left", "right") for j, seg in _UIPRMD_SEGMENT.items()}

LAYOUT_MAPS: dict[tuple[str, str], LayoutMap] = {
    (m.source, m.target): m
    for m in (
        LayoutMap("ntu25", "coco17", _SAME_LIMBS, head=_one("head"), neck=_one("neck"),
                  left_shoulder=_one("left_shoulder"), right_shoulder=_one("right_shoulder")),
        LayoutMap("kinect20", "coco17", _SAME_LIMBS, head=_one("head"), neck=_one("shoulder_center"),
                  left_shoulder=_one("left_shoulder"), right_shoulder=_one("right_shoulder")),
        LayoutMap("penn13", "coco17", _SAME_LIMBS, head=_one("head"),
                  neck=(("left_shoulder", 0.5), ("right_shoulder", 0.5)),
                  left_shoulder=_one("left_shoulder"), right_shoulder=_one("right_shoulder")),
        LayoutMap("uiprmd_kinect22", "coco17", _UIPRMD_LIMBS, head=_one("head"), neck=_one("neck"),
                  left_shoulder=_one("left_upper_arm"), right_shoulder=_one("right_upper_arm")),
    )
}
"""Joint correspondences, keyed by ``(source, target)``; add an entry to support another pair. Mapping a
layout onto itself is the identity and needs no entry."""


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def face_points(
    head: np.ndarray, neck: np.ndarray, left_shoulder: np.ndarray, right_shoulder: np.ndarray, names: list[str]
) -> np.ndarray:
    r"""Face points ``names`` (keys of :data:`FACE_OFFSETS`) from ``[..., D]`` anchors (D = 2 or 3).

    With the head :math:`\mathbf{h}`, the up axis :math:`\mathbf{u} = (\mathbf{h} - \text{neck}) /
    \lVert\cdot\rVert`, the left axis :math:`\mathbf{l}` (left minus right shoulder, orthogonal to
    :math:`\mathbf{u}`, unit), the facing axis :math:`\mathbf{f} = \mathbf{l} \times \mathbf{u}` (3D, in a
    right-handed frame such as Kinect's; in 2D the face is taken to look at the camera,
    :math:`\mathbf{f} = 0`) and the shoulder width :math:`w`, a point with offset :math:`(a_l, a_u, a_f)` is
    :math:`\mathbf{h} + w (a_l \mathbf{l} + a_u \mathbf{u} + a_f \mathbf{f})`. Returns ``[..., len(names), D]``.
    """
    up = _unit(head - neck)
    across = left_shoulder - right_shoulder
    width = np.linalg.norm(across, axis=-1, keepdims=True)
    left = _unit(across - (across * up).sum(-1, keepdims=True) * up)
    forward = np.cross(left, up) if head.shape[-1] == 3 else np.zeros_like(up)
    offsets = np.array([FACE_OFFSETS[n] for n in names])  # [F, 3]
    axes = np.stack([left, up, forward], axis=-2)  # [..., 3, D]
    return head[..., None, :] + width[..., None, :] * np.einsum("fa,...ad->...fd", offsets, axes)


def map_layout(keypoints: np.ndarray, source: str | Layout, target: str | Layout) -> np.ndarray:
    """Coordinates ``[M, T, V_source, D]`` of ``source`` -> ``[M, T, V_target, D]`` of ``target``.

    D is 2 or 3 (coordinates only; drop confidence channels first). A target joint is missing (zero)
    when a source joint it is made of is missing. Raises ``KeyError`` for a pair without a table.
    """
    source, target = get_layout(source), get_layout(target)
    if source.name == target.name:
        return keypoints.astype(np.float32)
    try:
        table = LAYOUT_MAPS[source.name, target.name]
    except KeyError:
        raise KeyError(
            f"no joint table from layout {source.name!r} to {target.name!r}; known pairs: {sorted(LAYOUT_MAPS)}"
        ) from None
    present = keypoints.any(-1)
    out = np.zeros((*keypoints.shape[:-2], target.num_joints, keypoints.shape[-1]))
    body = [j for j in target.joints if j in table.joints]
    rows = [target.index(j) for j in body]
    points, ok = combine_joints(keypoints, present, combination_weights(source, [table.joints[j] for j in body]))
    out[..., rows, :] = points * ok[..., None]
    face = [j for j in target.joints if j not in table.joints]
    if face:
        unknown = [j for j in face if j not in FACE_OFFSETS]
        if unknown:
            raise KeyError(f"table {source.name}->{target.name} gives no source for target joints {unknown}")
        anchors = [table.head, table.neck, table.left_shoulder, table.right_shoulder]
        points, ok = combine_joints(keypoints, present, combination_weights(source, anchors))
        face_xyz = face_points(*np.moveaxis(points, -2, 0), face)
        out[..., [target.index(j) for j in face], :] = face_xyz * ok.all(-1)[..., None, None]
    return out.astype(np.float32)


@dataclass(frozen=True)
class PinholeCamera:
    r"""A distortion-free pinhole camera looking along +z of the Kinect camera frame (x, y, z in metres,
    y up): :math:`u = c_x + f_x x / z`, :math:`v = c_y - f_y y / z` (pixels, v down)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """``[..., 3]`` metres -> ``[..., 2]`` pixels; missing points (all zero) and points at or behind
        the camera (z <= 0) give (0, 0), i.e. missing."""
        x, y, z = np.moveaxis(points, -1, 0)
        visible = z > 0
        safe_z = np.where(visible, z, 1.0)
        uv = np.stack([self.cx + self.fx * x / safe_z, self.cy - self.fy * y / safe_z], axis=-1)
        return (uv * visible[..., None]).astype(np.float32)


KINECT_V2_COLOR = PinholeCamera(fx=1081.37, fy=1081.37, cx=959.5, cy=539.5)
"""Kinect v2 colour camera, 1920 x 1080, with its typical factory intrinsics. The ~5 cm offset between the
Kinect's depth (skeleton) and colour cameras is ignored."""


@dataclass(frozen=True)
class Degradation:
    """What the simulated pose estimator gets wrong. Lengths are fractions of the person's body size (the
    median over frames of the diagonal of the box around its joints); rates are fractions of joint-frames.

    Attributes:
        jitter: standard deviation of the Gaussian noise added to every joint in every frame.
        miss_rate, miss_burst: fraction of joint-frames not detected, and mean length (frames) of a miss.
        swap_rate, swap_burst: fraction of frames in which a left/right joint pair is exchanged, and mean
            length of a swap.
        flicker_rate, flicker_size: fraction of joint-frames thrown off for that one frame, and the standard
            deviation of the throw.
        score_noise: standard deviation of the noise on the confidence.
    """

    jitter: float = 0.0
    miss_rate: float = 0.0
    miss_burst: float = 1.0
    swap_rate: float = 0.0
    swap_burst: float = 1.0
    flicker_rate: float = 0.0
    flicker_size: float = 0.0
    score_noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("miss_rate", "swap_rate", "flicker_rate"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {getattr(self, name)}")
        for name in ("miss_burst", "swap_burst"):
            if getattr(self, name) < 1.0:
                raise ValueError(f"{name} is a mean length in frames and must be >= 1, got {getattr(self, name)}")


SEVERITIES: dict[str, Degradation] = {
    "none": Degradation(),
    "mild": Degradation(jitter=0.008, miss_rate=0.02, miss_burst=3, swap_rate=0.005, swap_burst=3,
                        flicker_rate=0.005, flicker_size=0.15, score_noise=0.05),
    "moderate": Degradation(jitter=0.015, miss_rate=0.08, miss_burst=5, swap_rate=0.02, swap_burst=4,
                            flicker_rate=0.02, flicker_size=0.25, score_noise=0.08),
    "severe": Degradation(jitter=0.03, miss_rate=0.2, miss_burst=8, swap_rate=0.05, swap_burst=6,
                          flicker_rate=0.05, flicker_size=0.4, score_noise=0.12),
}
"""Named presets, roughly PifPaf with ResNet-152 / ShuffleNetV2 / MobileNetV3-Small backbones (the paper's
HQ-2D and LQ settings) for ``mild`` / ``moderate`` / ``severe``; ``none`` only maps and projects."""

SCORE_SCALE = 0.05
"""Error (fraction of body size) at which the confidence has fallen to exp(-1/2) = 0.61."""


def burst_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float, burst: float) -> np.ndarray:
    r"""Independent on/off runs along the last axis (frames): a two-state Markov chain per series with
    stationary "on" fraction ``rate`` and mean "on" run ``burst`` frames,

    .. math:: P(\text{off} \mid \text{on}) = 1 / b, \qquad P(\text{on} \mid \text{off}) = \frac{r}{b (1 - r)},

    started from its stationary distribution. Returns a bool array of ``shape``.
    """
    on = np.zeros(shape, dtype=bool)
    if rate == 0 or shape[-1] == 0:
        return on
    p_off = 1.0 / burst
    p_on = rate * p_off / (1.0 - rate)
    u = rng.random(shape)
    on[..., 0] = u[..., 0] < rate
    for t in range(1, shape[-1]):
        on[..., t] = np.where(on[..., t - 1], u[..., t] >= p_off, u[..., t] < p_on)
    return on


def body_size(points: np.ndarray) -> np.ndarray:
    """Per person, the median over frames of the diagonal of the box around its present joints:
    ``[M, T, V, 2]`` -> ``[M]`` (0 for a person never seen)."""
    present = points.any(-1)  # [M, T, V]
    seen = present.any(-1)  # [M, T]
    lo = np.where(present[..., None], points, np.inf).min(-2)
    hi = np.where(present[..., None], points, -np.inf).max(-2)
    diagonal = np.linalg.norm(np.where(seen[..., None], hi - lo, 0.0), axis=-1)
    return np.array([np.median(d[s]) if s.any() else 0.0 for d, s in zip(diagonal, seen)])


def degradation(severity: str | Degradation) -> Degradation:
    """A :class:`Degradation` by preset name (:data:`SEVERITIES`), or the one given."""
    if isinstance(severity, Degradation):
        return severity
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {list(SEVERITIES)}")
    return SEVERITIES[severity]


def degrade(
    points: np.ndarray, layout: str | Layout, severity: str | Degradation, rng: np.random.Generator
) -> np.ndarray:
    r"""Simulated pose-estimator output from true 2D joints: ``[M, T, V, 2]`` pixels -> ``[M, T, V, 3]``
    ``(x, y, score)``.

    In this order, with :math:`s` the body size of the person (:func:`body_size`): Gaussian jitter of std
    ``jitter``·s; left/right pairs of ``layout.mirror`` exchanged in bursts (:func:`burst_mask`);
    one-frame throws of std ``flicker_size``·s; the confidence

    .. math:: \text{score} = \operatorname{clip}\big(\exp(-\tfrac12 (d / (0.05\,s))^2) + \epsilon,\ 0.01,\ 1\big),
              \qquad \epsilon \sim \mathcal N(0, \text{score\_noise}^2),

    where :math:`d` is the distance from the reported to the true position of the joint; finally missed
    joints (bursts at ``miss_rate``) and joints missing in the input are zero with score 0.
    """
    layout = get_layout(layout)
    p = degradation(severity)
    m, t, v, _ = points.shape
    size = body_size(points)[:, None, None, None]  # [M, 1, 1, 1]
    out = points + rng.normal(0.0, 1.0, points.shape) * p.jitter * size
    present = points.any(-1)
    if layout.mirror:
        left, right = np.array(layout.mirror).T
        swap = np.moveaxis(burst_mask(rng, (m, len(left), t), p.swap_rate, p.swap_burst), -1, 1)  # [M, T, P]
        reported = np.broadcast_to(np.arange(v), (m, t, v)).copy()  # which true joint each output shows
        reported[..., left] = np.where(swap, right, left)
        reported[..., right] = np.where(swap, left, right)
        out = np.take_along_axis(out, reported[..., None], axis=2)
        present = np.take_along_axis(present, reported, axis=2)
    flicker = rng.random((m, t, v, 1)) < p.flicker_rate
    out = out + flicker * rng.normal(0.0, 1.0, points.shape) * p.flicker_size * size
    error = np.linalg.norm(out - points, axis=-1) / np.maximum(SCORE_SCALE * size[..., 0], 1e-9)
    score = np.clip(np.exp(-0.5 * error**2) + rng.normal(0.0, p.score_noise, error.shape), 0.01, 1.0)
    missed = np.moveaxis(burst_mask(rng, (m, v, t), p.miss_rate, p.miss_burst), -1, 1)
    keep = present & ~missed
    return (np.concatenate([out, score[..., None]], axis=-1) * keep[..., None]).astype(np.float32)


def synthesize_lq(
    keypoints: np.ndarray,
    source: str | Layout,
    rng: np.random.Generator,
    target: str | Layout = "coco17",
    severity: str | Degradation = "moderate",
    source_dims: int = 3,
    camera: PinholeCamera = KINECT_V2_COLOR,
) -> np.ndarray:
    """HQ keypoints ``[M, T, V_source, C]`` -> simulated LQ ``[M, T, V_target, 3]`` ``(x, y, score)``.

    ``source_dims`` is the number of leading coordinate channels of the source: 3 (x, y, z metres in the
    camera frame, projected with ``camera`` after mapping) or 2 (already pixels); further channels
    (a visibility flag or confidence) are dropped.
    """
    if source_dims not in (2, 3):
        raise ValueError(f"source_dims must be 2 or 3, got {source_dims}")
    mapped = map_layout(keypoints[..., :source_dims], source, target)
    pixels = camera.project(mapped) if source_dims == 3 else mapped
    return degrade(pixels, target, severity, rng)


class SynthesizeLQ(BaseTransform):
    """An HQ skeleton graph -> a simulated LQ graph of ``target`` with channels ``(x, y, score)``
    (:func:`synthesize_lq`), drawn per sample index.

    Args:
        target: layout of the LQ skeleton.
        severity: a name of :data:`SEVERITIES` or a :class:`Degradation`.
        seed: seed of the degradation.
        source_dims: 3 for 3D camera-frame metres (projected with ``camera``), 2 for pixels.
        camera: the camera of the projection.
    """

    def __init__(
        self,
        target: str = "coco17",
        severity: str | Degradation = "moderate",
        seed: int = 0,
        source_dims: int = 3,
        camera: PinholeCamera = KINECT_V2_COLOR,
    ) -> None:
        degradation(severity)  # fail early on an unknown name
        self.target = get_layout(target).name
        self.severity, self.seed, self.source_dims, self.camera = severity, seed, source_dims, camera

    def forward(self, data: SkeletonData) -> SkeletonData:
        lq = synthesize_lq(
            keypoints_of(data).numpy(),
            data.layout,
            sample_rng(self.seed, data, _SALT_LQ),
            self.target,
            self.severity,
            self.source_dims,
            self.camera,
        )
        return with_keypoints(data, torch.from_numpy(lq), self.target)

    def dense(self, batch: DenseBatch) -> DenseBatch:
        """:meth:`forward` on every sample of ``batch`` (each on its own frames, with its own draws; the
        synthesis is per sample, so that a sample's result does not depend on its batch)."""
        lq = [
            synthesize_lq(k.numpy(), batch.layout, index_rng(self.seed, i, _SALT_LQ), self.target, self.severity,
                          self.source_dims, self.camera)
            for k, i in zip(batch.samples(), batch.index.tolist())
        ]
        out = np.zeros((len(lq), lq[0].shape[0], batch.keypoints.size(2), *lq[0].shape[2:]), dtype=np.float32)
        for row, sample in enumerate(lq):
            out[row, :, : sample.shape[1]] = sample
        return batch.with_keypoints(torch.from_numpy(out), layout=self.target)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(target={self.target!r}, severity={self.severity!r}, seed={self.seed})"
