"""A generic ``.npz`` dataset, so that your own arrays become a pygkd dataset without code.

Keys of the file (``N`` samples; streams ``s`` = ``hq`` and/or ``lq``, each dense or ragged)::

    labels          [N] int               class of each sample (required)
    class_names     [K] str               optional; default "0", "1", ... up to the largest label
    sample_ids      [N] str               optional, unique; default "0", "1", ...
    s_layout        str                   layout name, or layout file (a relative path is relative to the .npz)
    s_keypoints     [N, M, T, V, C]       dense keypoints ...
    s_lengths       [N] int               ... optional valid frames per sample (default T; 0: no stream s)
    s_frames        [F, M, V, C]          or ragged keypoints: sample i is frames[offsets[i]:offsets[i + 1]]
    s_offsets       [N + 1] int           (an empty range: the sample has no stream s)
    s_scores        [N, M, T, V] | [F, M, V]   optional confidences, appended as the last channel "score"
    s_channels      [C] str               optional channel names; default x, y (C = 2) or x, y, z (C = 3)
    split_<name>    [n] int               indices of the samples of split <name>

Strings are unicode arrays (``np.array(["a", "b"])``); object arrays are refused, since loading them would
unpickle. Shapes, counts, indices and labels are checked when the file is opened, reading only the array
headers and the small arrays. The keypoint arrays are loaded when ``samples()`` is walked (whole: members
of an ``.npz`` cannot be memory-mapped), and every sample is checked then for finite values.

Before any array is inflated, every member's size as the archive declares it must equal what its ``.npy``
header declares (shape x item size), and be at most ``max_member_bytes`` (:data:`MAX_MEMBER_BYTES`, 1 GiB,
by default): a few-kilobyte file that declares gigabytes is refused, not inflated. A corrupt member (bad
CRC, broken deflate stream, truncated file) is reported naming the file and the key.
"""
from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ...skeleton import get_layout
from ...skeleton.layout import LayoutError
from ..raw import STREAMS, DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints

STREAM_FIELDS = ("layout", "keypoints", "lengths", "frames", "offsets", "scores", "channels")
DEFAULT_CHANNELS = {2: ("x", "y"), 3: ("x", "y", "z")}
MAX_MEMBER_BYTES = 2**30  # the largest array read_npz inflates by default (reader option max_member_bytes)
# what reading a member raises for a corrupt archive: bad CRC, broken deflate stream, truncated file
CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


def array_headers(path: Path, max_bytes: int = MAX_MEMBER_BYTES) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an ``.npz``, read from the ``.npy`` headers only, each checked
    against the member size the archive declares and against ``max_bytes``."""
    headers = {}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise DataFormatError(f"{path}: not an .npz file of .npy arrays ({type(err).__name__}: {err})") from None
    with archive:
        for member in archive.infolist():
            key = member.filename.removesuffix(".npy")
            try:
                with archive.open(member) as file:
                    version = np.lib.format.read_magic(file)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(file)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(file)
                    header_bytes = file.tell()
            except CORRUPT as err:
                raise DataFormatError(
                    f"{path}: key {key!r}: not a readable .npy array ({type(err).__name__}: {err})"
                ) from None
            _check_member_size(path, key, member, header_bytes, shape, dtype, max_bytes)
            headers[key] = (shape, dtype)
    return headers


def _check_member_size(path: Path, key: str, member: zipfile.ZipInfo, header_bytes: int, shape: tuple[int, ...],
                       dtype: np.dtype, max_bytes: int) -> None:
    """The array's bytes (``.npy`` header) must fill the member (zip directory) and stay under ``max_bytes``."""
    data_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if data_bytes > max_bytes:
        raise DataFormatError(
            f"{path}: key {key!r}: the array {dtype}{list(shape)} declares {data_bytes} bytes, more than the "
            f"limit of {max_bytes} (reader option max_member_bytes)"
        )
    if not dtype.hasobject and header_bytes + data_bytes != member.file_size:
        raise DataFormatError(
            f"{path}: key {key!r}: the .npy header declares {dtype}{list(shape)} ({header_bytes + data_bytes} "
            f"bytes), the archive member holds {member.file_size} bytes (corrupt or truncated file)"
        )


