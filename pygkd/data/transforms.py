r"""Per-sample preprocessing of skeleton graphs: persons, length, normalisation and occlusion.

Every transform is a :class:`torch_geometric.transforms.BaseTransform` acting on a
:class:`~pygkd.data.skeleton_data.SkeletonData` whose ``x`` is ``[M * V, T, C]``; they chain with
:class:`torch_geometric.transforms.Compose`, e.g. the paper's input (Sec. 4.2: two persons, 300 frames,
zero padding) with simulated occlusion (Sec. 4.4.1)::

    Compose([KeepPersons(2), FixLength(300), Normalize(coords=3), OccludeJoints(0.3, seed=0)])

A joint whose coordinate channels are all zero is *missing* (not detected, occluded or padding): the
statistics below ignore missing joints and every transform leaves them at zero. Channels after the
coordinates (a pose estimator's confidence) are never rescaled.

Random transforms draw from ``np.random.default_rng([seed, data.index, salt])``, so a sample gets the same
draw whatever the worker, the loading order or the epoch; evaluation is therefore deterministic and a
training set with simulated occlusion is one fixed set, as in the paper's tables. The one exception is
``OccludeJoints(protocol="clip_redraw")``, which adds the training epoch to its seed (augmentation).

Every transform also has a ``dense`` method that does the same on a whole
:class:`~pygkd.data.dense.DenseBatch` (the engine's fast path, see :mod:`pygkd.data.dense`); for
:class:`KeepPersons`, :class:`FixLength` and :class:`Normalize` the per-sample ``forward`` is that method on
a batch of one, so the two paths are one computation.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.transforms import BaseTransform

from ..skeleton import PARTS, JointMapping, Layout, get_layout, joint_mapping, map_keypoints
from .dense import DenseBatch
from .skeleton_data import SkeletonData

_SALT_UNIFORM = 1
_SALT_OCCLUDE = 2


def sample_index(data: SkeletonData) -> int:
    """``data.index``, the seed of a sample's random draws; a ValueError naming the sample when it is not set."""
    index = getattr(data, "index", None)
    if index is None:
        raise ValueError(
            f"sample {getattr(data, 'sample_id', '?')!r}: random transforms are seeded by data.index "
            "(the sample's position in its dataset), which is not set"
        )
    return int(index)


def sample_rng(seed: int, data: SkeletonData, salt: int) -> np.random.Generator:
    """The random generator of one sample: ``default_rng([seed, data.index, salt])``."""
    return index_rng(seed, sample_index(data), salt)


def index_rng(seed: int, index: int, salt: int) -> np.random.Generator:
    """The random generator of the sample at position ``index``: ``default_rng([seed, index, salt])``."""
    if index < 0:
        raise ValueError("random transforms are seeded by the sample's position in its dataset, which is not set")
    return np.random.default_rng([seed, index, salt])


def dense_forward(transform: "BaseTransform", data: SkeletonData) -> SkeletonData:
    """``transform.dense`` applied to ``data`` as a batch of one."""
    out = transform.dense(DenseBatch.of(data))
    return with_keypoints(data, out.keypoints[0], out.layout)


def keypoints_of(data: SkeletonData) -> Tensor:
    """The keypoints ``[M, T, V, C]`` of one skeleton graph (a view of ``data.x``)."""
    return data.dense()[0]


def with_keypoints(data: SkeletonData, keypoints: Tensor, layout: str | Layout | None = None) -> SkeletonData:
    """A copy of ``data`` holding ``keypoints`` ``[M', T', V', C']`` (of ``layout``, by default the same
    layout): ``edge_index``, ``part`` and ``num_persons`` are rebuilt, every other attribute is kept."""
    out = SkeletonData.from_keypoints(
        keypoints, layout if layout is not None else data.layout, int(data.y), getattr(data, "sample_id", "")
    )
    for key, value in data:
        if key not in out:
            out[key] = value
    return out


