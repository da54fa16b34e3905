"""Penn Action (Zhang, Zhu and Derpanis, ICCV 2013): 2,326 YouTube clips of 15 sports actions with 13
human-annotated 2D joints in every frame.

One MAT-file per clip, ``labels/NNNN.mat``, holds (MATLAB shapes)::

    action      char         class name, e.g. 'baseball_pitch'
    pose        char         camera view: 'front', 'back', 'left' or 'right'
    x, y        [T, 13]      joint pixel coordinates (double; stored as uint8/uint16 when integral)
    visibility  [T, 13]      logical, 1 = the joint is visible
    train       [1, 1]       1 = official training clip, -1 = test clip
    dimensions  [1, 3]       image height, image width, T
    bbox, nframes            not read

Joints are in the order of layout ``penn13``. The coordinates are kept as annotated (pixels, image origin
top-left, y down). 22 % of all joints are marked invisible; about two thirds of those carry an estimated
position, which is kept; the rest sit in the image corner (x, y <= 1 pixel), a "not annotated" mark, which
the reader turns into pygkd's missing-joint convention: all channels zero (as an occluded joint), so that
normalisation and LQ synthesis do not take the corner for a body point.
"""
from __future__ import annotations

from pathlib import Path
import numpy as np

from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from .matfile import load_mat

LAYOUT = "penn13"
NUM_JOINTS = 13

#: The 15 actions, sorted by name; a clip's label is the index of its ``action``.
CLASS_NAMES: list[str] = [
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing", "jump_rope",
    "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar", "tennis_forehand", "tennis_serve",
]
SPLITS = {1: "train", -1: "test"}  # value of the ``train`` flag -> split name
VARIABLES = ("action", "pose", "x", "y", "visibility", "train", "dimensions")


def read_penn_action(root: Path) -> RawDataset:
    """Read every ``labels/*.mat`` of Penn Action.

    Args:
        root: the dataset folder holding ``labels/`` (or the ``labels`` folder itself).

    Returns one stream ``"hq"`` (layout ``penn13``, channels x, y (pixels), visibility (0/1)), splits
    ``train`` / ``test`` from each clip's ``train`` flag (1258 / 1068 clips), sample ids ``"0001"`` ...,
    and meta ``view`` (the ``pose`` variable) and ``image_size`` (height, width).
    """
    root = Path(root)
    folder = root / "labels" if (root / "labels").is_dir() else root
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise DataFormatError(f"{root}: no labels/*.mat files (Penn Action annotations)")
    return RawDataset(
        name="penn_action",
        class_names=list(CLASS_NAMES),
        streams={"hq": StreamInfo(layout=LAYOUT, channels=("x", "y", "visibility"))},
        samples=lambda: (read_clip(path) for path in files),
        num_samples=len(files),
        notes={"coordinates": "pixels as annotated, origin top-left, y down", "split": "official train flag"},
    )


def not_annotated(keypoints: np.ndarray) -> np.ndarray:
    """``[..., 3]`` (x, y, visibility) -> ``[...]`` bool: invisible joints parked in the image corner."""
    return (keypoints[..., 2] == 0) & (keypoints[..., 0] <= 1) & (keypoints[..., 1] <= 1)


def read_clip(path: Path) -> RawSample:
    """One ``labels/NNNN.mat`` file."""
    mat = load_mat(path, variable_names=VARIABLES)
    missing = [name for name in VARIABLES if name not in mat]
    if missing:
        raise DataFormatError(f"{path}: missing variables {missing}; a Penn Action label file has {VARIABLES}")
    action, view, flag = mat["action"], mat["pose"], mat["train"]
    if not isinstance(action, str) or action not in CLASS_NAMES:
        raise DataFormatError(f"{path}: action {action!r} is not one of the 15 Penn Action classes {CLASS_NAMES}")
    if not (isinstance(flag, np.ndarray) and flag.size == 1 and int(flag.flat[0]) in SPLITS):
        raise DataFormatError(f"{path}: 'train' is {flag!r}, expected 1 (train) or -1 (test)")
    if not isinstance(view, str):
        raise DataFormatError(f"{path}: 'pose' is {view!r}, expected a camera view name such as 'front'")
    shapes = {name: np.shape(mat[name]) for name in ("x", "y", "visibility")}
    if len(set(shapes.values())) != 1 or len(shapes["x"]) != 2 or shapes["x"][1] != NUM_JOINTS:
        raise DataFormatError(f"{path}: x, y, visibility have shapes {shapes}, expected one [T, {NUM_JOINTS}]")
    keypoints = np.stack([mat["x"], mat["y"], mat["visibility"]], axis=-1).astype(np.float32)[None]
    keypoints[not_annotated(keypoints)] = 0.0
    height, width = (int(v) for v in np.ravel(mat["dimensions"])[:2])
    return RawSample(
        sample_id=path.stem,
        label=CLASS_NAMES.index(action),
        streams={"hq": check_keypoints(keypoints, NUM_JOINTS, 3, str(path))},
        splits=(SPLITS[int(flag.flat[0])],),
        meta={"view": view, "image_size": [height, width]},
    )