@dataclass(frozen=True)
class NpzStream:
    """Where one stream lives in the file.

    Attributes:
        info: layout and channel names.
        data_key: ``s_keypoints`` (dense) or ``s_frames`` (ragged).
        score_key: ``s_scores`` or ``None``.
        bounds: ``[N, 2]`` frame range of each sample (dense: ``0 .. length``; ragged: the offsets).
    """

    info: StreamInfo
    data_key: str
    score_key: str | None
    bounds: np.ndarray

    def keypoints(self, arrays: dict[str, np.ndarray], i: int) -> np.ndarray | None:
        """Sample ``i`` as ``[M, T, V, C]`` (scores appended), or ``None`` when it lacks this stream."""
        start, stop = self.bounds[i]
        if start == stop:
            return None
        kp = self._sample_rows(arrays[self.data_key], i, start, stop)
        if self.score_key is None:
            return kp
        score = self._sample_rows(arrays[self.score_key], i, start, stop)
        return np.concatenate([kp.astype(np.float32), score[..., None].astype(np.float32)], axis=-1)

    def _sample_rows(self, array: np.ndarray, i: int, start: int, stop: int) -> np.ndarray:
        """Dense ``[N, M, T, ...]`` -> ``[M, stop - start, ...]`` of sample ``i``; ragged ``[F, M, ...]`` ->
        frames ``start:stop`` as ``[M, T, ...]``."""
        if self.data_key.endswith("_frames"):
            return np.swapaxes(array[start:stop], 0, 1)
        return array[i, :, start:stop]


class _NpzFile:
    """The headers of an ``.npz`` and its small arrays; every error names the file and the key."""

    def __init__(self, path: Path, max_member_bytes: int = MAX_MEMBER_BYTES) -> None:
        self.path = path
        self.headers = array_headers(path, max_member_bytes)
        for key, (_, dtype) in self.headers.items():
            if dtype.hasobject:
                raise self.error(key, "object arrays are refused; store strings as a unicode array, np.array([...])")
        self._small: dict[str, np.ndarray] = {}

    def error(self, key: str, message: str) -> DataFormatError:
        return DataFormatError(f"{self.path}: key {key!r}: {message}")

    def shape(self, key: str) -> tuple[int, ...]:
        return self.headers[key][0]

    def array(self, key: str) -> np.ndarray:
        """A small array (labels, offsets, names, splits), loaded once."""
        if key not in self._small:
            self._small[key] = load_member(self.path, key)
        return self._small[key]

    def ints(self, key: str, length: int | None = None) -> np.ndarray:
        """A 1-D integer array (of ``length`` entries when given)."""
        shape, dtype = self.headers[key]
        if dtype.kind not in "iu" or len(shape) != 1:
            raise self.error(key, f"expected a 1-D integer array, got {dtype} of shape {shape}")
        if length is not None and shape[0] != length:
            raise self.error(key, f"expected {length} entries, got {shape[0]}")
        return self.array(key).astype(np.int64)

    def strings(self, key: str, length: int | None = None) -> list[str]:
        """A 1-D unicode array (of ``length`` entries when given)."""
        shape, dtype = self.headers[key]
        if dtype.kind != "U" or len(shape) != 1:
            raise self.error(key, f"expected a 1-D unicode array, got {dtype} of shape {shape}")
        if length is not None and shape[0] != length:
            raise self.error(key, f"expected {length} entries, got {shape[0]}")
        return [str(s) for s in self.array(key)]

    def string(self, key: str) -> str:
        """A single string (a 0-d unicode array, what ``np.savez(f, key="text")`` writes)."""
        shape, dtype = self.headers[key]
        if dtype.kind != "U" or shape != ():
            raise self.error(key, f"expected a string (0-d unicode array), got {dtype} of shape {shape}")
        return str(self.array(key))


def load_member(path: Path, key: str) -> np.ndarray:
    """Array ``key`` of the ``.npz`` at ``path``; a DataFormatError names both for a corrupt member."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz[key]
    except CORRUPT as err:
        raise DataFormatError(f"{path}: key {key!r}: corrupt archive member ({type(err).__name__}: {err})") from None


def _check_keys(npz: _NpzFile) -> None:
    allowed = {"labels", "class_names", "sample_ids"} | {f"{s}_{f}" for s in STREAMS for f in STREAM_FIELDS}
    for key in npz.headers:
        if key.startswith("split_"):
            if key == "split_":
                raise npz.error(key, "empty split name; name split arrays split_<name>")
        elif key not in allowed:
            raise npz.error(
                key, f"unknown key; expected labels, class_names, sample_ids, split_<name>, or hq_/lq_ + one of "
                f"{', '.join(STREAM_FIELDS)}"
            )


def _resolve_layout(npz: _NpzFile, key: str) -> str:
    """The layout's registry name, or the absolute path of its layout file (so the store can reload it)."""
    value = npz.string(key)
    candidate = Path(value) if Path(value).is_absolute() else npz.path.parent / value
    name = str(candidate.resolve()) if candidate.suffix.lower() in (".json", ".yaml", ".yml") else value
    try:
        get_layout(name)
    except LayoutError as err:
        raise npz.error(key, str(err)) from None
    return name


