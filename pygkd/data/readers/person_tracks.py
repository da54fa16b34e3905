r"""From per-frame detections to persons over time: the ``[M, T, V, 3]`` keypoints of one clip.

A pose estimator finds people image by image. :func:`link_persons` turns its frames into tracks:

* **track ids** — when every person of every frame carries the estimator's ``track_id`` and no id occurs
  twice in a frame, a track is the frames of one id (OpenPose ``person_id``, AlphaPose ``idx`` with
  tracking on, MMPose ``track_id``).
* **greedy linking** otherwise. Each track predicts where its person is at frame :math:`t` by constant
  velocity from its last two observations at :math:`t_1 < t_2`:

  .. math:: \hat c(t) = c(t_2) + \frac{c(t_2) - c(t_1)}{t_2 - t_1}\,(t - t_2)

  where :math:`c` is the box centre (boxes move rigidly) or, for persons without a box, the centroid of
  the found joints. The cost of giving detection :math:`j` to track :math:`k` is :math:`1 - \mathrm{IoU}`
  of the predicted and the detected box when both have boxes, else the centroid distance divided by the
  track's body size (the larger side of its joints' extent). Pairs are taken cheapest first, each track and
  detection once, within the gates ``min_iou`` (default 0.1) and one body size; an unmatched detection
  starts a track; a track unseen for more than ``max_gap`` frames ends. The prediction keeps the identity
  of two people whose boxes cross.

The ``num_persons`` most active tracks are kept, most active first: activity is the sum of all the
track's keypoint scores. A joint that the estimator did not find (score 0) or whose score is below
``min_score`` becomes missing: its ``x, y`` are zero (pygkd's missing-joint convention) and its score is
kept, so the confidence channel still tells how unsure the estimator was. Frames where a kept person is
absent are zeros.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..raw import DataFormatError
from .pose_frames import PersonPose, PoseFrame


def clip_layout(frames: Sequence[PoseFrame], where: str) -> str:
    """The one layout of a clip's frames; no person at all, or two layouts, is a :class:`DataFormatError`."""
    first = next((f for f in frames if f.layout is not None), None)
    if first is None:
        raise DataFormatError(f"{where}: no person in any frame ({len(frames)} frames)")
    for f in frames:
        if f.layout is not None and f.layout != first.layout:
            count = len(f.persons[0].keypoints)
            raise DataFormatError(
                f"{f.source}: {count} keypoints (layout {f.layout}), but {first.source} has "
                f"{len(first.persons[0].keypoints)} (layout {first.layout}); expected one layout per clip"
            )
    return first.layout


def found(person: PersonPose) -> np.ndarray:
    """``[V]`` bool: joints the estimator found (score > 0)."""
    return person.keypoints[:, 2] > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes ``x1, y1, x2, y2``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class _Detection:
    """A person of one frame with where it is: ``centre`` (box centre, or ``centroid`` without a box), the
    centroid of its found joints and its body size (the larger side of their extent, at least 1e-6)."""

    person: PersonPose
    centre: np.ndarray
    centroid: np.ndarray
    size: float

    @classmethod
    def of(cls, person: PersonPose) -> "_Detection":
        xy = person.keypoints[found(person), :2].astype(np.float64)
        centroid = xy.mean(axis=0)
        centre = centroid if person.bbox is None else (person.bbox[:2] + person.bbox[2:]) / 2
        return cls(person, centre, centroid, max(float((xy.max(axis=0) - xy.min(axis=0)).max()), 1e-6))


