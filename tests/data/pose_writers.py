"""Writers of pose-estimator output files, from each format's public specification, for the tests.

Every writer takes ``poses [T][P]`` of ``[K, 3]`` arrays (``x, y, score``; ``None`` for a frame without
persons) so that a test can compare what a reader returns with the numbers written.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

Poses = list[list[np.ndarray]]


def pose(num_joints: int, x: float, y: float, score: float = 0.75) -> np.ndarray:
    """``[K, 3]``: joint k at ``(x + k / 4, y + k / 2)``, all with ``score`` (exact in float32 and JSON)."""
    k = np.arange(num_joints)
    return np.stack([x + k / 4, y + k / 2, np.full(num_joints, score)], axis=1)


def flat(p: np.ndarray) -> list[float]:
    return [float(v) for v in p.reshape(-1)]


def write_openpose(folder: Path, prefix: str, poses: Poses, person_ids: list[list[int]] | None = None) -> list[Path]:
    """``<prefix>_<12 digits>_keypoints.json`` per frame (OpenPose ``--write_json`` of a video)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, persons in enumerate(poses):
        people = [
            {"person_id": [person_ids[t][i] if person_ids else -1], "pose_keypoints_2d": flat(p),
             "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
             "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
             "hand_right_keypoints_3d": []}
            for i, p in enumerate(persons)
        ]
        path = folder / f"{prefix}_{t:012d}_keypoints.json"
        path.write_text(json.dumps({"version": 1.3, "people": people}))
        paths.append(path)
    return paths


def mmpose_instance(p: np.ndarray, box: list[float] | None = None) -> dict:
    instance = {"keypoints": [[float(x), float(y)] for x, y in p[:, :2]],
                "keypoint_scores": [float(s) for s in p[:, 2]]}
    if box is not None:
        instance |= {"bbox": [box], "bbox_score": 0.875}  # split_instances writes bbox as a 1-tuple of the box
    return instance


def write_mmpose_inferencer(path: Path, poses: Poses) -> Path:
    """The MMPoseInferencer's per-video predictions: ``[{frame_id (from 0), instances}]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [{"frame_id": t, "instances": [mmpose_instance(p) for p in persons]} for t, persons in enumerate(poses)]
    path.write_text(json.dumps(frames))
    return path


def write_mmpose_demo(path: Path, poses: Poses, boxes: list[list[list[float]]] | None = None) -> Path:
    """``topdown_demo_with_mmdet.py --save-predictions``: ``{meta_info, instance_info}``, frames from 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    num = len(next(p for persons in poses for p in persons))
    meta = {"dataset_name": "coco", "num_keypoints": num, "keypoint_id2name": {str(k): f"j{k}" for k in range(num)}}
    info = [{"frame_id": t + 1, "instances": [mmpose_instance(p, boxes[t][i] if boxes else None)
                                              for i, p in enumerate(persons)]} for t, persons in enumerate(poses)]
    path.write_text(json.dumps({"meta_info": meta, "instance_info": info}))
    return path


def write_alphapose(path: Path, poses: Poses, idx: list[list[object]] | None = None,
                    boxes: list[list[list[float]]] | None = None) -> Path:
    """``alphapose-results.json``: one record per person, ``image_id`` ``"<t>.jpg"``, ``box`` x, y, w, h."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for t, persons in enumerate(poses):
        for i, p in enumerate(persons):
            record = {"image_id": f"{t}.jpg", "category_id": 1, "keypoints": flat(p), "score": 2.5}
            if boxes:
                record["box"] = boxes[t][i]
            record["idx"] = idx[t][i] if idx else [0.0]
            records.append(record)
    path.write_text(json.dumps(records))
    return path


def write_coco_results(path: Path, clips: dict[str, Poses], first_id: int = 100) -> tuple[Path, dict]:
    """COCO keypoint results over several clips and the annotation file's ``images`` table
    (``file_name`` ``clip/<frame>.jpg``); returns the results path and the annotation dict."""
    images, results, image_id = [], [], first_id
    for clip, poses in clips.items():
        for t, persons in enumerate(poses):
            images.append({"id": image_id, "file_name": f"{clip}/{t:06d}.jpg", "height": 480, "width": 640})
            results += [{"image_id": image_id, "category_id": 1, "keypoints": flat(p), "score": 0.9} for p in persons]
            image_id += 1
    path.write_text(json.dumps(results))
    return path, {"images": images, "annotations": [], "categories": [{"id": 1, "name": "person"}]}


def mediapipe_landmarks(p: np.ndarray, z: float = -0.125) -> list[list[float]]:
    return [[float(x), float(y), z, float(v)] for x, y, v in p]


def write_mediapipe_jsonl(path: Path, poses: Poses) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for t, persons in enumerate(poses):
        if len(persons) == 1:
            lines.append({"frame": t, "landmarks": mediapipe_landmarks(persons[0])})
        else:
            lines.append({"frame": t, "poses": [mediapipe_landmarks(p) for p in persons]})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def write_mediapipe_csv(path: Path, poses: Poses) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["frame", "person", "landmark", "x", "y", "z", "visibility"])
        for t, persons in enumerate(poses):
            for i, p in enumerate(persons):
                for k, (x, y, v) in enumerate(p):
                    writer.writerow([t, i, k, float(x), float(y), -0.125, float(v)])
    return path
