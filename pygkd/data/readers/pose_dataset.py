"""A dataset of pose-estimator output: the ``openpose``, ``coco_results``, ``mmpose``, ``alphapose`` and
``mediapipe`` readers (``pygkd prepare FORMAT --root DIR -o KEY=VALUE ...``).

The clips under ``root`` (:mod:`.pose_clips`) become samples of stream ``lq`` (the estimator's output is
the paper's low-quality skeleton), channels ``x, y, score``, labelled and split by :mod:`.clip_labels`,
optionally paired with the ``hq`` stream of another reader by clip id (:mod:`.hq_pairing`). The layout is
the first clip's; every clip must have it. Sample metadata ``source``: the clip's path under ``root``.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...skeleton import get_layout
from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo
from . import get_reader
from .clip_files import ClipSource
from .clip_labels import annotate_clips
from .hq_pairing import LqClips, pair_with_hq
from .pose_clips import clip_where, find_clips, load_clip

CHANNELS = ("x", "y", "score")
FROM_HQ = "hq"
FROM_FOLDERS = "folders"


def renamed(sources: list[ClipSource], pattern: str) -> list[ClipSource]:
    """The clips with ids cut out of their names by ``pattern`` (its first group, or the whole match)."""
    regex = re.compile(pattern)
    out, seen = [], {}
    for source in sources:
        match = regex.search(source.clip_id)
        if match is None:
            raise DataFormatError(f"{clip_where(source)}: clip id {source.clip_id!r} does not match id_pattern "
                                  f"{pattern!r}")
        clip_id = match.group(1) if regex.groups else match.group(0)
        if clip_id in seen:
            raise DataFormatError(f"id_pattern {pattern!r} gives {clip_id!r} to both {seen[clip_id]} and {source.path}")
        seen[clip_id] = source.path
        out.append(ClipSource(clip_id, source.path, source.parts, source.read))
    return out


def read_hq(hq_reader: str, hq_root: str | Path | None, hq_options: Mapping[str, Any] | None) -> RawDataset:
    """The HQ side: reader ``hq_reader`` called on ``hq_root`` with ``hq_options``."""
    try:
        reader = get_reader(hq_reader)
    except ValueError as err:
        raise DataFormatError(f"hq_reader: {err}") from None
    args = () if hq_root is None else (Path(hq_root),)
    options = dict(hq_options or {})
    try:
        inspect.signature(reader).bind(*args, **options)
    except TypeError as err:
        raise DataFormatError(f"hq_reader {hq_reader} (hq_root, hq_options): {err}; it takes "
                              f"{inspect.signature(reader)}") from None
    return reader(*args, **options)


def annotation_sources(labels: Any, splits: Any, hq_reader: str | None) -> tuple[Any, Any]:
    """``labels`` and ``splits`` with their defaults (folders / none, or the HQ reader's), checked."""
    if labels is None:
        labels = FROM_FOLDERS if hq_reader is None else FROM_HQ
    if splits is None and hq_reader is not None:
        splits = FROM_HQ
    if not isinstance(labels, (str, Path)):
        raise DataFormatError(f"labels={labels!r}: expected a clip,label CSV file, {FROM_FOLDERS!r} or {FROM_HQ!r}")
    if splits is not None and not isinstance(splits, (str, Path, Mapping)):
        raise DataFormatError(f"splits={splits!r}: expected a clip,split CSV file, fractions {{train: 0.8, test: "
                              f"0.2}} or {FROM_HQ!r}")
    if FROM_HQ in (labels, splits) and hq_reader is None:
        raise DataFormatError(f"labels={labels}, splits={splits}: 'hq' needs hq_reader (and hq_root)")
    if labels == FROM_HQ and splits != FROM_HQ:
        raise DataFormatError(f"splits={splits}: with labels=hq the splits are the HQ reader's too (splits=hq)")
    return labels, splits


def read_pose_dataset(
    root: Path,
    fmt: str | None = None,
    labels: str | Path | None = None,
    splits: str | Path | Mapping[str, float] | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    num_persons: int = 2,
    min_score: float = 0.0,
    images: str | Path | None = None,
    id_pattern: str | None = None,
    hq_reader: str | None = None,
    hq_root: str | Path | None = None,
    hq_options: Mapping[str, Any] | None = None,
) -> RawDataset:
    """Read the pose clips under ``root`` as a dataset (module docstring; ``docs/formats.md``).

    Args:
        root: a folder of clips (or one clip; for ``coco_results`` the results file).
        fmt: the format (fixed by the dataset name), ``None`` to tell it per file.
        labels: a ``clip,label`` CSV, ``"folders"`` for the label folders ``ROOT/label/clip...``, or
            ``"hq"`` for the HQ reader's labels; default ``"folders"``, or ``"hq"`` when ``hq_reader`` is given.
        splits: a ``clip,split`` CSV, fractions ``{train: 0.8, test: 0.2}`` drawn per class with ``seed``,
            or ``"hq"``; default none, or ``"hq"`` when ``hq_reader`` is given.
        class_names: the classes in label order; default the labels found, sorted.
        num_persons: the most persons per clip (the most active, :mod:`.person_tracks`).
        min_score: joints scored below it become missing.
        images: the frame -> clip mapping of a COCO results file.
        id_pattern: a regular expression cutting the clip id out of each clip's name (its first group),
            e.g. ``"(S\\d{3}C\\d{3}P\\d{3}R\\d{3}A\\d{3})"`` for OpenPose files of NTU's ``..._rgb`` videos.
        hq_reader, hq_root, hq_options: the reader (a dataset name or ``module:function``) of the HQ stream,
            its root and its options; its samples are paired with the clips by id.
    """
    root = Path(root)
    sources = find_clips(root, fmt, images)
    if id_pattern is not None:
        sources = renamed(sources, id_pattern)
    first = load_clip(sources[0], num_persons, min_score)
    get_layout(first.layout)  # a layout pygkd does not know fails before anything is written
    info = StreamInfo(first.layout, CHANNELS)
    cached = {first.clip_id: first.keypoints}

    def reader(source: ClipSource):
        def read() -> np.ndarray:
            if source.clip_id in cached:
                return cached.pop(source.clip_id)
            clip = load_clip(source, num_persons, min_score)
            if clip.layout != info.layout:
                raise DataFormatError(f"{clip_where(source)}: layout {clip.layout}, but the first clip "
                                      f"{first.clip_id!r} is {info.layout}; expected one layout for all clips")
            return clip.keypoints
        return read

    lq = LqClips(info, {s.clip_id: reader(s) for s in sources}, {s.clip_id: {"source": "/".join(s.parts)}
                                                                 for s in sources})
    labels, splits = annotation_sources(labels, splits, hq_reader)
    annotations = None
    if labels != FROM_HQ:
        folders = {s.clip_id: s.parts for s in sources}
        annotations = annotate_clips(folders, root, None if labels == FROM_FOLDERS else labels,
                                     None if splits == FROM_HQ else splits, class_names, seed)
    name = root.stem
    if hq_reader is not None:
        return pair_with_hq(name, lq, read_hq(hq_reader, hq_root, hq_options), annotations, splits == FROM_HQ)

    def samples():
        for clip, read in lq.read.items():
            if clip in annotations.labels:
                yield RawSample(clip, annotations.labels[clip], {"lq": read()}, annotations.splits[clip], lq.meta[clip])

    return RawDataset(name, annotations.class_names, {"lq": info}, samples, len(annotations.labels),
                      annotations.skipped, annotations.notes)
