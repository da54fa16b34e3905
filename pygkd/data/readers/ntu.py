"""NTU RGB+D 60 / 120: the raw Kinect v2 ``.skeleton`` text files.

A file ``SsssCcccPpppRrrrAaaa.skeleton`` (setup, camera, performer, replication, action) holds::

    T                                   frame count
    B                                   per frame: body count, then per body:
    bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState
        isRestricted leanX leanY trackingState
    25                                  joint count
    x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ trackingState
    ...                                 (25 joint lines)

Persons follow CTR-GCN's ``get_raw_denoised_data`` actor assignment, without its noise filters: a body is
tracked by its ``bodyID`` across frames, its motion energy is the summed temporal variance of its joint
coordinates, ``sum_{v,c} Var_t x[t, v, c]`` over the frames where it is tracked, and the bodies, from the
most to the least energetic, are packed into ``max_persons`` slots: a body joins the first slot it does
not overlap in time, so a person whose Kinect track was lost and re-acquired under a new ``bodyID``
continues in the same slot, and bodies that fit nowhere are dropped. Person 0 is the most energetic
actor. Frames without any body are dropped, as CTR-GCN does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints

NUM_JOINTS = 25
JOINT_VALUES = 12  # x y z depthX depthY colorX colorY orientationW X Y Z trackingState
BODY_VALUES = 10  # bodyID clipedEdges ... trackingState

SAMPLE_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

#: Cross-subject training performers (Shahroudy et al. 2016; Liu et al. 2019 for the 53 of NTU-120).
XSUB_TRAIN_60 = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
XSUB_TRAIN_120 = XSUB_TRAIN_60 | frozenset(
    {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92,
     93, 94, 95, 97, 98, 100, 103}
)
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})

#: variant -> (last setup, number of actions, packaged list of samples with missing skeletons)
VARIANTS = {"ntu60": (17, 60, "ntu_missing_60.txt"), "ntu120": (32, 120, "ntu_missing_120.txt")}

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SampleName:
    """The fields of ``SsssCcccPpppRrrrAaaa`` (1-based, as written)."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @classmethod
    def parse(cls, name: str) -> "SampleName | None":
        match = SAMPLE_NAME.fullmatch(name)
        return cls(*(int(g) for g in match.groups())) if match else None

    def splits(self, variant: str) -> tuple[str, ...]:
        """Benchmark splits: NTU-60 ``xsub``/``xview``, NTU-120 ``xsub``/``xset`` (even setups train)."""

        def side(train: bool) -> str:
            return "train" if train else "test"

        if variant == "ntu60":
            return (
                f"xsub_{side(self.performer in XSUB_TRAIN_60)}",
                f"xview_{side(self.camera in XVIEW_TRAIN_CAMERAS)}",
            )
        return f"xsub_{side(self.performer in XSUB_TRAIN_120)}", f"xset_{side(self.setup % 2 == 0)}"


@dataclass
class KinectBodies:
    """All bodies of one ``.skeleton`` file.

    Attributes:
        ids: the ``bodyID`` of each body, ``B`` of them, in order of first appearance.
        xyz: ``[B, T, 25, 3]`` camera coordinates in metres; zero where a body is not tracked.
        tracked: ``[B, T]`` whether body ``b`` appears in frame ``t``.
    """

    ids: list[str]
    xyz: np.ndarray
    tracked: np.ndarray


