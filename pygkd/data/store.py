"""The prepared store: a dataset read once from its original files, written as arrays that training
memory-maps, so that NTU-size data (56,880 x 300 x 2 x 25 x 3) never has to fit in RAM.

A prepared directory (format ``pygkd-prepared``, version 1)::

    manifest.json               format, version, complete, name, class_names, streams, num_samples,
                                splits, skipped, notes, short_clips, created, pygkd_version (written last)
    labels.npy       [N]        int64 class index of every sample
    sample_ids.json  [N]        sample names
    meta.jsonl                  one JSON object per sample (subject, camera, ...)
    <stream>.frames.npy  [F, M, V, C]   the frames of all samples of a stream, one sample after the other
    <stream>.offsets.npy [N + 1] int64  sample i is frames[o[i]:o[i + 1]]; an empty range: i lacks the stream
    splits/<name>.npy           int64 indices of the samples in each split

Frames are stored time-major so that a sample is one contiguous slice; ``M`` is the most persons any
sample of the stream has, and samples with fewer persons are zero-padded (as CTR-GCN and PYSKL pad NTU).

:func:`prepare` streams the reader's samples into ``DIR.partial-<pid>``: each sample's frames are appended
to an open ``.npy`` file whose header is written once the final shape is known. The manifest is written
last and the directory renamed to ``DIR`` only then, so an interrupted run never leaves a directory that
loads as complete; the ``DIR.partial-*`` folder a killed run leaves behind is removed by the next
:func:`prepare` of ``DIR`` (unless its process still runs). Clips shorter than :data:`MIN_FRAMES` frames
are kept but reported (a warning, and ``short_clips`` in the manifest, which ``pygkd info`` shows).
:class:`PreparedDataset` memory-maps the arrays and checks them against the manifest.
"""
from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import warnings
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..skeleton import get_layout
from .raw import STREAMS, DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints

FORMAT = "pygkd-prepared"
VERSION = 1
MANIFEST = "manifest.json"
DTYPES = ("float32", "float16")
# Clips shorter than this (about a third of a second at 25-30 fps) are almost always a reader or
# annotation error; prepare reports them.
MIN_FRAMES = 8

_HEADER_BYTES = 128  # .npy v1.0 header of a 4-d array: always padded to 128 bytes (numpy aligns to 64)
_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass
class StoredStream(StreamInfo):
    """A stream as stored: its layout and channels, plus the persons axis ``M``, the joint count ``V``,
    the on-disk dtype and ``F``, the frames of all samples together."""

    num_persons: int
    num_joints: int
    dtype: str
    frames_total: int


# --------------------------------------------------------------------------------------------- writing


def _write_npy_header(file: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Write the ``.npy`` header of a C-order array at the start of ``file`` (its reserved bytes)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype.str, "fortran_order": False, "shape": shape})
    if header.tell() != _HEADER_BYTES:
        raise RuntimeError(f".npy header of shape {shape} takes {header.tell()} bytes, {_HEADER_BYTES} reserved")
    file.seek(0)
    file.write(header.getvalue())


