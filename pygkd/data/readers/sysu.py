"""SYSU 3D Human-Object Interaction (Hu et al., CVPR 2015): Kinect v1 skeletons of 12 actions by 40 subjects.

The release (``SYSU3DAction``) keeps one folder per clip; the skeleton of a clip is the MATLAB Level-5 file
``sklWorld.mat`` whose variable ``SW`` is ``[20, 3, T]`` (joint, x/y/z, frame), joints in Kinect v1 SDK
order (layout ``kinect20``)::

    SYSU3DAction/3DvideoNorm/<subject>/video<k>/sklWorld.mat     k = 1..12 is the action
                                              /sklImage.mat      image coordinates (not read)

The dataset defines two settings, each evaluated on 30 random train/test splits: setting 1 trains on half
of the samples of every action, setting 2 on half of the subjects. The skeleton files carry no split, so
:func:`sysu_splits` draws them, seeded, from ``np.random.default_rng([seed, setting, split])``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from .matfile import load_mat

NUM_JOINTS = 20
VIDEO_FOLDER = re.compile(r"video(\d+)")

#: The 12 actions in the order of the dataset paper; folder ``video<k>`` holds action ``k``.
SYSU_ACTIONS = (
    "drinking", "pouring", "calling phone", "playing phone", "wearing backpack", "packing backpack",
    "sitting chair", "moving chair", "taking out wallet", "taking from wallet", "mopping", "sweeping",
)


@dataclass(frozen=True)
class Clip:
    """One clip: its ``sklWorld.mat``, action index (0-based) and subject index (0-based, sorted names)."""

    path: Path
    subject: str
    subject_index: int
    action: int

    @property
    def sample_id(self) -> str:
        return f"{self.subject}_video{self.action + 1}"


def _natural_key(name: str) -> tuple:
    """Sort ``"2"`` before ``"10"`` and ``"P2"`` before ``"P10"``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def find_clips(root: Path) -> list[Clip]:
    """Every ``<subject>/video<k>/sklWorld.mat`` under ``root`` or ``root/3DvideoNorm``."""
    base = root / "3DvideoNorm" if (root / "3DvideoNorm").is_dir() else root
    if not base.is_dir():
        raise DataFormatError(f"{root}: not a folder")
    subjects = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: _natural_key(p.name))
    clips = []
    for subject_index, subject in enumerate(subjects):
        for video in sorted(subject.iterdir(), key=lambda p: _natural_key(p.name)):
            match = VIDEO_FOLDER.fullmatch(video.name)
            if not (video.is_dir() and match):
                continue
            action = int(match.group(1))
            if not 1 <= action <= len(SYSU_ACTIONS):
                raise DataFormatError(f"{video}: action {action} outside video1..video{len(SYSU_ACTIONS)}")
            path = video / "sklWorld.mat"
            if not path.is_file():
                raise DataFormatError(f"{video}: expected the skeleton file {path.name}")
            clips.append(Clip(path, subject.name, subject_index, action - 1))
    if not clips:
        raise DataFormatError(f"{base}: no <subject>/video<k>/sklWorld.mat found")
    return clips


def read_skl_world(path: Path) -> np.ndarray:
    """``sklWorld.mat`` -> keypoints ``[1, T, 20, 3]`` float32 (``SW`` transposed)."""
    mat = load_mat(path, variable_names=["SW"])
    if "SW" not in mat:
        raise DataFormatError(f"{path}: no variable 'SW'")
    sw = np.asarray(mat["SW"])
    if sw.shape == (NUM_JOINTS, 3):  # MATLAB drops the trailing axis of a one-frame clip
        sw = sw[..., None]
    if sw.ndim != 3 or sw.shape[:2] != (NUM_JOINTS, 3):
        raise DataFormatError(f"{path}: SW has shape {sw.shape}, expected [{NUM_JOINTS} joints, 3, T frames]")
    return check_keypoints(sw.transpose(2, 0, 1)[None].astype(np.float32), NUM_JOINTS, 3, str(path))


def sysu_splits(clips: list[Clip], seed: int, num_splits: int) -> list[list[str]]:
    """Split names of every clip: ``s{setting}_split{i:02d}_{train|test}`` for both settings.

    Setting 1 puts a random half (rounded up) of the clips of each action in ``train``; setting 2 a
    random half (rounded up) of the subjects. Split ``i`` of setting ``s`` draws from
    ``np.random.default_rng([seed, s, i])``.
    """
    actions = np.array([c.action for c in clips])
    subjects = np.array([c.subject_index for c in clips])
    names: list[list[str]] = [[] for _ in clips]
    for i in range(num_splits):
        rng = np.random.default_rng([seed, 1, i])
        train_1 = np.zeros(len(clips), dtype=bool)
        for action in np.unique(actions):
            members = rng.permutation(np.flatnonzero(actions == action))
            train_1[members[: (len(members) + 1) // 2]] = True
        rng = np.random.default_rng([seed, 2, i])
        ids = rng.permutation(np.unique(subjects))
        train_2 = np.isin(subjects, ids[: (len(ids) + 1) // 2])
        for c in range(len(clips)):
            names[c] += [
                f"s1_split{i:02d}_{'train' if train_1[c] else 'test'}",
                f"s2_split{i:02d}_{'train' if train_2[c] else 'test'}",
            ]
    return names


def read_sysu(root: Path, seed: int = 0, num_splits: int = 30) -> RawDataset:
    """Read the SYSU 3D HOI skeletons under ``root`` (the ``SYSU3DAction`` folder or its ``3DvideoNorm``).

    Returns one stream ``"hq"`` (layout ``kinect20``, channels x, y, z as stored in ``SW``), label
    ``k - 1`` of folder ``video<k>``, and the splits of :func:`sysu_splits`. Metadata: ``subject``
    (folder name) and ``subject_index`` (its rank in natural sort order).
    """
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    clips = find_clips(Path(root))
    splits = sysu_splits(clips, seed, num_splits)

    def samples() -> Iterator[RawSample]:
        for clip, names in zip(clips, splits):
            yield RawSample(
                sample_id=clip.sample_id,
                label=clip.action,
                streams={"hq": read_skl_world(clip.path)},
                splits=tuple(names),
                meta={"subject": clip.subject, "subject_index": clip.subject_index},
            )

    return RawDataset(
        name="sysu",
        class_names=list(SYSU_ACTIONS),
        streams={"hq": StreamInfo("kinect20", ("x", "y", "z"))},
        samples=samples,
        num_samples=len(clips),
        notes={"splits": f"{num_splits} random splits per setting drawn with seed {seed} (not the release's lists)"},
    )