def _stream(npz: _NpzFile, s: str, num_samples: int) -> NpzStream:
    """Validate the keys of stream ``s`` against each other and against its layout."""
    keys = {f: f"{s}_{f}" for f in STREAM_FIELDS}
    has = {f for f, key in keys.items() if key in npz.headers}
    if "layout" not in has:
        raise npz.error(keys["layout"], f"missing; stream {s!r} needs its layout name or layout file")
    layout = _resolve_layout(npz, keys["layout"])
    if "keypoints" in has:
        if has & {"frames", "offsets"}:
            raise npz.error(keys["keypoints"], f"give either {s}_keypoints (dense) or {s}_frames + {s}_offsets")
        data_key, bounds = keys["keypoints"], _dense_bounds(npz, keys, num_samples)
    else:
        if not {"frames", "offsets"} <= has:
            raise npz.error(keys["frames"], f"stream {s!r} needs {s}_keypoints, or {s}_frames with {s}_offsets")
        if "lengths" in has:
            raise npz.error(keys["lengths"], f"only with dense {s}_keypoints; ragged samples end at their offsets")
        data_key, bounds = keys["frames"], _ragged_bounds(npz, keys, num_samples)

    shape, dtype = npz.headers[data_key]
    num_joints = get_layout(layout).num_joints
    if dtype.kind not in "fiu":
        raise npz.error(data_key, f"expected numbers, got {dtype}")
    if shape[-2] != num_joints:
        raise npz.error(data_key, f"{shape[-2]} joints, layout {layout!r} has {num_joints}")
    if "channels" in has:
        channels = tuple(npz.strings(keys["channels"], shape[-1]))
    elif shape[-1] in DEFAULT_CHANNELS:
        channels = DEFAULT_CHANNELS[shape[-1]]
    else:
        raise npz.error(data_key, f"{shape[-1]} channels; name them in {keys['channels']}")
    score_key = keys["scores"] if "scores" in has else None
    if score_key is not None:
        if npz.shape(score_key) != shape[:-1]:
            expected, got = shape[:-1], npz.shape(score_key)
            raise npz.error(score_key, f"expected shape {expected} (the keypoints' without C), got {got}")
        channels = (*channels, "score")
    return NpzStream(StreamInfo(layout, channels), data_key, score_key, bounds)


def _dense_bounds(npz: _NpzFile, keys: dict[str, str], num_samples: int) -> np.ndarray:
    """``[N, 2]`` frame ranges ``0 .. length`` of dense ``s_keypoints [N, M, T, V, C]`` (+ ``s_lengths``)."""
    shape = npz.shape(keys["keypoints"])
    if len(shape) != 5 or shape[0] != num_samples:
        raise npz.error(keys["keypoints"], f"expected [N={num_samples}, M, T, V, C], got shape {shape}")
    if keys["lengths"] not in npz.headers:
        return np.tile([0, shape[2]], (num_samples, 1))
    lengths = npz.ints(keys["lengths"], num_samples)
    bad = np.flatnonzero((lengths < 0) | (lengths > shape[2]))
    if bad.size:
        raise npz.error(keys["lengths"], f"sample {bad[0]}: length {lengths[bad[0]]} outside 0..{shape[2]}")
    return np.stack([np.zeros_like(lengths), lengths], axis=1)


def _ragged_bounds(npz: _NpzFile, keys: dict[str, str], num_samples: int) -> np.ndarray:
    """``[N, 2]`` frame ranges of ragged ``s_frames [F, M, V, C]`` from ``s_offsets [N + 1]``."""
    shape = npz.shape(keys["frames"])
    if len(shape) != 4:
        raise npz.error(keys["frames"], f"expected [F, M, V, C], got shape {shape}")
    offsets = npz.ints(keys["offsets"], num_samples + 1)
    if offsets[0] != 0 or offsets[-1] != shape[0]:
        raise npz.error(keys["offsets"], f"expected 0 .. F={shape[0]}, got {offsets[0]} .. {offsets[-1]}")
    bad = np.flatnonzero(np.diff(offsets) < 0)
    if bad.size:
        i = bad[0]
        raise npz.error(keys["offsets"], f"sample {i}: offsets decrease ({offsets[i]} > {offsets[i + 1]})")
    return np.stack([offsets[:-1], offsets[1:]], axis=1)