class _FrameWriter:
    """Appends the samples of one stream to ``<stream>.frames.npy`` without keeping them in RAM.

    Each sample's keypoints ``[M_i, T_i, V, C]`` are written as raw ``[T_i, M_i, V, C]`` bytes after a
    reserved header; :meth:`close` pads every sample to the most persons seen (a streaming rewrite, only
    when the person counts differ) and writes the header.
    """

    def __init__(self, path: Path, num_joints: int, channels: int, dtype: np.dtype) -> None:
        self.path, self.num_joints, self.channels, self.dtype = path, num_joints, channels, dtype
        self.file = open(path, "wb")
        self.file.write(bytes(_HEADER_BYTES))
        self.offsets = [0]
        self.shapes: list[tuple[int, int]] = []  # (T_i, M_i) of every sample that has the stream

    def __enter__(self) -> "_FrameWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def append(self, keypoints: np.ndarray | None) -> None:
        """Add the next sample's ``[M, T, V, C]`` keypoints, or ``None`` when it lacks the stream."""
        if keypoints is not None:
            m, t = keypoints.shape[:2]
            self.file.write(np.ascontiguousarray(keypoints.transpose(1, 0, 2, 3)).data)
            self.shapes.append((t, m))
            self.offsets.append(self.offsets[-1] + t)
        else:
            self.offsets.append(self.offsets[-1])

    def close(self) -> tuple[int, int]:
        """Finish the file; returns ``(frames_total, num_persons)``."""
        persons = max(m for _, m in self.shapes)
        if any(m != persons for _, m in self.shapes):
            self._pad_persons(persons)
        _write_npy_header(self.file, (self.offsets[-1], persons, self.num_joints, self.channels), self.dtype)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return self.offsets[-1], persons

    def _pad_persons(self, persons: int) -> None:
        """Rewrite the file one sample at a time, each zero-padded to ``persons``."""
        self.file.flush()
        padded_path = self.path.with_suffix(".padding")
        row = self.num_joints * self.channels
        with open(self.path, "rb") as src, open(padded_path, "wb") as dst:
            src.seek(_HEADER_BYTES)
            dst.write(bytes(_HEADER_BYTES))
            for t, m in self.shapes:
                frames = np.fromfile(src, self.dtype, count=t * m * row).reshape(t, m, row)
                out = np.zeros((t, persons, row), self.dtype)
                out[:, :m] = frames
                dst.write(out.data)
        self.file.close()
        os.replace(padded_path, self.path)
        self.file = open(self.path, "r+b")


def _checked_sample(
    sample: RawSample, index: int, raw: RawDataset, joints: dict[str, int], dtype: np.dtype, seen: set[str]
) -> dict[str, np.ndarray]:
    """Validate one sample against its dataset; returns its streams cast to the store dtype."""
    where = f"{raw.name}: sample #{index}"
    if not isinstance(sample.sample_id, str) or not sample.sample_id:
        raise DataFormatError(f"{where}: sample_id must be a non-empty string, got {sample.sample_id!r}")
    where = f"{raw.name}: sample #{index} {sample.sample_id!r}"
    if sample.sample_id in seen:
        raise DataFormatError(f"{where}: duplicate sample_id")
    if not isinstance(sample.label, (int, np.integer)) or not 0 <= sample.label < len(raw.class_names):
        raise DataFormatError(f"{where}: label {sample.label!r} is not a class index 0..{len(raw.class_names) - 1}")
    if not sample.streams:
        raise DataFormatError(f"{where}: no stream")
    unknown = sorted(set(sample.streams) - set(raw.streams))
    if unknown:
        raise DataFormatError(f"{where}: stream {unknown[0]!r} is not declared; declared: {sorted(raw.streams)}")
    for split in sample.splits:
        if not isinstance(split, str) or not _SPLIT_NAME.fullmatch(split):
            raise DataFormatError(f"{where}: split name {split!r} is not a word of letters, digits and _.+-")
    try:
        json.dumps(sample.meta)
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"{where}: meta is not JSON-serialisable ({err})") from None
    streams = {}
    for name, keypoints in sample.streams.items():
        info = raw.streams[name]
        kp = check_keypoints(np.asarray(keypoints), joints[name], len(info.channels), f"{where} stream {name!r}")
        with np.errstate(over="ignore"):  # checked just below
            stored = kp.astype(dtype, copy=False)
        if not np.isfinite(stored).all():
            raise DataFormatError(f"{where} stream {name!r}: values beyond the {dtype.name} range; use float32")
        streams[name] = stored
    return streams


