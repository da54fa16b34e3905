"""AlphaPose ``alphapose-results.json``: the results of all images of one run in one list.

Each record is ``{"image_id": "0.jpg", "category_id": 1, "keypoints": [x, y, c] * K, "score", "box":
[x, y, w, h], "idx"}`` (AlphaPose ``docs/output.md``; the COCO results format plus ``box`` and ``idx``).
``K`` = 17 is COCO (``coco17``), 26 Halpe (``halpe26``), 136 Halpe-FullBody (its body joints 0-25:
``halpe26``). The frame number is the last run of digits of ``image_id`` (``"12.jpg"`` -> 12; a video
is written as ``0.jpg, 1.jpg, ...``); images where nobody was found have no record and become empty frames.
``idx`` is the track id when tracking was on (``--pose_track`` / ``--pose_flow``: a number); without
tracking it is a list of the merged detections' ids, which repeats within a frame, and the persons are
linked by their boxes (:mod:`.person_tracks`).

A clip is one results file: ``CLIP/alphapose-results.json`` is named after its folder, any other results
file after its stem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..raw import DataFormatError
from .clip_files import ClipSource, load_json, relative_parts
from .pose_frames import ALPHAPOSE_COUNTS, PersonPose, PoseFrame, frame_of, image_frame, result_person

RESULTS_FILE = "alphapose-results.json"


def is_results_list(obj: Any) -> bool:
    """Whether a JSON value looks like COCO / AlphaPose results: a list of records with ``image_id``."""
    return isinstance(obj, list) and bool(obj) and all(isinstance(r, dict) and "image_id" in r for r in obj)


def group_results(records: Any, path: Path, counts: Sequence[int]) -> dict[Any, list[tuple[PersonPose, str]]]:
    """``image_id`` -> its parsed persons, in file order; every message names the file and the record."""
    if not isinstance(records, list):
        raise DataFormatError(f"{path}: expected a list of results [{{image_id, keypoints, score}}, ...]")
    images: dict[Any, list[tuple[PersonPose, str]]] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "image_id" not in record:
            raise DataFormatError(f"{path}: result {i} is not an object with 'image_id'")
        image_id = record["image_id"]
        if not isinstance(image_id, (str, int)) or isinstance(image_id, bool):
            raise DataFormatError(f"{path}: result {i}: image_id {image_id!r} is not a file name or number")
        images.setdefault(image_id, []).append(result_person(record, f"{path}: result {i} (image_id {image_id!r})",
                                                             counts))
    return images


def results_frames(records: Any, path: Path, counts: Sequence[int] = ALPHAPOSE_COUNTS) -> list[PoseFrame]:
    """The frames of one clip's results, numbered by their ``image_id``."""
    if records == []:
        raise DataFormatError(f"{path}: no person in any frame (an empty list of results)")
    frames = []
    for image_id, persons in group_results(records, path, counts).items():
        where = f"{path}: image_id {image_id!r}"
        frames.append(frame_of(image_frame(image_id, where), persons, where))
    return frames


def alphapose_clip(path: Path, root: Path) -> ClipSource:
    """The clip of one results file (module docstring)."""
    named_by_folder = path.name == RESULTS_FILE
    clip_id = path.parent.name if named_by_folder else path.stem
    parts = relative_parts(path.parent, root) if named_by_folder else relative_parts(path, root)
    return ClipSource(clip_id, path, parts, lambda: results_frames(load_json(path), path))
