"""UI-PRMD (Vakanski et al., Data 2018), "Segmented Movements": the same repetitions of 10 rehabilitation
exercises recorded by Vicon optical motion capture (39 markers, 100 Hz) and by a Kinect v2 (22 joints, 30 Hz).

Files below ``Segmented Movements/``, gzip-compressed CSV, one row per frame, no header::

    Vicon/Positions/mXX_sYY_eZZ_positions.txt.gz    T x 117: 39 markers x (x, y, z), absolute, mm, z up
    Kinect/Positions/mXX_sYY_eZZ_positions.txt.gz   T x 66: row 0 the absolute waist (x, y, z), rows 1-21 each
                                                    joint's offset from its parent in the parent's frame; cm
    Kinect/Angles/mXX_sYY_eZZ_angles.txt.gz         T x 66: each joint's rotation as Euler angles (degrees)

(movement XX, subject YY, repetition ZZ). A sample is one repetition: stream ``"hq"`` from Vicon, stream
``"lq"`` from Kinect, paired by ``mXX_sYY_eZZ``; the two are segmented separately, so their frame counts
differ (resample, do not index, to align them). Vicon lacks ``m03_s03`` (10 repetitions): those samples
have only ``"lq"``.

**Kinect forward kinematics.** With ``R(g, b, a) = Rz(a) · Ry(b) · Rx(g)`` for an angle row ``(g, b, a)``
and ``parent`` the Kinect skeleton's parent of each joint (:data:`KINECT_PARENTS`)::

    p[0] = off[0]                                   G[0] = R(ang[0])
    p[j] = p[parent(j)] + G[parent(j)] · off[j]     G[j] = G[parent(j)] · R(ang[j])

This is the dataset's MATLAB code (ported in ``tejas1904/UI-PRMD-Visualize-python-port``) except for the
arms: that code rotates the arm chains by the chest's own ``R(ang[2])`` alone, not by the accumulated
``G[2]``. Measured against the Vicon markers of the same repetitions, the plain chain above puts the
Kinect arm joints nearer the Vicon ones (see ``docs/formats.md``), so pygkd uses it throughout.

**Axes.** Both streams are in metres with y up: the Kinect stream stays in its camera frame (y up), and
the Vicon stream, z up in the lab frame, is turned by -90 degrees about x, ``(x, y, z) -> (x, z, -y)``.
The two frames still differ by a rotation about the vertical and a translation.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from .text_table import read_table

HQ_LAYOUT, LQ_LAYOUT = "uiprmd_vicon39", "uiprmd_kinect22"
VICON_MARKERS, KINECT_JOINTS = 39, 22

#: Parent of each Kinect joint (file order of layout ``uiprmd_kinect22``; -1 for the waist).
KINECT_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 2, 6, 7, 8, 2, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20)

#: Vicon lab frame (z up) -> pygkd's y-up frame: a rotation by -90 degrees about x, (x, y, z) -> (x, z, -y).
VICON_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

CLASS_NAMES: list[str] = [
    "deep squat", "hurdle step", "inline lunge", "side lunge", "sit to stand",
    "standing active straight leg raise", "standing shoulder abduction", "standing shoulder extension",
    "standing shoulder internal-external rotation", "standing shoulder scaption",
]
XSUB_TRAIN_SUBJECTS = frozenset(range(1, 8))  # s01-s07 train, s08-s10 test (no official split exists)

FILE_NAME = re.compile(r"(m(\d\d)_s(\d\d)_e(\d\d))_(positions|angles)\.txt\.gz")
LOCATIONS = (".", "Segmented Movements", "data/Segmented Movements")


def read_ui_prmd(root: Path) -> RawDataset:
    """Read UI-PRMD's correct ("Segmented Movements") repetitions.

    Args:
        root: the ``Segmented Movements`` folder (holding ``Kinect/`` and ``Vicon/``) or a folder above it
            (``Segmented Movements/`` or ``data/Segmented Movements/`` below ``root``).

    Returns streams ``"hq"`` (Vicon, layout ``uiprmd_vicon39``) and ``"lq"`` (Kinect, layout
    ``uiprmd_kinect22``), both x, y, z in metres with y up; labels ``movement - 1``; splits ``xsub_train``
    (subjects 1-7) / ``xsub_test`` (8-10); meta ``subject``, ``repetition``.
    """
    folder = _data_folder(Path(root))
    kinect = _files(folder / "Kinect" / "Positions", "positions")
    angles = _files(folder / "Kinect" / "Angles", "angles")
    vicon = _files(folder / "Vicon" / "Positions", "positions")
    unmatched = sorted(set(kinect) ^ set(angles))
    if unmatched:
        raise DataFormatError(f"{folder / 'Kinect'}: {unmatched[0]} has positions or angles but not both")
    names = sorted(set(kinect) | set(vicon))

    def samples() -> Iterator[RawSample]:
        for name in names:
            streams = {}
            if name in vicon:
                streams["hq"] = read_vicon(vicon[name])
            if name in kinect:
                streams["lq"] = read_kinect(kinect[name], angles[name])
            yield _sample(name, streams)

    return RawDataset(
        name="ui_prmd",
        class_names=list(CLASS_NAMES),
        streams={
            "hq": StreamInfo(layout=HQ_LAYOUT, channels=("x", "y", "z")),
            "lq": StreamInfo(layout=LQ_LAYOUT, channels=("x", "y", "z")),
        },
        samples=samples,
        num_samples=len(names),
        notes={
            "pairs": len(set(kinect) & set(vicon)),
            "lq_only": sorted(set(kinect) - set(vicon)),
            "hq_only": sorted(set(vicon) - set(kinect)),
            "fps": {"hq": 100, "lq": 30},
            "axes": "metres, y up; Vicon (x, y, z) -> (x, z, -y); Kinect camera frame",
            "split": "xsub: subjects 1-7 train, 8-10 test (not official)",
        },
    )


def read_vicon(path: Path) -> np.ndarray:
    """A Vicon positions file -> ``[1, T, 39, 3]`` float32, metres, y up."""
    table = read_table(path, VICON_MARKERS * 3, delimiter=",")
    markers = table.reshape(-1, VICON_MARKERS, 3) @ VICON_TO_Y_UP.T / 1000.0
    return check_keypoints(markers[None], VICON_MARKERS, 3, str(path))


def read_kinect(positions: Path, angles: Path) -> np.ndarray:
    """Kinect positions and angles files -> absolute joints ``[1, T, 22, 3]`` float32, metres."""
    offsets = read_table(positions, KINECT_JOINTS * 3, delimiter=",").reshape(-1, KINECT_JOINTS, 3)
    rotations = read_table(angles, KINECT_JOINTS * 3, delimiter=",").reshape(-1, KINECT_JOINTS, 3)
    if len(offsets) != len(rotations):
        raise DataFormatError(f"{positions}: {len(offsets)} frames, but {angles.name} has {len(rotations)}")
    joints = kinect_forward_kinematics(offsets, rotations) / 100.0
    return check_keypoints(joints[None], KINECT_JOINTS, 3, str(positions))


def kinect_forward_kinematics(offsets: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Absolute joint positions from parent-relative offsets and Euler angles (module docstring).

    Args:
        offsets: ``[T, 22, 3]``; row 0 the absolute waist, row ``j`` the offset of joint ``j`` from its parent.
        angles: ``[T, 22, 3]`` Euler angles ``(g, b, a)`` in degrees.

    Returns:
        ``[T, 22, 3]`` positions in the units of ``offsets``.
    """
    local = euler_rotation(angles)
    positions = np.empty_like(offsets)
    frames = np.empty_like(local)  # G[j]: joint j's accumulated rotation
    positions[:, 0], frames[:, 0] = offsets[:, 0], local[:, 0]
    for joint, parent in enumerate(KINECT_PARENTS[1:], start=1):
        positions[:, joint] = positions[:, parent] + np.einsum("tij,tj->ti", frames[:, parent], offsets[:, joint])
        frames[:, joint] = frames[:, parent] @ local[:, joint]
    return positions