def sample_sums(values: Tensor, channels: int = 0) -> Tensor:
    """Each sample's sum, ``[B, ...]`` -> ``[B]``, or per channel, ``[B, ..., K]`` -> ``[B, K]`` with
    ``channels=1``. Every sum adds one contiguous row, so that on one thread a sample's sum is the same
    bits whatever the rest of its batch (a batch of one included)."""
    if channels:
        values = values.movedim(-1, 1)
    rows = values.reshape(values.size(0), values.size(1) if channels else 1, -1).contiguous()
    total = rows.sum(-1, dtype=values.dtype if values.is_floating_point() else torch.float32)
    return total if channels else total[:, 0]


def present_joints(keypoints: Tensor, coords: int) -> Tensor:
    """``[..., C]`` -> ``[...]`` bool: True where a joint has a non-zero coordinate (is not missing)."""
    return keypoints[..., :coords].ne(0).any(-1)


def motion_energy(keypoints: Tensor) -> Tensor:
    r"""How much each person moves, ``[..., M, T, V, C]`` -> ``[..., M]``.

    .. math:: e_m = \sum_{v, c} \operatorname{Var}_{t \in \mathcal{T}_m} x_{m,t,v,c}

    over the frames :math:`\mathcal{T}_m` in which person :math:`m` has any non-zero value (a person who
    enters late is not made "active" by the jump from zero); 0 for a person who is never there.
    """
    frames = keypoints.ne(0).flatten(-2).any(-1).to(keypoints.dtype)  # [..., M, T]
    weight = frames[..., None, None] / frames.sum(-1).clamp(min=1)[..., None, None, None]
    mean = (keypoints * weight).sum(-3, keepdim=True)
    return ((keypoints - mean).square() * weight).sum((-3, -2, -1))


class KeepPersons(BaseTransform):
    r"""Exactly ``num_persons`` persons: the most active ones (:func:`motion_energy`, ties keep the
    earlier person) in their original order, then all-zero persons if the sample has fewer.

    Args:
        num_persons: ``M`` of the output (the paper uses 2).
    """

    def __init__(self, num_persons: int = 2) -> None:
        if num_persons < 1:
            raise ValueError(f"num_persons must be >= 1, got {num_persons}")
        self.num_persons = num_persons

    def forward(self, data: SkeletonData) -> SkeletonData:
        return data if data.num_persons == self.num_persons else dense_forward(self, data)

    def dense(self, batch: DenseBatch) -> DenseBatch:
        keypoints = batch.keypoints  # [B, M, T, V, C]
        b, m = keypoints.shape[:2]
        if m == self.num_persons:
            return batch
        if m > self.num_persons:
            order = torch.argsort(motion_energy(keypoints), dim=1, descending=True, stable=True)
            keep = order[:, : self.num_persons].sort(dim=1).values  # [B, M']
            keypoints = keypoints[torch.arange(b)[:, None], keep]
        else:
            pad = keypoints.new_zeros(b, self.num_persons - m, *keypoints.shape[2:])
            keypoints = torch.cat([keypoints, pad], dim=1)
        return batch.with_keypoints(keypoints)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.num_persons})"


def uniform_frame_indices(
    num_frames: int | np.ndarray, length: int, offsets: np.ndarray | None = None
) -> np.ndarray:
    r"""One frame from each of ``length`` equal segments of ``0..num_frames-1``:

    .. math:: i_k = \left\lfloor (k + u_k)\, T / L \right\rfloor, \qquad k = 0, \dots, L - 1,

    with :math:`u_k` = ``offsets[k]`` in ``[0, 1)``, or :math:`1/2` (segment centres) when ``offsets`` is
    None. When :math:`T < L` frames repeat (the sequence is stretched in time). Returns ``[L]`` int64, or
    ``[B, L]`` for ``B`` sequences (``num_frames [B]``, ``offsets`` None or ``[B, L]``).
    """
    u = np.full(length, 0.5) if offsets is None else np.asarray(offsets, dtype=np.float64)
    t = np.asarray(num_frames)[..., None] if np.ndim(num_frames) else num_frames
    return np.minimum(((np.arange(length) + u) * t / length).astype(np.int64), t - 1)


