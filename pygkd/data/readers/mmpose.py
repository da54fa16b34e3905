"""MMPose predictions saved as JSON, one file per video (or image).

Two forms are read:

* the ``MMPoseInferencer`` (``pred_out_dir``): a video is a list of frames ``[{"frame_id": 0, "instances":
  [...]}, ...]``, an image a list of instances;
* ``demo/topdown_demo_with_mmdet.py --save-predictions``: ``{"meta_info": {"dataset_name",
  "num_keypoints", "keypoint_id2name", ...}, "instance_info": [{"frame_id": 1, "instances": [...]}, ...]}``
  (frames counted from 1), or for an image ``instance_info`` the instances themselves.

An instance is ``{"keypoints": [[x, y], ...], "keypoint_scores": [...], "bbox": [[x1, y1, x2, y2]],
"bbox_score"}`` (``track_id`` too when a tracker ran); 17 keypoints are ``coco17``, 26 ``halpe26``, 133
(COCO-WholeBody) keep the 17 body joints as ``coco17``. ``meta_info.num_keypoints``, when given, must
match the instances. A clip is one file, named after its stem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..raw import DataFormatError
from .clip_files import ClipSource, load_json, relative_parts
from .pose_frames import PoseFrame, mmpose_frame


def is_mmpose(obj: Any) -> bool:
    """Whether a JSON value is one of the MMPose forms (module docstring)."""
    if isinstance(obj, dict):
        return "instance_info" in obj
    return isinstance(obj, list) and bool(obj) and all(
        isinstance(f, dict) and ("instances" in f or "keypoint_scores" in f) for f in obj
    )


def mmpose_frames(obj: Any, path: Path) -> list[PoseFrame]:
    """The frames of one MMPose file's JSON value."""
    expected = None
    if isinstance(obj, dict):
        if "instance_info" not in obj:
            raise DataFormatError(f"{path}: expected {{\"meta_info\", \"instance_info\"}} or a list of frames")
        meta = obj.get("meta_info")
        expected = meta.get("num_keypoints") if isinstance(meta, dict) else None
        obj = obj["instance_info"]
    if not isinstance(obj, list):
        raise DataFormatError(f"{path}: instance_info is a {type(obj).__name__}, expected a list")
    if obj and all(isinstance(f, dict) and "keypoint_scores" in f for f in obj):
        entries = [(f"{path}: image", {"instances": obj})]  # one image: a list of instances
    else:
        entries = []
        for i, frame in enumerate(obj):
            if not isinstance(frame, dict) or "frame_id" not in frame or "instances" not in frame:
                raise DataFormatError(f"{path}: entry {i} is not a frame {{\"frame_id\", \"instances\"}}")
            entries.append((f"{path}: frame_id {frame['frame_id']}", frame))
    frames = []
    for where, frame in entries:
        if expected is not None:
            _check_count(frame["instances"], expected, where)
        frames.append(mmpose_frame(frame, where))
    return frames


def _check_count(instances: Any, expected: Any, where: str) -> None:
    """``meta_info.num_keypoints`` against the instances as written (before the body joints are kept)."""
    for k, instance in enumerate(instances if isinstance(instances, list) else []):
        points = instance.get("keypoints") if isinstance(instance, dict) else None
        if isinstance(points, list) and len(points) != expected:
            raise DataFormatError(
                f"{where}: instance {k} has {len(points)} keypoints, meta_info.num_keypoints is {expected}"
            )


def mmpose_clip(path: Path, root: Path) -> ClipSource:
    """The clip of one MMPose JSON file."""
    return ClipSource(path.stem, path, relative_parts(path, root), lambda: mmpose_frames(load_json(path), path))
