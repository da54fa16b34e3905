"""What a reader yields: plain numpy samples with one array per skeleton stream.

A *stream* is one skeleton source of a dataset, named ``"hq"`` (high quality: Kinect, mocap, human
annotation) or ``"lq"`` (low quality: a fast pose estimator, a cheap sensor). A sample may have either or
both. Readers are generators so that datasets of NTU size stream to disk without being held in RAM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

STREAMS: tuple[str, ...] = ("hq", "lq")
# Keypoint dtypes a reader may yield: floating point (float16/32/64) or integer ((u)int8..64, e.g. pixel
# coordinates); complex, bool, object and string arrays are refused.
KEYPOINT_KINDS = "fiu"


class DataFormatError(ValueError):
    """A file or sample does not match its format. The message names the file (and line or sample)."""


@dataclass
class RawSample:
    """One action instance.

    Attributes:
        sample_id: unique name, e.g. ``"S001C001P001R001A001"`` or ``"m01_s01_e01"``.
        label: class index in ``0..num_classes-1``.
        streams: stream name -> keypoints ``[M, T, V, C]`` float32 (persons, frames, joints, channels);
            frame counts may differ between streams (UI-PRMD: Vicon 100 Hz, Kinect 30 Hz).
        splits: names of the splits the sample belongs to, e.g. ``("xsub_train", "xview_test")``.
        meta: small JSON-able facts (subject, camera, setup, ...).
    """

    sample_id: str
    label: int
    streams: dict[str, np.ndarray]
    splits: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)


@dataclass
class StreamInfo:
    """Static facts of one stream: its layout name and what its channels hold (e.g. ``("x", "y", "score")``)."""

    layout: str
    channels: tuple[str, ...]


@dataclass
class RawDataset:
    """A dataset as read from its original files.

    ``samples`` is a zero-argument callable returning a fresh iterator, so a dataset can be walked more
    than once without reading everything into memory. ``num_samples`` is the expected count when the reader
    knows it up front (for progress bars), else ``None``.
    """

    name: str
    class_names: list[str]
    streams: dict[str, StreamInfo]
    samples: Callable[[], Iterator[RawSample]]
    num_samples: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def check_keypoints(arr: np.ndarray, num_joints: int, channels: int, where: str) -> np.ndarray:
    """Validate a ``[M, T, V, C]`` array: real numbers (:data:`KEYPOINT_KINDS`), shape, joint count,
    finiteness, non-empty. Returns float32.

    Raises :class:`DataFormatError` naming ``where`` (file and sample) and what was expected.
    """
    if arr.dtype.kind not in KEYPOINT_KINDS:
        raise DataFormatError(
            f"{where}: keypoints of dtype {arr.dtype}, expected real numbers: float16/32/64 or an integer type "
            "(int8..int64, uint8..uint64)"
        )
    if arr.ndim != 4:
        raise DataFormatError(f"{where}: expected keypoints [M, T, V, C], got shape {tuple(arr.shape)}")
    m, t, v, c = arr.shape
    if m == 0 or t == 0:
        raise DataFormatError(f"{where}: empty sequence (persons={m}, frames={t})")
    if v != num_joints:
        raise DataFormatError(f"{where}: {v} joints, the layout expects {num_joints}")
    if c != channels:
        raise DataFormatError(f"{where}: {c} channels, expected {channels}")
    bad = ~np.isfinite(arr)
    if bad.any():
        mi, ti, vi, ci = np.argwhere(bad)[0]
        raise DataFormatError(
            f"{where}: non-finite value {arr[mi, ti, vi, ci]} at person {mi}, frame {ti}, joint {vi}, channel {ci}"
        )
    return arr.astype(np.float32, copy=False)