class FixLength(BaseTransform):
    r"""Exactly ``length`` frames.

    * ``mode="pad"`` (the paper, Sec. 4.2): the first ``length`` frames; a shorter sequence is padded with
      zero frames at the end.
    * ``mode="uniform"`` (PYSKL's ``UniformSampleFrames``): :func:`uniform_frame_indices` over the whole
      sequence, at segment centres, or with offsets :math:`u_k \sim U[0, 1)` drawn per sample when
      ``training`` (the draw is fixed per sample index, see the module docstring).

    Args:
        length: number of output frames ``T``.
        mode: ``"pad"`` or ``"uniform"``.
        training: random offsets inside the segments (``"uniform"`` only).
        seed: seed of those offsets.
    """

    MODES = ("pad", "uniform")

    def __init__(self, length: int = 300, mode: str = "pad", training: bool = False, seed: int = 0) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        if training and mode != "uniform":
            raise ValueError("training=True draws random frame offsets and needs mode='uniform'")
        self.length, self.mode, self.training, self.seed = length, mode, training, seed

    def forward(self, data: SkeletonData) -> SkeletonData:
        if self.training:
            sample_rng(self.seed, data, _SALT_UNIFORM)  # the sample's index must be set
        return dense_forward(self, data)

    def dense(self, batch: DenseBatch) -> DenseBatch:
        keypoints = batch.keypoints  # [B, M, T, V, C]; frames from lengths[b] on are zero
        b, t = keypoints.size(0), keypoints.size(2)
        lengths = torch.full((b,), self.length, dtype=torch.long)
        if self.mode == "pad":
            if t >= self.length:
                return batch.with_keypoints(keypoints[:, :, : self.length], lengths)
            pad = keypoints.new_zeros(b, keypoints.size(1), self.length - t, *keypoints.shape[3:])
            return batch.with_keypoints(torch.cat([keypoints, pad], dim=2), lengths)
        offsets = None
        if self.training:
            offsets = np.stack([index_rng(self.seed, i, _SALT_UNIFORM).random(self.length)
                                for i in batch.index.tolist()])
        index = torch.from_numpy(uniform_frame_indices(batch.lengths.numpy(), self.length, offsets))  # [B, L]
        frames = keypoints.transpose(1, 2)[torch.arange(b)[:, None], index]  # [B, L, M, V, C]
        return batch.with_keypoints(frames.transpose(1, 2), lengths)

    def __repr__(self) -> str:
        extra = ", training=True" if self.training else ""
        return f"{self.__class__.__name__}({self.length}, mode={self.mode!r}{extra})"