class _Lines:
    """The lines of a text file, consumed in order; errors name the file and the 1-based line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = path.read_text().splitlines()
        self.pos = 0

    def error(self, line: int, message: str) -> DataFormatError:
        return DataFormatError(f"{self.path}:{line}: {message}")

    def take(self, n: int, what: str) -> list[str]:
        if self.pos + n > len(self.lines):
            raise DataFormatError(
                f"{self.path}: truncated after line {len(self.lines)}; expected {what} at line {self.pos + 1}"
            )
        chunk = self.lines[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def count(self, what: str) -> int:
        (text,) = self.take(1, what)
        try:
            value = int(text)
        except ValueError:
            raise self.error(self.pos, f"expected {what} (an integer), got {text.strip()!r}") from None
        if value < 0:
            raise self.error(self.pos, f"expected {what} >= 0, got {value}")
        return value

    def joints(self) -> np.ndarray:
        """The next 25 joint lines -> ``[25, 3]`` (x, y, z)."""
        first = self.pos + 1
        rows = [row.split() for row in self.take(NUM_JOINTS, f"{NUM_JOINTS} joint lines")]
        for i, row in enumerate(rows):
            if len(row) != JOINT_VALUES:
                raise self.error(first + i, f"expected {JOINT_VALUES} joint values, got {len(row)}")
        try:
            xyz = np.array(rows, dtype=np.float32)[:, :3]
        except ValueError:
            i = next(i for i, row in enumerate(rows) if not _all_floats(row))
            raise self.error(first + i, f"expected {JOINT_VALUES} numbers, got {' '.join(rows[i])!r}") from None
        bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
        if bad.size:
            raise self.error(first + bad[0], f"expected finite x y z, got {' '.join(rows[bad[0]])!r}")
        return xyz


def _all_floats(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def read_skeleton_file(path: Path) -> KinectBodies:
    """Parse one ``.skeleton`` file. Raises :class:`DataFormatError` naming the line on any deviation."""
    lines = _Lines(path)
    num_frames = lines.count("the frame count")
    frames: dict[str, dict[int, np.ndarray]] = {}  # bodyID -> frame -> [25, 3]
    for t in range(num_frames):
        for _ in range(lines.count(f"the body count of frame {t}")):
            (info,) = lines.take(1, f"a body line of frame {t}")
            fields = info.split()
            if len(fields) != BODY_VALUES:
                raise lines.error(lines.pos, f"expected {BODY_VALUES} body values, got {len(fields)}")
            body = frames.setdefault(fields[0], {})
            if t in body:
                raise lines.error(lines.pos, f"body {fields[0]} appears twice in frame {t}")
            num_joints = lines.count("the joint count")
            if num_joints != NUM_JOINTS:
                raise lines.error(lines.pos, f"expected {NUM_JOINTS} joints, got {num_joints}")
            body[t] = lines.joints()
    rest = [i for i, text in enumerate(lines.lines[lines.pos :], lines.pos + 1) if text.strip()]
    if rest:
        raise lines.error(rest[0], f"unexpected content after the {num_frames} frames the file announces")

    xyz = np.zeros((len(frames), num_frames, NUM_JOINTS, 3), dtype=np.float32)
    tracked = np.zeros((len(frames), num_frames), dtype=bool)
    for b, per_frame in enumerate(frames.values()):
        frame_ids = list(per_frame)
        xyz[b, frame_ids] = np.stack(list(per_frame.values()))
        tracked[b, frame_ids] = True
    return KinectBodies(list(frames), xyz, tracked)


def motion_energy(xyz: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """``[B]`` summed temporal variance ``sum_{v,c} Var_t xyz[b, t, v, c]`` over each body's tracked frames."""
    return np.array([xyz[b, tracked[b]].var(axis=0).sum() if tracked[b].any() else 0.0 for b in range(len(xyz))])


def pack_persons(xyz: np.ndarray, tracked: np.ndarray, max_persons: int) -> np.ndarray:
    """Bodies ``[B, T, V, C]`` -> persons ``[M, T, V, C]``, ``1 <= M <= max_persons`` (see module docstring).

    Bodies are visited by decreasing :func:`motion_energy`; each joins the first slot whose occupied frames
    it does not overlap, or is dropped. Only used slots are returned.
    """
    order = np.argsort(-motion_energy(xyz, tracked), kind="stable")
    persons = np.zeros((max_persons, *xyz.shape[1:]), dtype=xyz.dtype)
    occupied = np.zeros((max_persons, xyz.shape[1]), dtype=bool)
    for b in order:
        free = ~(occupied & tracked[b]).any(axis=1)
        if free.any():
            slot = int(np.argmax(free))
            persons[slot, tracked[b]] = xyz[b, tracked[b]]
            occupied[slot] |= tracked[b]
    return persons[: max(1, int(occupied.any(axis=1).sum()))]


def read_sample_list(path: Path) -> set[str]:
    """Sample names (``SsssCcccPpppRrrrAaaa``) found anywhere in a text file, e.g. the official lists of
    samples with missing skeletons (their two header lines are ignored)."""
    return {match.group(0) for match in SAMPLE_NAME.finditer(path.read_text())}


