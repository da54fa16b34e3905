"""Clips of pose-estimator output, in any format pygkd reads, as ``[M, T, V, 3]`` keypoints.

:func:`read_pose_clips` is what the ``openpose``, ``coco_results``, ``mmpose``, ``alphapose`` and
``mediapipe`` readers (:mod:`.pose_dataset`) and ``pygkd predict`` read a user's files with. A path is one
clip (a file, or a folder of OpenPose frame files) or a folder searched recursively for clips; with
``fmt=None`` each file's format is told by its name and content:

=============================  ===============================================================
``*_keypoints.json``           OpenPose frame files (:mod:`.openpose`), grouped into clips by folder or prefix
``alphapose-results.json``     AlphaPose results, one clip (:mod:`.alphapose`)
other ``*.json``               MMPose predictions (:mod:`.mmpose`), AlphaPose / COCO results (image ids
                               are frame numbers), or one OpenPose frame, by content
``*.jsonl``                    MediaPipe landmarks as JSON lines (:mod:`.mediapipe`)
``*.csv`` with the MediaPipe   MediaPipe landmarks as CSV; other CSV files (labels, splits) are not clips
header
=============================  ===============================================================

A named ``fmt`` reads only that format's files (``mmpose``: every ``*.json``; ``alphapose``: every results
``*.json``); ``coco_results`` reads one results file whose clips come from the ``images`` mapping
(:mod:`.coco_results`). Hidden files and folders are skipped. Every clip's frames are ordered
(:func:`~.pose_frames.order_frames`) and its persons linked (:func:`~.person_tracks.link_persons`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..raw import DataFormatError
from . import POSE_FORMATS
from .alphapose import RESULTS_FILE, alphapose_clip, is_results_list, results_frames
from .clip_files import ClipSource, load_json, relative_parts
from .coco_results import coco_clips
from .mediapipe import is_mediapipe_csv, mediapipe_clip
from .mmpose import is_mmpose, mmpose_clip, mmpose_frames
from .openpose import SUFFIX as OPENPOSE_SUFFIX
from .openpose import openpose_clips
from .person_tracks import clip_layout, link_persons
from .pose_frames import PoseFrame, openpose_frame, order_frames

FORMATS: tuple[str, ...] = POSE_FORMATS


@dataclass
class PoseClip:
    """One clip read from a pose estimator's output.

    Attributes:
        clip_id: the clip's name (folder, file stem or file-name prefix).
        keypoints: ``[M, T, V, 3]`` float32 ``x, y, score``; missing joints have ``x = y = 0``.
        layout: the layout name of ``V`` (``coco17``, ``body25``, ``openpose18``, ``halpe26``, ``mediapipe33``).
        source: the file or folder the clip was read from.
    """

    clip_id: str
    keypoints: np.ndarray
    layout: str
    source: str = ""


def json_frames(obj: Any, path: Path) -> list[PoseFrame]:
    """The frames of a ``.json`` file of a format told by its content."""
    if is_mmpose(obj):
        return mmpose_frames(obj, path)
    if is_results_list(obj):
        return results_frames(obj, path)
    if isinstance(obj, dict) and "people" in obj:
        return [openpose_frame(obj, str(path))]
    raise DataFormatError(
        f"{path}: not a pose clip; expected MMPose predictions ([{{frame_id, instances}}] or {{meta_info, "
        "instance_info}}), AlphaPose/COCO results ([{image_id, keypoints, score}]) or an OpenPose frame {people}"
    )


def _json_clip(path: Path, root: Path) -> ClipSource:
    return ClipSource(path.stem, path, relative_parts(path, root), lambda: json_frames(load_json(path), path))


def _folder_clips(folder: Path, names: list[str], root: Path, fmt: str | None) -> list[ClipSource]:
    """The clips of the files ``names`` directly in ``folder``."""
    paths = [folder / n for n in sorted(names) if not n.startswith(".")]
    frame_files = [p for p in paths if p.name.endswith(OPENPOSE_SUFFIX)]
    clips = openpose_clips(folder, frame_files, root) if frame_files and fmt in (None, "openpose") else []
    for path in paths:
        suffix = path.suffix.lower()
        if path.name.endswith(OPENPOSE_SUFFIX):
            continue
        if suffix == ".json" and (path.name == RESULTS_FILE and fmt in (None, "alphapose") or fmt == "alphapose"):
            clips.append(alphapose_clip(path, root))
        elif suffix == ".json" and fmt in (None, "mmpose"):
            clips.append(mmpose_clip(path, root) if fmt == "mmpose" else _json_clip(path, root))
        elif fmt in (None, "mediapipe") and (suffix == ".jsonl" or suffix == ".csv" and is_mediapipe_csv(path)):
            clips.append(mediapipe_clip(path, root))
    return clips


def find_clips(path: str | Path, fmt: str | None = None, images: str | Path | None = None) -> list[ClipSource]:
    """The clips under ``path`` (module docstring), not yet read; clip ids must be unique.

    Args:
        path: a clip file, a folder of OpenPose frame files, or a folder of clips (searched recursively).
        fmt: one of :data:`FORMATS`, or ``None`` to tell each file's format by its name and content.
        images: the frame -> clip mapping of a COCO results file (a COCO annotation file or a CSV).
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown pose format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataFormatError(f"{path}: no such file or folder")
    if fmt == "coco_results" or images is not None:
        if not path.is_file():
            raise DataFormatError(f"{path}: expected the COCO results file (a .json list of results)")
        clips = coco_clips(path, None if images is None else Path(images))
    elif path.is_file():
        clips = _folder_clips(path.parent, [path.name], path.parent, fmt)
        if not clips:
            raise DataFormatError(f"{path}: not a clip file of {fmt or 'a known format'} (see docs/formats.md)")
    else:
        clips = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            clips += _folder_clips(Path(folder), files, path, fmt)
    if not clips:
        raise DataFormatError(f"{path}: no pose clips of {fmt or 'any known format'} found (see docs/formats.md)")
    seen: dict[str, ClipSource] = {}
    for clip in clips:
        if clip.clip_id in seen:
            raise DataFormatError(f"clip id {clip.clip_id!r} twice: {seen[clip.clip_id].path} and {clip.path}; "
                                  "clip ids (folder names, file stems) must be unique")
        seen[clip.clip_id] = clip
    return clips


def clip_where(source: ClipSource) -> str:
    """A clip's name for messages: its path, and its id when the path does not say it."""
    if source.clip_id in (source.path.name, source.path.stem):
        return str(source.path)
    return f"{source.path}: clip {source.clip_id!r}"


def load_clip(source: ClipSource, num_persons: int = 2, min_score: float = 0.0) -> PoseClip:
    """Read one clip: order its frames, link its persons (:func:`~.person_tracks.link_persons`)."""
    where = clip_where(source)
    frames = order_frames(source.read(), where)
    keypoints = link_persons(frames, num_persons, where, min_score=min_score)
    return PoseClip(source.clip_id, keypoints, clip_layout(frames, where), str(source.path))


def read_pose_clips(
    path: str | Path,
    fmt: str | None = None,
    num_persons: int = 2,
    *,
    images: str | Path | None = None,
    min_score: float = 0.0,
) -> Iterator[PoseClip]:
    """The clips under ``path``, one at a time (see :func:`find_clips` and :func:`load_clip`)."""
    for source in find_clips(path, fmt, images):
        yield load_clip(source, num_persons, min_score)
