"""One frame of a pose estimator's output, whatever the estimator: the persons seen in one image.

:func:`parse_frame` recognises one frame of each per-frame format that pygkd reads, by its keys:

=====================================  ==============================================================
an OpenPose frame file                 ``{"version", "people": [{"person_id", "pose_keypoints_2d"}]}``
an MMPose frame                        ``{"frame_id", "instances": [{"keypoints", "keypoint_scores",
                                       "bbox", "bbox_score"[, "track_id"]}]}``
a MediaPipe frame (pygkd's schema)     ``{"frame", "landmarks": [[x, y, z, visibility] * 33]}`` or
                                       ``{"frame", "poses": [[[x, y, z, visibility] * 33], ...]}``
the COCO / AlphaPose results of one    ``[{"image_id", "category_id", "keypoints": [x, y, c] * K,
image                                  "score"[, "box", "idx"]}]``
the MMPose instances of one image      ``[{"keypoints", "keypoint_scores", ...}]``
=====================================  ==============================================================

The layout follows from the keypoint count (:data:`LAYOUT_OF_COUNT`): 17 ``coco17``, 18 ``openpose18``
(OpenPose COCO-18), 25 ``body25`` (OpenPose BODY_25), 26 ``halpe26`` (AlphaPose Halpe), 33 ``mediapipe33``
(BlazePose); the whole-body layouts keep their body joints: COCO-WholeBody (133) its first 17 (``coco17``),
Halpe-136 its first 26 (``halpe26``). Every person becomes a :class:`PersonPose` ``[V, 3]`` of ``x, y,
score`` in the estimator's own units (pixels; MediaPipe: normalised image coordinates, its ``z`` dropped).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..raw import DataFormatError

#: keypoint count -> (layout name, joints kept); the whole-body layouts keep their leading body joints.
LAYOUT_OF_COUNT: dict[int, tuple[str, int]] = {
    17: ("coco17", 17),
    18: ("openpose18", 18),
    25: ("body25", 25),
    26: ("halpe26", 26),
    33: ("mediapipe33", 33),
    133: ("coco17", 17),  # COCO-WholeBody: body 0-16, feet, face, hands
    136: ("halpe26", 26),  # Halpe-FullBody: Halpe-26 body 0-25, face, hands
}
COUNT_NAMES = {17: "COCO-17", 18: "OpenPose COCO-18", 25: "OpenPose BODY_25", 26: "Halpe-26", 33: "MediaPipe-33",
               133: "COCO-WholeBody-133", 136: "Halpe-136"}
OPENPOSE_COUNTS = (25, 18)
COCO_COUNTS = (17,)
MMPOSE_COUNTS = (17, 26, 133)
ALPHAPOSE_COUNTS = (17, 26, 136)
MEDIAPIPE_COUNTS = (33,)
RESULT_COUNTS = (17, 26, 136)  # COCO results are 17; AlphaPose writes the same records with 26 or 136
MAX_SPAN_FACTOR = 100  # frame numbers may leave gaps (no detection), up to this many frames per frame read


@dataclass
class PersonPose:
    """One person in one frame.

    Attributes:
        keypoints: ``[V, 3]`` float32 ``x, y, score``; a joint the estimator did not find has score 0.
        track_id: the estimator's identity of this person across frames, or ``None`` without tracking.
        bbox: ``[4]`` float32 box ``x1, y1, x2, y2`` in the units of ``keypoints``, or ``None``.
    """

    keypoints: np.ndarray
    track_id: int | None = None
    bbox: np.ndarray | None = None


@dataclass
class PoseFrame:
    """The persons of one frame.

    Attributes:
        index: the frame's number in its clip (as the file or record gives it), or ``None`` when the
            format has none (then the frame's position in its file counts).
        persons: the persons, in the estimator's order.
        layout: layout name of every person's keypoints; ``None`` for a frame without persons.
        source: where the frame was read (file, line or record), for messages.
    """

    index: int | None
    persons: list[PersonPose]
    layout: str | None
    source: str = ""


# --------------------------------------------------------------------------------------------- numbers


def is_number(value: Any) -> bool:
    """An int or float (numpy's too), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def numbers(values: Any, where: str, what: str) -> np.ndarray:
    """A JSON list of numbers -> float64 array; anything else is a :class:`DataFormatError`."""
    if not isinstance(values, (list, tuple)):
        raise DataFormatError(f"{where}: {what} is a {type(values).__name__}, expected a list of numbers")
    if not all(type(v) is float or type(v) is int for v in values):  # the fast path: what json gives
        for k, value in enumerate(values):
            if not is_number(value):
                raise DataFormatError(f"{where}: {what}[{k}] is {value!r}, expected a number")
    return np.asarray(values, dtype=np.float64)


def number_rows(rows: Any, width: int, where: str, what: str, row_name: str) -> np.ndarray:
    """A JSON list of rows of ``width`` numbers -> ``[K, width]`` float64; anything else is a
    :class:`DataFormatError` naming the first bad row."""
    if not isinstance(rows, list):
        raise DataFormatError(f"{where}: {what} is a {type(rows).__name__}, expected a list of {row_name}s")
    try:
        table = np.array(rows)
    except ValueError:  # ragged
        table = None
    if table is not None and table.dtype.kind in "iuf" and table.shape == (len(rows), width):
        return table.astype(np.float64)
    for k, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise DataFormatError(f"{where}: {what}[{k}] is {row!r}, expected {row_name}")
        numbers(row, where, f"{what}[{k}]")
    return np.zeros((0, width))  # an empty list


def layout_of(count: int, allowed: Sequence[int], where: str, what: str) -> tuple[str, int]:
    """(layout, joints kept) of ``count`` keypoints, which must be one of the format's ``allowed`` counts."""
    if count not in allowed:
        expected = " or ".join(f"{c} ({COUNT_NAMES[c]})" for c in allowed)
        raise DataFormatError(f"{where}: {what} has {count} keypoints, expected {expected}")
    return LAYOUT_OF_COUNT[count]


def checked_pose(xy: np.ndarray, score: np.ndarray, keep: int, where: str) -> np.ndarray:
    """``xy [K, 2]`` and ``score [K]`` -> ``[keep, 3]`` float32; coordinates must be finite and scores
    finite and >= 0."""
    bad_score = np.flatnonzero(~((score >= 0) & (score < np.inf)))  # NaN fails both
    if bad_score.size:
        k = int(bad_score[0])
        raise DataFormatError(f"{where}: keypoint {k} has confidence {score[k]}, expected a finite score >= 0")
    if not np.isfinite(xy).all():
        k, c = (int(i) for i in np.argwhere(~np.isfinite(xy))[0])
        raise DataFormatError(f"{where}: keypoint {k} has {'xy'[c]} = {xy[k, c]}, expected a finite coordinate")
    return np.concatenate([xy[:keep], score[:keep, None]], axis=1).astype(np.float32)


def track_id_of(value: Any) -> int | None:
    """An estimator's person id -> ``int``, or ``None`` when it names no track.

    OpenPose writes ``person_id: [-1]`` (``-1``: no tracking); AlphaPose writes ``idx`` as a number with
    tracking, and as a list of the merged detections' ids without (a one-element list counts as an id).
    """
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if is_number(value) and math.isfinite(value) and value == int(value) and value >= 0:
        return int(value)
    return None


def box_xyxy(values: Any, where: str, what: str, xywh: bool) -> np.ndarray:
    """A box ``[x1, y1, x2, y2]`` (``xywh``: ``[x, y, w, h]``); MMPose nests it once, ``[[x1, y1, x2, y2]]``."""
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    box = numbers(values, where, what)
    if box.shape != (4,) or not np.isfinite(box).all():
        raise DataFormatError(f"{where}: {what} is {values!r}, expected 4 finite numbers")
    if xywh:
        box[2:] += box[:2]
    return box.astype(np.float32)


def frame_number(name: str, where: str) -> int:
    """The frame number of an image file name: its last run of digits (``"0.jpg"`` -> 0,
    ``"clip/frame_0012.png"`` -> 12)."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    found = re.findall(r"\d+", stem)
    if not found:
        raise DataFormatError(f"{where}: image {name!r} has no frame number (digits) in its name")
    return int(found[-1])


# --------------------------------------------------------------------------------------------- persons


def flat_pose(record: Any, key: str, counts: Sequence[int], where: str, what: str) -> tuple[np.ndarray, str]:
    """``record[key]``, a flat ``x, y, c`` list, as checked ``[V, 3]`` keypoints and the layout of its count;
    ``what`` names the record the error expects (``"an object"``, ``"a result object"``)."""
    if not isinstance(record, dict) or key not in record:
        raise DataFormatError(f"{where}: expected {what} with {key!r}")
    flat = numbers(record[key], where, key)
    if flat.size % 3:
        raise DataFormatError(f"{where}: {key} has {flat.size} numbers, expected x, y, c per keypoint")
    layout, keep = layout_of(flat.size // 3, counts, where, key)
    kp = flat.reshape(-1, 3)
    return checked_pose(kp[:, :2], kp[:, 2], keep, where), layout


def openpose_person(person: Any, where: str) -> tuple[PersonPose, str]:
    """One entry of an OpenPose frame's ``people``: ``pose_keypoints_2d`` flat ``x, y, c`` (BODY_25 or COCO-18)."""
    keypoints, layout = flat_pose(person, "pose_keypoints_2d", OPENPOSE_COUNTS, where, "an object")
    return PersonPose(keypoints, track_id_of(person.get("person_id"))), layout


def result_person(result: Any, where: str, counts: Sequence[int] = RESULT_COUNTS) -> tuple[PersonPose, str]:
    """One COCO keypoint result or AlphaPose record: ``keypoints`` flat ``x, y, c``; AlphaPose adds ``box``
    ``[x, y, w, h]`` and ``idx`` (the track id when tracking was on)."""
    keypoints, layout = flat_pose(result, "keypoints", counts, where, "a result object")
    box = box_xyxy(result["box"], where, "box", xywh=True) if "box" in result else None
    return PersonPose(keypoints, track_id_of(result.get("idx")), box), layout


def mmpose_person(instance: Any, where: str) -> tuple[PersonPose, str]:
    """One MMPose instance: ``keypoints [[x, y], ...]``, ``keypoint_scores [...]``, ``bbox [[x1, y1, x2, y2]]``."""
    if not isinstance(instance, dict) or "keypoints" not in instance or "keypoint_scores" not in instance:
        raise DataFormatError(f"{where}: expected an instance with 'keypoints' and 'keypoint_scores'")
    xy = number_rows(instance["keypoints"], 2, where, "keypoints", "[x, y]")
    score = numbers(instance["keypoint_scores"], where, "keypoint_scores")
    if score.shape != (len(xy),):
        raise DataFormatError(f"{where}: {score.size} keypoint_scores for {len(xy)} keypoints")
    layout, keep = layout_of(len(xy), MMPOSE_COUNTS, where, "keypoints")
    box = box_xyxy(instance["bbox"], where, "bbox", xywh=False) if "bbox" in instance else None
    return PersonPose(checked_pose(xy, score, keep, where), track_id_of(instance.get("track_id")), box), layout


def mediapipe_person(landmarks: Any, where: str) -> tuple[PersonPose, str]:
    """33 MediaPipe pose landmarks, each ``[x, y, z, visibility]`` or ``{"x", "y", "z", "visibility"}``."""
    if isinstance(landmarks, list):
        landmarks = [[m.get(key) for key in ("x", "y", "z", "visibility")] if isinstance(m, dict) else m
                     for m in landmarks]
    table = number_rows(landmarks, 4, where, "landmarks", "[x, y, z, visibility]")
    layout, keep = layout_of(len(table), MEDIAPIPE_COUNTS, where, "landmarks")
    return PersonPose(checked_pose(table[:, :2], table[:, 3], keep, where)), layout


# --------------------------------------------------------------------------------------------- frames


def image_frame(image_id: Any, where: str) -> int:
    """The frame number of a result's ``image_id``: a number is itself, a file name (AlphaPose,
    ``"12.jpg"``) gives it by its digits."""
    if isinstance(image_id, str):
        return frame_number(image_id, where)
    return _index(image_id, where, "image_id")


def frame_of(index: int | None, parsed: list[tuple[PersonPose, str]], where: str) -> PoseFrame:
    """A frame of persons that must share one layout."""
    layouts = dict.fromkeys(layout for _, layout in parsed)
    if len(layouts) > 1:
        raise DataFormatError(f"{where}: persons of layouts {', '.join(layouts)} in one frame; expected one layout")
    return PoseFrame(index, [person for person, _ in parsed], next(iter(layouts), None), where)


def _index(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataFormatError(f"{where}: {key} is {value!r}, expected a frame number >= 0")
    return value


def _list_of(value: Any, where: str, key: str) -> list:
    if not isinstance(value, list):
        raise DataFormatError(f"{where}: '{key}' is a {type(value).__name__}, expected a list")
    return value


def openpose_frame(obj: dict, where: str) -> PoseFrame:
    people = _list_of(obj["people"], where, "people")
    return frame_of(None, [openpose_person(p, f"{where}: person {i}") for i, p in enumerate(people)], where)


def mmpose_frame(obj: dict, where: str) -> PoseFrame:
    index = _index(obj["frame_id"], where, "frame_id") if "frame_id" in obj else None
    instances = _list_of(obj["instances"], where, "instances")
    return frame_of(index, [mmpose_person(p, f"{where}: instance {i}") for i, p in enumerate(instances)], where)


def mediapipe_frame(obj: dict, where: str) -> PoseFrame:
    index = _index(obj["frame"], where, "frame") if "frame" in obj else None
    if "landmarks" in obj:
        poses = [obj["landmarks"]] if obj["landmarks"] else []
    else:
        poses = _list_of(obj["poses"], where, "poses")
    return frame_of(index, [mediapipe_person(p, f"{where}: person {i}") for i, p in enumerate(poses)], where)


def results_frame(results: list, where: str, counts: Sequence[int] = RESULT_COUNTS) -> PoseFrame:
    """The COCO / AlphaPose results of one image; they must share one ``image_id`` (:func:`image_frame`)."""
    ids = dict.fromkeys(r.get("image_id") if isinstance(r, dict) else None for r in results)
    if len(ids) != 1:
        raise DataFormatError(f"{where}: results of several images {list(ids)[:3]}; a frame is one image_id")
    (image_id,) = ids
    persons = [result_person(r, f"{where}: result {i}", counts) for i, r in enumerate(results)]
    return frame_of(image_frame(image_id, where), persons, where)


def parse_frame(obj: Any, where: str) -> PoseFrame:
    """One frame of any per-frame format (module docstring), e.g. one line of a ``--stream`` input.

    Raises :class:`DataFormatError` naming ``where`` and what was expected.
    """
    if isinstance(obj, dict):
        if "people" in obj:
            return openpose_frame(obj, where)
        if "instances" in obj:
            return mmpose_frame(obj, where)
        if "landmarks" in obj or "poses" in obj:
            return mediapipe_frame(obj, where)
    elif isinstance(obj, list):
        if not obj:
            return PoseFrame(None, [], None, where)
        if all(isinstance(r, dict) and "image_id" in r for r in obj):
            return results_frame(obj, where)
        if all(isinstance(r, dict) and "keypoint_scores" in r for r in obj):
            return mmpose_frame({"instances": obj}, where)
    raise DataFormatError(
        f"{where}: not a pose frame; expected an OpenPose frame {{\"people\": [...]}}, an MMPose frame "
        "{\"frame_id\", \"instances\"}, a MediaPipe frame {\"frame\", \"landmarks\"} or a list of the "
        "COCO/AlphaPose results of one image"
    )


def order_frames(frames: Sequence[PoseFrame], where: str) -> list[PoseFrame]:
    """Frames sorted by ``index``, gaps filled with empty frames (an estimator skips images where it saw
    nobody), so that position = ``index - first index``. Frames without an index keep their order.

    Raises :class:`DataFormatError` for two frames of one index (naming both sources), for a clip that
    mixes frames with and without an index, and for numbers spread over more than ``MAX_SPAN_FACTOR`` times
    as many frames as there are (image names that are not frame numbers, e.g. timestamps).
    """
    if not frames:
        raise DataFormatError(f"{where}: no frames, so no person in any frame")
    indexed = [f.index is not None for f in frames]
    if not any(indexed):
        return list(frames)
    if not all(indexed):
        f = frames[indexed.index(False)]
        raise DataFormatError(f"{where}: {f.source or 'a frame'} has no frame number, unlike the others")
    ordered = sorted(frames, key=lambda f: f.index)
    for a, b in zip(ordered, ordered[1:]):
        if a.index == b.index:
            raise DataFormatError(f"{where}: frame {a.index} appears twice: {a.source} and {b.source}")
    first, span = ordered[0].index, ordered[-1].index - ordered[0].index + 1
    if span > MAX_SPAN_FACTOR * len(ordered) + MAX_SPAN_FACTOR:
        raise DataFormatError(
            f"{where}: frame numbers {first}..{ordered[-1].index} for {len(ordered)} frames ({ordered[0].source} .. "
            f"{ordered[-1].source}); expected the frames of one clip, numbered in steps of 1"
        )
    out = [PoseFrame(first + t, [], None, f"{where}: frame {first + t} (no detection)")
           for t in range(span)]
    for f in ordered:
        out[f.index - first] = f
    return out