@dataclass
class _Track:
    """A person followed over frames: ``members`` maps frame position -> pose; ``recent`` holds the last
    two ``(frame, detection)`` of a linked track."""

    members: dict[int, PersonPose] = field(default_factory=dict)
    recent: list[tuple[int, _Detection]] = field(default_factory=list)

    def add(self, t: int, detection: _Detection) -> None:
        self.members[t] = detection.person
        self.recent = self.recent[-1:] + [(t, detection)]

    def cost(self, t: int, detection: _Detection, min_iou: float) -> float | None:
        """Cost of giving ``detection`` at frame ``t`` to this track (module docstring); ``None`` outside
        the gate."""
        t2, last = self.recent[-1]
        shift = np.zeros(2)
        if len(self.recent) == 2:
            t1, before = self.recent[0]
            shift = (last.centre - before.centre) / (t2 - t1) * (t - t2)
        if last.person.bbox is not None and detection.person.bbox is not None:
            overlap = iou(last.person.bbox + np.tile(shift, 2), detection.person.bbox)
            return 1.0 - overlap if overlap >= min_iou else None
        distance = float(np.hypot(*(last.centroid + shift - detection.centroid))) / last.size
        return distance if distance <= 1.0 else None


def _tracks_by_id(frames: Sequence[PoseFrame]) -> list[_Track] | None:
    """Tracks from the estimator's ids, or ``None`` when some person lacks one or a frame repeats one."""
    tracks: dict[int, _Track] = {}
    for t, frame in enumerate(frames):
        ids = [p.track_id for p in frame.persons]
        if None in ids or len(set(ids)) != len(ids):
            return None
        for person in frame.persons:
            tracks.setdefault(person.track_id, _Track()).members[t] = person
    return list(tracks.values())


def _linked_tracks(frames: Sequence[PoseFrame], min_iou: float, max_gap: int) -> list[_Track]:
    """Greedy frame-to-frame linking (module docstring)."""
    tracks: list[_Track] = []
    for t, frame in enumerate(frames):
        detections = [_Detection.of(p) for p in frame.persons if found(p).any()]
        pairs = []
        for k, track in enumerate(tracks):
            if t - track.recent[-1][0] <= max_gap:
                for j, detection in enumerate(detections):
                    cost = track.cost(t, detection, min_iou)
                    if cost is not None:
                        pairs.append((cost, k, j))
        taken_tracks, taken = set(), set()
        for _, k, j in sorted(pairs):
            if k not in taken_tracks and j not in taken:
                tracks[k].add(t, detections[j])
                taken_tracks.add(k)
                taken.add(j)
        for j, detection in enumerate(detections):
            if j not in taken:
                track = _Track()
                track.add(t, detection)
                tracks.append(track)
    return tracks


def link_persons(
    frames: Sequence[PoseFrame],
    num_persons: int,
    where: str,
    *,
    min_score: float = 0.0,
    min_iou: float = 0.1,
    max_gap: int = 15,
) -> np.ndarray:
    """The ``[M, T, V, 3]`` float32 keypoints (``x, y, score``) of a clip's ordered frames.

    Args:
        frames: the clip's frames in time order (see :func:`~.pose_frames.order_frames`); ``T = len(frames)``.
        num_persons: the most persons to keep (``M <= num_persons``; fewer when fewer were seen).
        where: the clip, for messages.
        min_score: joints scored below it become missing (``x = y = 0``, score kept).
        min_iou: the least box overlap that links a detection to a track.
        max_gap: frames a track may go unseen and still be continued.

    Raises :class:`DataFormatError` when no frame has a person or the frames mix layouts.
    """
    if num_persons < 1:
        raise ValueError(f"num_persons must be >= 1, got {num_persons}")
    clip_layout(frames, where)
    tracks = _tracks_by_id(frames)
    if tracks is None:
        tracks = _linked_tracks(frames, min_iou, max_gap)
    if not tracks:
        raise DataFormatError(f"{where}: no person with a found joint in any frame ({len(frames)} frames)")
    activity = [sum(float(p.keypoints[:, 2].sum()) for p in track.members.values()) for track in tracks]
    order = sorted(range(len(tracks)), key=lambda k: -activity[k])[:num_persons]  # stable: first seen first
    num_joints = len(next(iter(tracks[0].members.values())).keypoints)
    out = np.zeros((len(order), len(frames), num_joints, 3), np.float32)
    for m, k in enumerate(order):
        for t, person in tracks[k].members.items():
            out[m, t] = person.keypoints
    missing = (out[..., 2] <= 0) | (out[..., 2] < min_score)
    out[..., :2][missing] = 0.0
    return out