def _splits(npz: _NpzFile, num_samples: int) -> list[list[str]]:
    """Split names of every sample, from the ``split_<name>`` index arrays."""
    membership: list[list[str]] = [[] for _ in range(num_samples)]
    for key in sorted(k for k in npz.headers if k.startswith("split_")):
        indices = npz.ints(key)
        bad = np.flatnonzero((indices < 0) | (indices >= num_samples))
        if bad.size:
            raise npz.error(key, f"index {indices[bad[0]]} at position {bad[0]} outside 0..{num_samples - 1}")
        unique, counts = np.unique(indices, return_counts=True)
        if (counts > 1).any():
            raise npz.error(key, f"sample {unique[counts > 1][0]} listed twice")
        for i in indices:
            membership[i].append(key.removeprefix("split_"))
    return membership


def _class_names(npz: _NpzFile, labels: np.ndarray) -> list[str]:
    """``class_names``, or ``"0" .. "K-1"`` for ``K = max(labels) + 1``; every label must name a class."""
    if "class_names" in npz.headers:
        names = npz.strings("class_names")
    else:
        names = [str(k) for k in range(max(int(labels.max()), 0) + 1)]
    bad = np.flatnonzero((labels < 0) | (labels >= len(names)))
    if bad.size:
        raise npz.error("labels", f"sample {bad[0]}: label {labels[bad[0]]} outside 0..{len(names) - 1}")
    return names


def _sample_ids(npz: _NpzFile, num_samples: int) -> list[str]:
    """``sample_ids`` (unique), or ``"0", "1", ...``."""
    if "sample_ids" not in npz.headers:
        return [str(i) for i in range(num_samples)]
    ids = npz.strings("sample_ids", num_samples)
    twice = [name for name, count in Counter(ids).items() if count > 1]
    if twice:
        raise npz.error("sample_ids", f"{twice[0]!r} appears twice")
    return ids


def read_npz(path: Path, max_member_bytes: int = MAX_MEMBER_BYTES) -> RawDataset:
    """Read a dataset in the generic ``.npz`` format (module docstring; ``docs/formats.md``).

    Args:
        path: the ``.npz`` file.
        max_member_bytes: the largest array the file may hold (inflated), :data:`MAX_MEMBER_BYTES` by default.

    ``notes["without_stream"]`` counts, per stream, the samples that lack it (an empty frame range).
    """
    path = Path(path)
    npz = _NpzFile(path, max_member_bytes)
    _check_keys(npz)
    if "labels" not in npz.headers:
        raise npz.error("labels", "missing; the file needs the class index of every sample")
    labels = npz.ints("labels")
    num_samples = len(labels)
    if num_samples == 0:
        raise npz.error("labels", "no samples")
    class_names = _class_names(npz, labels)
    sample_ids = _sample_ids(npz, num_samples)
    named = [s for s in STREAMS if any(f"{s}_{f}" in npz.headers for f in STREAM_FIELDS)]
    streams = {s: _stream(npz, s, num_samples) for s in named}
    if not streams:
        raise DataFormatError(f"{path}: no stream; give hq_keypoints or lq_keypoints (or *_frames + *_offsets)")
    present = np.stack([st.bounds[:, 1] > st.bounds[:, 0] for st in streams.values()])
    if not present.any(axis=0).all():
        i = int(np.flatnonzero(~present.any(axis=0))[0])
        raise DataFormatError(f"{path}: sample {i} ({sample_ids[i]}): empty sequence in every stream")
    splits = _splits(npz, num_samples)

    def samples() -> Iterator[RawSample]:
        arrays = {key: load_member(path, key) for st in streams.values() for key in (st.data_key, st.score_key) if key}
        for i in range(num_samples):
            keypoints = {}
            for s, st in streams.items():
                kp = st.keypoints(arrays, i)
                if kp is not None:
                    where = f"{path}: sample {i} ({sample_ids[i]}), key {st.data_key!r}"
                    num_joints = get_layout(st.info.layout).num_joints
                    keypoints[s] = check_keypoints(kp, num_joints, len(st.info.channels), where)
            yield RawSample(sample_ids[i], int(labels[i]), keypoints, tuple(splits[i]))

    return RawDataset(
        name=path.stem,
        class_names=class_names,
        streams={s: st.info for s, st in streams.items()},
        samples=samples,
        num_samples=num_samples,
        notes={"without_stream": {s: int((~p).sum()) for s, p in zip(streams, present)}},
    )