def _check_dataset(raw: RawDataset) -> dict[str, int]:
    """Validate what a dataset declares; returns the joint count of each stream's layout."""
    if not raw.class_names:
        raise DataFormatError(f"{raw.name}: no class names")
    if not raw.streams:
        raise DataFormatError(f"{raw.name}: declares no stream")
    bad = [s for s in raw.streams if s not in STREAMS]
    if bad:
        raise DataFormatError(f"{raw.name}: stream {bad[0]!r} is not one of {STREAMS}")
    return {name: get_layout(info.layout).num_joints for name, info in raw.streams.items()}


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    _fsync_write(path, buffer.getvalue())


def _close_stream(raw: RawDataset, name: str, writer: _FrameWriter, tmp: Path) -> StoredStream:
    """Finish a stream's frames and write its offsets; returns what the manifest records of it."""
    if not writer.shapes:
        raise DataFormatError(f"{raw.name}: stream {name!r} is declared but no sample has it")
    frames_total, persons = writer.close()
    _save_npy(tmp / f"{name}.offsets.npy", np.asarray(writer.offsets, dtype=np.int64))
    info = raw.streams[name]
    return StoredStream(
        info.layout, tuple(info.channels), persons, writer.num_joints, writer.dtype.name, frames_total
    )


def _write_store(raw: RawDataset, tmp: Path, dtype: np.dtype, progress: bool) -> None:
    """Write all of ``raw`` into the empty directory ``tmp``, the manifest last."""
    joints = _check_dataset(raw)
    labels: list[int] = []
    sample_ids: list[str] = []
    seen: set[str] = set()
    splits: dict[str, list[int]] = {}
    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(_FrameWriter(tmp / f"{name}.frames.npy", joints[name], len(info.channels), dtype))
            for name, info in raw.streams.items()
        }
        meta = stack.enter_context(open(tmp / "meta.jsonl", "w"))
        samples: Iterable[RawSample] = tqdm(
            raw.samples(), total=raw.num_samples, desc=f"prepare {raw.name}", unit="sample",
            disable=None if progress else True,
        )
        short: dict[str, list[str]] = {}
        for index, sample in enumerate(samples):
            streams = _checked_sample(sample, index, raw, joints, dtype, seen)
            for name, writer in writers.items():
                writer.append(streams.get(name))
            for name, keypoints in streams.items():
                if keypoints.shape[1] < MIN_FRAMES:
                    short.setdefault(name, []).append(sample.sample_id)
            seen.add(sample.sample_id)
            sample_ids.append(sample.sample_id)
            labels.append(int(sample.label))
            for split in dict.fromkeys(sample.splits):
                splits.setdefault(split, []).append(index)
            meta.write(json.dumps(sample.meta) + "\n")
        if not labels:
            raise DataFormatError(f"{raw.name}: the reader yielded no sample")
        stored = {name: _close_stream(raw, name, writer, tmp) for name, writer in writers.items()}
        meta.flush()
        os.fsync(meta.fileno())
    _save_npy(tmp / "labels.npy", np.asarray(labels, dtype=np.int64))
    _fsync_write(tmp / "sample_ids.json", json.dumps(sample_ids).encode())
    (tmp / "splits").mkdir()
    for split, indices in splits.items():
        _save_npy(tmp / "splits" / f"{split}.npy", np.asarray(indices, dtype=np.int64))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "complete": True,
        "name": raw.name,
        "class_names": list(raw.class_names),
        "streams": {name: {**asdict(s), "channels": list(s.channels)} for name, s in stored.items()},
        "num_samples": len(labels),
        "splits": {split: len(indices) for split, indices in sorted(splits.items())},
        "skipped": dict(raw.skipped),
        "notes": raw.notes,
        "short_clips": _short_clips(raw.name, short),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pygkd_version": __version__,
    }
    _fsync_write(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())


def _short_clips(name: str, short: dict[str, list[str]]) -> dict:
    """Warn about clips under :data:`MIN_FRAMES` frames; returns the manifest entry that records them."""
    if not short:
        return {}
    counts = ", ".join(f"{len(ids)} in stream {s!r} (e.g. {ids[0]!r})" for s, ids in short.items())
    warnings.warn(f"{name}: clips shorter than {MIN_FRAMES} frames: {counts}", stacklevel=4)
    return {s: {"count": len(ids), "min_frames": MIN_FRAMES, "examples": ids[:5]} for s, ids in short.items()}


