"""COCO keypoint detection results with a frame -> clip mapping.

The results file is the COCO results format for keypoints, ``[{"image_id": int, "category_id": 1,
"keypoints": [x, y, v] * 17, "score": float}, ...]`` (layout ``coco17``), for the images of many clips.
Which clip and frame an image is comes from ``images``, either

* a COCO annotation file (``{"images": [{"id", "file_name"}, ...], ...}``) whose file names are
  ``clip/frame.jpg`` (or ``label/clip/frame.jpg``): the clip is the image's folder, the frame number the
  last run of digits of its name; or
* a CSV with the columns ``image_id,clip,frame``.

Every image of the mapping is a frame of its clip, also one without results (an empty frame). A result
whose ``image_id`` is not in the mapping is an error naming the result. Without a mapping the results are
one clip whose ``image_id`` is the frame number.
"""
from __future__ import annotations

from pathlib import Path

from ..raw import DataFormatError
from .alphapose import group_results, results_frames
from .clip_files import ClipSource, load_json
from .clip_labels import read_csv_columns
from .pose_frames import COCO_COUNTS, PoseFrame, frame_number, frame_of


def image_table(images: Path) -> dict[int, tuple[tuple[str, ...], int, str]]:
    """``image id -> (clip path parts, frame number, where)`` from a COCO annotation file or a CSV."""
    images = Path(images)
    table: dict[int, tuple[tuple[str, ...], int, str]] = {}
    if images.suffix.lower() == ".csv":
        for line, (image_id, clip, frame) in read_csv_columns(images, ("image_id", "clip", "frame")):
            where = f"{images}:{line}"
            if not (image_id.isdigit() and frame.isdigit()):
                raise DataFormatError(f"{where}: image_id {image_id!r} and frame {frame!r} must be integers >= 0")
            _add(table, int(image_id), (tuple(clip.split("/")), int(frame), where))
        return table
    annotation = load_json(images)
    if not isinstance(annotation, dict) or not isinstance(annotation.get("images"), list):
        raise DataFormatError(f"{images}: expected a COCO annotation file {{\"images\": [{{id, file_name}}, ...]}}")
    for i, image in enumerate(annotation["images"]):
        where = f"{images}: images[{i}]"
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or "file_name" not in image:
            raise DataFormatError(f"{where}: expected {{\"id\": int, \"file_name\": \"clip/frame.jpg\"}}")
        folders = str(image["file_name"]).replace("\\", "/").split("/")[:-1]
        if not folders:
            raise DataFormatError(f"{where}: file_name {image['file_name']!r} has no clip folder; "
                                  "expected clip/frame.jpg")
        _add(table, image["id"], (tuple(folders), frame_number(str(image["file_name"]), where), where))
    return table


def _add(table: dict, image_id: int, entry: tuple) -> None:
    if image_id in table:
        raise DataFormatError(f"{entry[2]}: image_id {image_id} again (first at {table[image_id][2]})")
    table[image_id] = entry


def coco_clips(results: Path, images: Path | None) -> list[ClipSource]:
    """The clips of a results file, by the mapping ``images`` (module docstring); the results are read now
    so that a result outside the mapping fails before any clip is used."""
    results = Path(results)
    records = load_json(results)
    if images is None:
        frames = results_frames(records, results, COCO_COUNTS)
        return [ClipSource(results.stem, results, (results.stem,), _constant(frames))]
    table = image_table(Path(images))
    grouped = group_results(records, results, COCO_COUNTS)
    for image_id in grouped:
        if image_id not in table:
            first = next(i for i, r in enumerate(records) if r["image_id"] == image_id)
            raise DataFormatError(
                f"{results}: result {first}: image_id {image_id!r} is not in the images mapping {images}"
            )
    clips: dict[tuple[str, ...], list[PoseFrame]] = {}
    for image_id, (parts, frame, where) in table.items():
        persons = grouped.get(image_id, [])
        clips.setdefault(parts, []).append(frame_of(frame, persons, f"{results}: image_id {image_id} ({where})"))
    return [ClipSource(parts[-1], results, parts, _constant(frames)) for parts, frames in clips.items()]


def _constant(frames: list[PoseFrame]):
    return lambda: frames