def class_names(variant: str) -> list[str]:
    """The official action names (``A001`` is class 0) of ``ntu60`` or ``ntu120``."""
    names = (_HERE / "ntu_actions.txt").read_text().splitlines()
    return names[: VARIANTS[variant][1]]


def read_ntu(root: Path, variant: str = "ntu60", missing: Path | None = None, max_persons: int = 2) -> RawDataset:
    """Read every ``*.skeleton`` file under ``root`` (searched recursively).

    Args:
        root: folder holding the extracted ``nturgb+d_skeletons`` (and, for NTU-120,
            ``nturgbd_skeletons_s018_to_s032``) folders or the files themselves.
        variant: ``"ntu60"`` (setups 1-17, 60 actions, splits ``xsub_*``/``xview_*``) or ``"ntu120"``
            (setups 1-32, 120 actions, splits ``xsub_*``/``xset_*``).
        missing: text file listing samples to skip; default the official list of the variant
            (302 / 535 samples with missing skeletons, shipped with pygkd).
        max_persons: persons kept per sample (see the module docstring for which).

    Returns a dataset with one stream ``"hq"`` (layout ``ntu25``, channels x, y, z, metres). ``skipped``
    counts ``missing_skeleton`` (listed files present under ``root``), ``outside_ntu60`` (setups 18-32 when
    reading NTU-60) and ``no_bodies`` (files whose every frame has no body; counted while ``samples()``
    is walked, final once a walk is complete, so ``num_samples`` may exceed the samples yielded by that many).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if max_persons < 1:
        raise ValueError(f"max_persons must be >= 1, got {max_persons}")
    root = Path(root)
    last_setup, num_actions, missing_list = VARIANTS[variant]
    skip = read_sample_list(Path(missing) if missing is not None else _HERE / missing_list)

    files: list[tuple[Path, SampleName]] = []
    skipped = {"missing_skeleton": 0, "no_bodies": 0} | ({"outside_ntu60": 0} if variant == "ntu60" else {})
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.skeleton"), key=lambda p: p.name):
        name = SampleName.parse(path.stem)
        if name is None:
            raise DataFormatError(f"{path}: expected a file name SsssCcccPpppRrrrAaaa.skeleton")
        if path.stem in seen:
            raise DataFormatError(f"{path}: sample {path.stem} is also at {seen[path.stem]}")
        seen[path.stem] = path
        if name.setup > last_setup and variant == "ntu60":
            skipped["outside_ntu60"] += 1
        elif name.setup > last_setup or not 1 <= name.action <= num_actions:
            raise DataFormatError(
                f"{path}: S{name.setup:03d} A{name.action:03d} is outside {variant} "
                f"(setups S001..S{last_setup:03d}, actions A001..A{num_actions:03d})"
            )
        elif path.stem in skip:
            skipped["missing_skeleton"] += 1
        else:
            files.append((path, name))
    if not seen:
        raise DataFormatError(f"{root}: no .skeleton files found")

    def samples() -> Iterator[RawSample]:
        skipped["no_bodies"] = 0
        for path, name in files:
            bodies = read_skeleton_file(path)
            frames = bodies.tracked.any(axis=0)
            if not frames.any():
                skipped["no_bodies"] += 1
                continue
            keypoints = pack_persons(bodies.xyz[:, frames], bodies.tracked[:, frames], max_persons)
            yield RawSample(
                sample_id=path.stem,
                label=name.action - 1,
                streams={"hq": check_keypoints(keypoints, NUM_JOINTS, 3, str(path))},
                splits=name.splits(variant),
                meta={
                    "setup": name.setup,
                    "camera": name.camera,
                    "performer": name.performer,
                    "replication": name.replication,
                    "bodies": len(bodies.ids),
                    "empty_frames": int((~frames).sum()),
                },
            )

    return RawDataset(
        name=variant,
        class_names=class_names(variant),
        streams={"hq": StreamInfo("ntu25", ("x", "y", "z"))},
        samples=samples,
        num_samples=len(files),
        skipped=skipped,
        notes={"persons": f"up to {max_persons}, packed by motion energy (CTR-GCN actor assignment)"},
    )