def _remove_stale_partials(out: Path) -> None:
    """Delete the ``out.partial-<pid>`` folders of prepare runs that were killed (their process is gone)."""
    for partial in out.parent.glob(f"{glob.escape(out.name)}.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if partial.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier, failed attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _is_replaceable(path: Path) -> bool:
    """Whether ``prepare(overwrite=True)`` may delete ``path``: a prepared dataset or an empty directory."""
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def prepare(
    raw: RawDataset, out: str | Path, dtype: str = "float32", overwrite: bool = False, progress: bool = True
) -> Path:
    """Validate every sample of ``raw`` and write it as a prepared dataset in ``out``.

    Args:
        raw: what a reader returned; its samples are streamed, never all held in memory.
        out: the directory to create.
        dtype: ``"float32"`` or ``"float16"`` (half the disk and page cache; PYSKL stores NTU so).
        overwrite: replace ``out`` if it is a prepared dataset (or empty); any other existing path is an error.
        progress: show a tqdm bar (hidden off a terminal anyway).

    Raises:
        DataFormatError: a sample does not match its stream's layout and channels, has a bad label,
            split name or sample id, or cannot be stored in ``dtype``. Nothing is left at ``out`` then.
        FileExistsError: ``out`` exists and may not be replaced.
    """
    out = Path(out)
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {DTYPES}")
    if out.exists() and not (overwrite and _is_replaceable(out)):
        why = "pass overwrite=True (--overwrite) to replace it" if _is_replaceable(out) else "not a prepared dataset"
        raise FileExistsError(f"{out} exists ({why})")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    tmp.mkdir()
    try:
        _write_store(raw, tmp, np.dtype(dtype), progress)
    except OSError as err:  # disk full, permission denied: named as the dataset being written
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(err.errno, err.strerror, str(out)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------------------------- reading


class PreparedDataset:
    """A prepared directory, its frame arrays memory-mapped (read-only) and checked against the manifest.

    Opening reads only the manifest, labels, sample ids and offsets; frames are paged in as samples are
    read. Pickling (DataLoader workers under ``spawn``) sends the path, not the arrays.

    Raises:
        DataFormatError: naming ``root``, when the directory is not a complete prepared dataset of this
            format version or an array disagrees with the manifest.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest = self._read_manifest()
        self.name: str = self.manifest["name"]
        self.class_names: list[str] = list(self.manifest["class_names"])
        self.skipped: dict[str, int] = self.manifest["skipped"]
        self.notes: dict = self.manifest["notes"]
        self.streams = {
            name: StoredStream(**{**spec, "channels": tuple(spec["channels"])})
            for name, spec in self.manifest["streams"].items()
        }
        n = self.manifest["num_samples"]
        self.labels: np.ndarray = self._load("labels.npy", (n,), np.int64)
        if n and not (0 <= self.labels.min() and self.labels.max() < len(self.class_names)):
            raise DataFormatError(f"{self.root / 'labels.npy'}: labels outside 0..{len(self.class_names) - 1}")
        self.sample_ids: list[str] = json.loads((self.root / "sample_ids.json").read_text())
        if len(self.sample_ids) != n:
            raise DataFormatError(f"{self.root / 'sample_ids.json'}: {len(self.sample_ids)} ids, manifest says {n}")
        self._frames: dict[str, np.ndarray] = {}
        self._offsets: dict[str, np.ndarray] = {}
        for name, s in self.streams.items():
            shape = (s.frames_total, s.num_persons, s.num_joints, len(s.channels))
            self._frames[name] = self._load(f"{name}.frames.npy", shape, np.dtype(s.dtype), mmap=True)
            offsets = self._load(f"{name}.offsets.npy", (n + 1,), np.int64)
            if offsets[0] != 0 or offsets[-1] != s.frames_total or (np.diff(offsets) < 0).any():
                raise DataFormatError(
                    f"{self.root / f'{name}.offsets.npy'}: offsets must rise from 0 to {s.frames_total} frames"
                )
            self._offsets[name] = offsets
        self._splits: dict[str, np.ndarray] = {}
        for split, count in self.manifest["splits"].items():
            indices = self._load(f"splits/{split}.npy", (count,), np.int64)
            if count and not (0 <= indices.min() and indices.max() < n):
                raise DataFormatError(f"{self.root / 'splits' / f'{split}.npy'}: indices outside 0..{n - 1}")
            self._splits[split] = indices
        self._meta: list[dict] | None = None

    def _read_manifest(self) -> dict:
        path = self.root / MANIFEST
        if not path.is_file():
            raise DataFormatError(
                f"{self.root}: no {MANIFEST}; not a prepared dataset, or `pygkd prepare` did not finish "
                f"(it writes {MANIFEST} last)"
            )
        try:
            manifest = json.loads(path.read_text())
        except ValueError as err:
            raise DataFormatError(f"{path}: invalid JSON ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DataFormatError(f"{path}: not a {FORMAT} manifest")
        if manifest.get("version") != VERSION:
            raise DataFormatError(
                f"{path}: format version {manifest.get('version')!r}, this pygkd reads version {VERSION}; "
                "prepare the dataset again"
            )
        if manifest.get("complete") is not True:
            raise DataFormatError(f"{path}: the dataset is not marked complete; prepare it again")
        keys = ("name", "class_names", "streams", "num_samples", "splits", "skipped", "notes")
        missing = [k for k in keys if k not in manifest]
        if missing:
            raise DataFormatError(f"{path}: missing {missing}")
        return manifest

    def _load(self, name: str, shape: tuple[int, ...], dtype: np.dtype, mmap: bool = False) -> np.ndarray:
        path = self.root / name
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataFormatError(f"{path}: cannot be read as .npy ({err})") from None
        if array.shape != shape or array.dtype != dtype:
            raise DataFormatError(
                f"{path}: {array.dtype}{list(array.shape)}, the manifest says {np.dtype(dtype)}{list(shape)}"
            )
        return array

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        streams = ", ".join(f"{k}={s.layout}" for k, s in self.streams.items())
        return f"PreparedDataset({str(self.root)!r}, {self.name}, {len(self)} samples, {streams})"

    @property
    def split_names(self) -> list[str]:
        return list(self._splits)

    def split(self, name: str) -> np.ndarray:
        """Indices ``[N_split]`` (int64) of the samples in split ``name``."""
        if name not in self._splits:
            raise KeyError(f"{self.root}: no split {name!r}; splits: {self.split_names}")
        return self._splits[name]

    def _stream(self, stream: str) -> np.ndarray:
        if stream not in self._offsets:
            raise KeyError(f"{self.root}: no stream {stream!r}; streams: {list(self.streams)}")
        return self._offsets[stream]

    def has(self, stream: str, i: int) -> bool:
        """Whether sample ``i`` has ``stream``."""
        offsets = self._stream(stream)
        return bool(offsets[i + 1] > offsets[i])

    def frame_counts(self, stream: str) -> np.ndarray:
        """Frames ``[N]`` of every sample in ``stream`` (0 where a sample lacks it)."""
        return np.diff(self._stream(stream))

    def keypoints(self, stream: str, i: int) -> np.ndarray:
        """Sample ``i`` of ``stream`` as a fresh float32 array ``[M, T_i, V, C]`` (reads only its frames)."""
        offsets = self._stream(stream)
        start, stop = offsets[i], offsets[i + 1]
        if stop == start:
            raise KeyError(f"{self.root}: sample #{i} {self.sample_ids[i]!r} has no {stream!r} stream")
        return np.array(self._frames[stream][start:stop].transpose(1, 0, 2, 3), dtype=np.float32, order="C")

    def padded_keypoints(self, stream: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``indices`` (int64 ``[B]``) of ``stream`` at once: float32 ``[B, T_max, M, V, C]`` (time-major,
        as stored), each zero-padded to the longest, and their frame counts ``[B]``."""
        offsets = self._stream(stream)
        starts, stops = offsets[indices], offsets[indices + 1]
        lengths = stops - starts
        if (lengths == 0).any():
            i = int(indices[np.argmax(lengths == 0)])
            raise KeyError(f"{self.root}: sample #{i} {self.sample_ids[i]!r} has no {stream!r} stream")
        frames = self._frames[stream]
        out = np.zeros((len(indices), int(lengths.max()), *frames.shape[1:]), dtype=np.float32)
        for row, (start, stop) in enumerate(zip(starts, stops)):
            out[row, : stop - start] = frames[start:stop]
        return out, lengths

    def meta(self, i: int) -> dict:
        """The reader's facts about sample ``i`` (``meta.jsonl`` is read on first use)."""
        if self._meta is None:
            with open(self.root / "meta.jsonl") as f:
                self._meta = [json.loads(line) for line in f]
        return self._meta[i]

    def summary(self) -> dict:
        """Counts per split and class, streams with frame statistics, skipped samples (``pygkd info``)."""

        def per_class(labels: np.ndarray) -> dict[str, int]:
            return dict(zip(self.class_names, np.bincount(labels, minlength=len(self.class_names)).tolist()))

        streams = {}
        for name, s in self.streams.items():
            frames = self.frame_counts(name)
            present = frames[frames > 0]
            streams[name] = {
                "layout": s.layout, "channels": list(s.channels), "num_persons": s.num_persons,
                "num_joints": s.num_joints, "dtype": s.dtype, "samples": int(present.size),
                "frames": {"total": s.frames_total, "min": int(present.min()),
                           "median": float(np.median(present)), "max": int(present.max())},
            }
        return {
            "path": str(self.root),
            "name": self.name,
            "num_samples": len(self),
            "num_classes": len(self.class_names),
            "streams": streams,
            "splits": {
                name: {"samples": len(idx), "per_class": per_class(self.labels[idx])}
                for name, idx in self._splits.items()
            },
            "per_class": per_class(self.labels),
            "skipped": self.skipped,
            "short_clips": self.manifest.get("short_clips", {}),
            "notes": self.notes,
            "created": self.manifest.get("created"),
            "pygkd_version": self.manifest.get("pygkd_version"),
        }


def raw_of_prepared(
    prepared: PreparedDataset, extra: Callable[[int], np.ndarray | None] | None = None,
    extra_info: StreamInfo | None = None, notes: dict | None = None, extra_name: str = "lq",
) -> RawDataset:
    """A prepared dataset read back as a reader's output (to slice it or add a stream), samples in order.

    Args:
        extra: ``i -> [M, T, V, C]`` keypoints of sample ``i`` in an added stream ``extra_name`` (None: the
            sample lacks it); it replaces a stored stream of that name.
        extra_info: that stream's layout and channels.
        notes: replace the dataset's notes.
    """
    membership: list[list[str]] = [[] for _ in range(len(prepared))]
    for name in prepared.split_names:
        for i in prepared.split(name):
            membership[i].append(name)

    def samples() -> Iterator[RawSample]:
        for i in range(len(prepared)):
            streams = {name: prepared.keypoints(name, i) for name in prepared.streams if prepared.has(name, i)}
            added = extra(i) if extra is not None else None
            if added is not None:
                streams[extra_name] = added
            yield RawSample(prepared.sample_ids[i], int(prepared.labels[i]), streams, tuple(membership[i]),
                            prepared.meta(i))

    streams = {name: StreamInfo(s.layout, s.channels) for name, s in prepared.streams.items()}
    if extra_info is not None:
        streams[extra_name] = extra_info
    return RawDataset(prepared.name, prepared.class_names, streams, samples, len(prepared), prepared.skipped,
                      prepared.notes if notes is None else notes)