def euler_rotation(angles: np.ndarray) -> np.ndarray:
    """``Rz(a) · Ry(b) · Rx(g)`` for angle rows ``(g, b, a)`` in degrees: ``[..., 3] -> [..., 3, 3]``."""
    g, b, a = np.moveaxis(np.deg2rad(angles), -1, 0)
    return _rotation(a, axis=2) @ _rotation(b, axis=1) @ _rotation(g, axis=0)


def _rotation(theta: np.ndarray, axis: int) -> np.ndarray:
    """Right-handed rotations by ``theta`` (radians, any shape) about axis 0, 1 or 2 (x, y, z): ``[..., 3, 3]``."""
    c, s = np.cos(theta), np.sin(theta)
    one, zero = np.ones_like(theta), np.zeros_like(theta)
    rows = (
        ((one, zero, zero), (zero, c, -s), (zero, s, c)),  # Rx
        ((c, zero, s), (zero, one, zero), (-s, zero, c)),  # Ry
        ((c, -s, zero), (s, c, zero), (zero, zero, one)),  # Rz
    )[axis]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def _sample(name: str, streams: dict[str, np.ndarray]) -> RawSample:
    movement, subject, repetition = (int(g) for g in re.findall(r"\d\d", name))
    return RawSample(
        sample_id=name,
        label=movement - 1,
        streams=streams,
        splits=("xsub_train" if subject in XSUB_TRAIN_SUBJECTS else "xsub_test",),
        meta={"subject": subject, "repetition": repetition},
    )


def _data_folder(root: Path) -> Path:
    for location in LOCATIONS:
        folder = root / location
        if (folder / "Kinect").is_dir() or (folder / "Vicon").is_dir():
            return folder
    raise DataFormatError(f"{root}: no Kinect/ or Vicon/ folder in {', '.join(LOCATIONS)}")


def _files(folder: Path, kind: str) -> dict[str, Path]:
    """``mXX_sYY_eZZ`` -> file, for the ``*_{kind}.txt.gz`` files of ``folder`` (none if it is absent)."""
    files = {}
    for path in sorted(folder.glob(f"*_{kind}.txt.gz")):
        match = FILE_NAME.fullmatch(path.name)
        if match is None or not 1 <= int(match.group(2)) <= len(CLASS_NAMES):
            raise DataFormatError(f"{path}: expected a name mXX_sYY_eZZ_{kind}.txt.gz with movement 01-10")
        files[match.group(1)] = path
    return files
