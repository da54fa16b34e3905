"""MSR Action3D (Li, Zhang and Liu, CVPRW 2010): Kinect v1 skeletons in real-world coordinates.

A file ``aAA_sSS_eEE_skeleton3D.txt`` (action 01-20, subject 01-10, trial 01-03) holds ``T * 20`` lines of
``x y z confidence``, the 20 joints of frame 0 first; ``x, y, z`` are metres in the Kinect camera frame
(y up, z depth). The confidence column is dropped.

MSR numbers its joints in its own order (:data:`MSR_JOINTS`); the reader reorders them into the Kinect v1
SDK order of layout ``kinect20``: ``kinect20[i] = msr[MSR_TO_KINECT20[i]]`` with

    MSR_TO_KINECT20 = (6, 3, 2, 19, 0, 7, 9, 11, 1, 8, 10, 12, 4, 13, 15, 17, 5, 14, 16, 18)

Frames whose 20 joints are all ``(0, 0, 0)`` are frames where the tracker had no skeleton (19 files have
runs of them, at either end or inside); they are dropped, as NTU readers drop frames without a body, and
counted in the sample's ``meta["dropped_frames"]``. A file with no other frame (``a13_s09_e02``) is
skipped and counted in ``skipped["no_skeleton"]``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ...skeleton import get_layout
from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from .text_table import read_table

LAYOUT = "kinect20"
NUM_JOINTS = 20

#: Joint names (layout ``kinect20``) in MSR's file order (1-based in its README and ``body_model.mat``).
MSR_JOINTS: tuple[str, ...] = (
    "left_shoulder", "right_shoulder", "shoulder_center", "spine", "left_hip", "right_hip", "hip_center",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand", "left_knee",
    "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot", "head",
)
#: ``kinect20`` joint ``i`` is MSR joint ``MSR_TO_KINECT20[i]`` (0-based).
MSR_TO_KINECT20: tuple[int, ...] = tuple(MSR_JOINTS.index(j) for j in get_layout(LAYOUT).joints)

CLASS_NAMES: list[str] = [
    "high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw", "draw X",
    "draw tick", "draw circle", "hand clap", "two hand wave", "side boxing", "bend", "forward kick",
    "side kick", "jogging", "tennis swing", "tennis serve", "golf swing", "pickup & throw",
]

SUBSETS = ("cvpr12", "all")
CVPR12_LIST = "files_used_in_cvpr12_paper.txt"
FILE_NAME = re.compile(r"a(\d\d)_s(\d\d)_e(\d\d)")
SUFFIX = "_skeleton3D.txt"
# where the skeleton files sit below the root in the original release and in the R3DG (Lie group) copy
LOCATIONS = (
    ".", "real_world_coordinates", "MSRAction3D/real_world_coordinates", "data/MSRAction3D/real_world_coordinates"
)


def read_msr_action3d(root: Path, subset: str = "cvpr12") -> RawDataset:
    """Read MSR Action3D's skeleton files.

    Args:
        root: the folder of the ``*_skeleton3D.txt`` files or one above it (``real_world_coordinates/``,
            ``MSRAction3D/real_world_coordinates/`` or ``data/MSRAction3D/real_world_coordinates/``).
        subset: ``"cvpr12"``, the 557 sequences of Wang et al. (CVPR 2012) listed in
            ``files_used_in_cvpr12_paper.txt`` next to the files (the usual 20-class benchmark), or
            ``"all"``, every file except those without a skeleton (567 - 1).

    Returns one stream ``"hq"`` (layout ``kinect20``, channels x, y, z, metres), labels ``action - 1``,
    splits ``xsub_train`` (odd subjects) / ``xsub_test`` (even subjects), the cross-subject protocol of
    Li et al. 2010, and meta ``subject``, ``trial``, ``dropped_frames``.
    """
    if subset not in SUBSETS:
        raise ValueError(f"unknown MSR Action3D subset {subset!r}; expected one of {SUBSETS}")
    folder = _skeleton_folder(Path(root))
    if subset == "cvpr12":
        names = _cvpr12_names(folder)
    else:
        names = sorted(path.name[: -len(SUFFIX)] for path in folder.glob(f"*{SUFFIX}"))
    skipped = {"no_skeleton": 0}

    def samples() -> Iterator[RawSample]:
        skipped["no_skeleton"] = 0
        for name in names:
            sample = read_sample(folder / f"{name}{SUFFIX}")
            if sample is None:
                skipped["no_skeleton"] += 1
            else:
                yield sample

    return RawDataset(
        name="msr_action3d",
        class_names=list(CLASS_NAMES),
        streams={"hq": StreamInfo(layout=LAYOUT, channels=("x", "y", "z"))},
        samples=samples,
        num_samples=len(names),
        skipped=skipped,
        notes={
            "subset": subset,
            "joints": "reordered from MSR's file order to the Kinect v1 SDK order (kinect20)",
            "frames": "frames whose joints are all (0, 0, 0) (no skeleton tracked) are dropped",
        },
    )


def read_sample(path: Path) -> RawSample | None:
    """One ``aAA_sSS_eEE_skeleton3D.txt`` file; ``None`` when no frame has a skeleton."""
    sample_id = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
    match = FILE_NAME.fullmatch(sample_id)
    if match is None:
        raise DataFormatError(f"{path}: file name is not aAA_sSS_eEE{SUFFIX}")
    action, subject, trial = (int(g) for g in match.groups())
    if not 1 <= action <= len(CLASS_NAMES):
        raise DataFormatError(f"{path}: action {action} outside 1..{len(CLASS_NAMES)}")
    table = read_table(path, num_columns=4)
    if len(table) % NUM_JOINTS:
        raise DataFormatError(
            f"{path}: {len(table)} lines, expected a multiple of {NUM_JOINTS} (one line per joint per frame;"
            " file truncated?)"
        )
    xyz = table[:, :3].reshape(-1, NUM_JOINTS, 3)[:, MSR_TO_KINECT20]
    tracked = xyz.any(axis=(1, 2))
    if not tracked.any():
        return None
    keypoints = check_keypoints(xyz[tracked][None], NUM_JOINTS, 3, f"{path}")
    return RawSample(
        sample_id=sample_id,
        label=action - 1,
        streams={"hq": keypoints},
        splits=("xsub_train" if subject % 2 else "xsub_test",),
        meta={"subject": subject, "trial": trial, "dropped_frames": int((~tracked).sum())},
    )


def _skeleton_folder(root: Path) -> Path:
    for location in LOCATIONS:
        folder = root / location
        if any(folder.glob(f"*{SUFFIX}")):
            return folder.resolve()
    raise DataFormatError(f"{root}: no *{SUFFIX} files in {', '.join(LOCATIONS)}")


def _cvpr12_names(folder: Path) -> list[str]:
    """The sample names of ``files_used_in_cvpr12_paper.txt``; each must have its file."""
    listing = folder / CVPR12_LIST
    if not listing.exists():
        raise DataFormatError(f"{listing}: missing; it lists the subset 'cvpr12' (or read subset='all')")
    names = []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if FILE_NAME.fullmatch(name) is None:
            raise DataFormatError(f"{listing}: line {number}: {name!r} is not a sample name aAA_sSS_eEE")
        if not (folder / f"{name}{SUFFIX}").exists():
            raise DataFormatError(f"{listing}: line {number}: {name}{SUFFIX} is not in {folder}")
        names.append(name)
    return names
