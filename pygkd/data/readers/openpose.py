"""OpenPose ``--write_json`` output: one ``*_keypoints.json`` file per frame.

A file is ``{"version", "people": [{"person_id", "pose_keypoints_2d": [x, y, c, ...], "face_keypoints_2d",
"hand_left_keypoints_2d", ...}]}`` (OpenPose ``doc/02_output.md``); only ``pose_keypoints_2d`` is read:
75 numbers are BODY_25 (layout ``body25``), 54 COCO-18 (``openpose18``). A video gives
``<video>_000000000000_keypoints.json``, ``<video>_000000000001_keypoints.json``, ...; images give
``<image>_keypoints.json``. The frame number is the last run of digits before ``_keypoints.json``, what
precedes it (less a trailing ``_``) is the file-name prefix.

Clips: the frame files of one folder whose prefixes are all equal are one clip named after the folder;
a folder with several prefixes holds one clip per prefix, named by the prefix (an empty prefix: the
folder's name).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..raw import DataFormatError
from .clip_files import ClipSource, load_json, relative_parts
from .pose_frames import PoseFrame, openpose_frame

SUFFIX = "_keypoints.json"
_NAME = re.compile(r"^(?P<prefix>.*?)_?(?P<number>\d+)_keypoints\.json$")


def frame_file_name(path: Path) -> tuple[str, int]:
    """``(prefix, frame number)`` of a ``*_keypoints.json`` file name."""
    match = _NAME.match(path.name)
    if match is None:
        raise DataFormatError(f"{path}: no frame number in the name; expected <clip>_<number>{SUFFIX}")
    return match["prefix"], int(match["number"])


def read_frame_file(path: Path, index: int | None = None) -> PoseFrame:
    """One OpenPose frame file as a :class:`PoseFrame` (``index``: the frame number)."""
    obj = load_json(path)
    if not isinstance(obj, dict) or "people" not in obj:
        raise DataFormatError(f"{path}: expected an OpenPose frame {{\"version\", \"people\": [...]}}")
    frame = openpose_frame(obj, str(path))
    frame.index = index
    return frame


def openpose_clips(folder: Path, files: list[Path], root: Path) -> list[ClipSource]:
    """The clips of the frame files ``files`` of one ``folder`` (module docstring)."""
    by_prefix: dict[str, list[tuple[Path, int]]] = {}
    for path in sorted(files):
        prefix, number = frame_file_name(path)
        by_prefix.setdefault(prefix, []).append((path, number))
    parts = relative_parts(folder, root)
    if len(by_prefix) == 1:
        return [_clip(folder.name, folder, parts, next(iter(by_prefix.values())))]
    above = parts if folder != root else ()
    return [_clip(prefix or folder.name, folder / f"{prefix}_*{SUFFIX}", above + (prefix or folder.name,), frames)
            for prefix, frames in by_prefix.items()]


def _clip(clip_id: str, path: Path, parts: tuple[str, ...], frames: list[tuple[Path, int]]) -> ClipSource:
    return ClipSource(clip_id, path, parts, lambda: [read_frame_file(file, number) for file, number in frames])