class Normalize(BaseTransform):
    r"""Centre a sample on its layout's centre joint and scale it by its mean bone length.

    With :math:`\mathbf{p}` the first ``coords`` channels, :math:`\mathbf{c}` the mean of the centre joint
    (``layout.center``) over the persons and frames where it is present (the mean of all present joints if
    it never is) and :math:`s` the mean length of the layout's bones over the persons and frames where both
    of their joints are present,

    .. math:: \mathbf{p} \leftarrow (\mathbf{p} - \mathbf{c}) / s .

    One translation and one scale per sample keep the motion of the body (a jump stays a jump) and the
    relative position of two persons. Both come from joints that a limb's motion barely moves: centring on
    the centroid of all joints, or scaling by their spread, would let a raised arm shift and rescale every
    other joint, and the part matrix could then not tell which part defines an action. Scaling removes the
    camera distance and image size in 2D and the body size in 3D, and puts every stream in the same units
    (bone lengths); ``scale=False`` keeps metres or pixels. Missing joints stay zero, and the channels
    after ``coords`` (a confidence) are copied unchanged.

    Args:
        coords: number of leading coordinate channels: 2 for ``(x, y[, score])``, 3 for ``(x, y, z)``.
        scale: divide by :math:`s`.
    """

    def __init__(self, coords: int, scale: bool = True) -> None:
        if coords not in (2, 3):
            raise ValueError(f"coords must be 2 or 3, got {coords}")
        self.coords, self.scale = coords, scale

    def forward(self, data: SkeletonData) -> SkeletonData:
        return dense_forward(self, data)

    def dense(self, batch: DenseBatch) -> DenseBatch:
        layout = get_layout(batch.layout)
        keypoints = batch.keypoints  # [B, M, T, V, C]
        present = present_joints(keypoints, self.coords)  # [B, M, T, V]
        p = keypoints[..., : self.coords]  # zero at missing joints, so plain sums are sums over present ones
        center_count = sample_sums(present[..., layout.center])[:, None]  # [B, 1]
        all_count = sample_sums(present)[:, None].clamp(min=1)
        center = torch.where(center_count > 0, sample_sums(p[..., layout.center, :], 1) / center_count.clamp(min=1),
                             sample_sums(p, 1) / all_count)  # [B, coords]
        p = p - center[:, None, None, None]
        if self.scale:
            i, j = layout.edge_index()[:, : len(layout.bones)]  # each bone once (cached per layout)
            both = present.index_select(-1, i) & present.index_select(-1, j)  # [B, M, T, E]
            bone = torch.linalg.vector_norm(p.index_select(-2, i) - p.index_select(-2, j), dim=-1) * both
            length = sample_sums(bone) / sample_sums(both).clamp(min=1)
            p = p / torch.where(length > 0, length, 1.0)[:, None, None, None, None]  # no bone seen: no scaling
        p = p * present[..., None]
        return batch.with_keypoints(torch.cat([p, keypoints[..., self.coords :]], dim=-1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(coords={self.coords}, scale={self.scale})"


def span_chain(u: np.ndarray, p: float, span_length: float) -> np.ndarray:
    r"""Occluded frames of a two-state Markov chain over the last axis, ``u [..., T]`` uniforms in ``[0, 1)``
    -> ``[..., T]`` bool.

    Frame 0 is occluded when :math:`u_0 < p`; then a frame leaves the state of the one before when
    :math:`u_t` is below that state's transition probability,

    .. math:: P(\text{occluded} \to \text{visible}) = b = a \, \frac{1 - p}{p}, \qquad
              P(\text{visible} \to \text{occluded}) = a = \min\Bigl(1, \frac{p}{L (1 - p)}\Bigr),

    i.e. :math:`b = 1 / L` (occluded spans of mean length :math:`L` = ``span_length``) unless
    :math:`p > L / (L + 1)`, where visible spans would be shorter than a frame: there :math:`a = 1` and the
    occluded spans lengthen to :math:`p / (1 - p)` frames on average. The chain starts in its stationary
    law, :math:`a / (a + b) = p`, so every frame is occluded with probability exactly ``p`` (``p = 1``:
    every frame, ``p = 0``: none).
    """
    if p >= span_length / (span_length + 1):
        a, b = 1.0, (1 - p) / p
    else:
        a, b = p / (span_length * (1 - p)), 1 / span_length
    occluded = np.empty(u.shape, dtype=bool)
    occluded[..., 0] = u[..., 0] < p
    for t in range(1, u.shape[-1]):
        occluded[..., t] = np.where(occluded[..., t - 1], u[..., t] >= b, u[..., t] < a)
    return occluded


class OccludeJoints(BaseTransform):
    r"""Random joint occlusion with probability ``p`` (the paper's OP, Sec. 4.4.1).

    "Random occlusions to each joint with a specified probability. If a joint is selected to be occluded,
    its coordinates are set to zero." The paper does not say per clip or per frame, nor whether redrawn;
    ``protocol`` chooses (an occluded joint is zero in all channels, confidence included):

    * ``"clip"`` (default): one draw per joint of each person, and an occluded joint is zero *in every
      frame*: an absent joint, as when a body part is hidden for the whole clip, rather than per-frame
      dropout, which temporal convolutions would largely fill in.
    * ``"clip_redraw"``: as ``"clip"``, drawn anew at every training epoch (augmentation): the draw of epoch
      ``e`` (:meth:`set_epoch`, called by the training loop) depends on ``(seed, index, e)``; epoch 0, where
      a transform that is never told an epoch stays (evaluation), is the ``"clip"`` draw.
    * ``"frame"``: each (person, joint, frame) independently.
    * ``"span"``: contiguous occluded spans of mean length ``span_length`` frames in each (person, joint),
      from the two-state Markov chain of :func:`span_chain`.

    Only a sample's own frames are drawn (``T`` per sample, ``lengths[b]`` in a dense batch), so a dense
    batch padded in time draws what each sample draws alone. The expected fraction of occluded joint-frames
    is ``p`` under every protocol; except for ``"clip_redraw"`` the draw is fixed per sample index
    (``seed``), so an evaluation set is the same at every run.

    Args:
        p: occlusion probability of each joint (each joint-frame), in ``[0, 1]``.
        seed: seed of the draw.
        protocol: one of :attr:`PROTOCOLS`.
        span_length: mean occluded span ``L`` of ``"span"``, in frames, ``>= 1``.
    """

    PROTOCOLS = ("clip", "clip_redraw", "frame", "span")

    def __init__(self, p: float, seed: int = 0, protocol: str = "clip", span_length: float = 8) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"occlusion probability must be in [0, 1], got {p}")
        if protocol not in self.PROTOCOLS:
            raise ValueError(f"protocol must be one of {self.PROTOCOLS}, got {protocol!r}")
        if not span_length >= 1:
            raise ValueError(f"span_length must be >= 1 (frames), got {span_length}")
        self.p, self.seed, self.protocol, self.span_length = p, seed, protocol, span_length
        # the epoch lives in shared memory: DataLoader workers (persistent ones too) read the main process's
        self._epoch = torch.zeros((), dtype=torch.long).share_memory_() if protocol == "clip_redraw" else None

    @property
    def epoch(self) -> int:
        """The training epoch of the draw (always 0 unless ``"clip_redraw"``)."""
        return 0 if self._epoch is None else int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s occlusion from now on (``"clip_redraw"``; the other protocols ignore it)."""
        if self._epoch is not None:
            self._epoch.fill_(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        epoch = self.epoch
        if epoch == 0:
            return index_rng(self.seed, index, _SALT_OCCLUDE)
        return np.random.default_rng([self.seed, index, _SALT_OCCLUDE, epoch])

    def _uniforms(self, index: int, nodes: int, frames: int) -> np.ndarray:
        """The draws of one sample: ``[nodes, 1]`` (per clip) or ``[nodes, frames]``, node ``m * V + v``."""
        rng = self._rng(index)
        return rng.random(nodes)[:, None] if self.protocol in ("clip", "clip_redraw") else rng.random((nodes, frames))

    def occluded(self, u: np.ndarray) -> np.ndarray:
        """Uniform draws ``[..., T]`` (or ``[..., 1]`` per clip) -> which are occluded, bool, same shape."""
        return span_chain(u, self.p, self.span_length) if self.protocol == "span" else u < self.p

    def forward(self, data: SkeletonData) -> SkeletonData:
        if self.p == 0:
            return data
        occluded = self.occluded(self._uniforms(sample_index(data), data.x.size(0), data.x.size(1)))  # [M * V, T or 1]
        data.x = data.x.masked_fill(torch.from_numpy(occluded)[..., None], 0.0)
        return data

    def dense(self, batch: DenseBatch) -> DenseBatch:
        """:meth:`forward` on every sample of ``batch``: the same draws, node ``m * V + v`` <-> ``[m, v]``; the
        padding frames of a sample draw nothing (and stay zero)."""
        if self.p == 0:
            return batch
        b, m, t, v, _ = batch.keypoints.shape
        lengths = batch.lengths.tolist()
        per_clip = self.protocol in ("clip", "clip_redraw")
        u = np.ones((b, m * v, 1 if per_clip else t))
        for row, (i, length) in enumerate(zip(batch.index.tolist(), lengths)):
            u[row, :, : 1 if per_clip else length] = self._uniforms(i, m * v, length)
        occluded = self.occluded(u)
        if not per_clip:
            occluded &= np.arange(t) < np.asarray(lengths)[:, None, None]
        mask = torch.from_numpy(occluded).view(b, m, v, -1).transpose(2, 3)[..., None]  # [B, M, T or 1, V, 1]
        return batch.with_keypoints(batch.keypoints.masked_fill(mask, 0.0))

    def __repr__(self) -> str:
        extra = "" if self.protocol == "clip" else f", protocol={self.protocol!r}"
        if self.protocol == "span":
            extra += f", span_length={self.span_length}"
        return f"{self.__class__.__name__}(p={self.p}, seed={self.seed}{extra})"


def part_indices(parts: Sequence[str | int]) -> list[int]:
    """Part names (:data:`~pygkd.skeleton.PARTS`) or indices -> indices."""
    out = []
    for p in parts:
        if isinstance(p, str):
            if p not in PARTS:
                raise ValueError(f"unknown body part {p!r}; expected one of {PARTS}")
            out.append(PARTS.index(p))
        elif 0 <= int(p) < len(PARTS):
            out.append(int(p))
        else:
            raise ValueError(f"body part index {p} outside 0..{len(PARTS) - 1}")
    return out


class OccludeParts(BaseTransform):
    """Zero (all channels) every joint of the given body parts, in every person and frame. This is the
    occlusion of the part matrix (Eq. 12), whose batched form is :func:`pygkd.kd.part_matrix.occlude_parts`.

    Args:
        parts: part names (``"left_arm"``) or indices of :data:`~pygkd.skeleton.PARTS`.
    """

    def __init__(self, parts: Sequence[str | int]) -> None:
        index = part_indices(parts)
        self.parts = [PARTS[p] for p in index]
        self.part_index = torch.tensor(index, dtype=torch.long)

    def forward(self, data: SkeletonData) -> SkeletonData:
        occluded = torch.isin(data.part, self.part_index)
        data.x = data.x.masked_fill(occluded[:, None, None], 0.0)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.parts})"


class MapLayout(BaseTransform):
    """The same skeletons in layout ``target``: the joints are mapped by
    :func:`~pygkd.skeleton.mapping.joint_mapping` and :func:`~pygkd.skeleton.mapping.map_keypoints` (copied by
    name, or computed, e.g. OpenPose's neck from the shoulders), and ``x``, ``layout``, ``part`` and
    ``edge_index`` become the target's. A sample already in ``target`` is returned unchanged. A pair that
    cannot be mapped raises :class:`~pygkd.skeleton.LayoutError` on its first sample, naming the joints.

    Args:
        target: the layout to map to, e.g. ``"coco17"``.
        score: the last channel is a confidence (pose-estimator output ``x, y, score``): a joint with score 0 is
            missing, and mapped joints carry their sources' score (the minimum for a computed joint). ``False``
            for coordinates only.
    """

    def __init__(self, target: str, score: bool = True) -> None:
        self.target, self.score = get_layout(target).name, score
        self._mappings: dict[str, JointMapping] = {}

    def forward(self, data: SkeletonData) -> SkeletonData:
        if data.layout == self.target:
            return data
        if data.layout not in self._mappings:
            self._mappings[data.layout] = joint_mapping(data.layout, self.target)
        keypoints = map_keypoints(keypoints_of(data).numpy(), self._mappings[data.layout], self.score)
        return with_keypoints(data, torch.from_numpy(keypoints), self.target)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(target={self.target!r}, score={self.score})"
