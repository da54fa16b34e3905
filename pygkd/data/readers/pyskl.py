"""PYSKL / MMAction2 skeleton annotation pickles, optionally paired HQ + LQ.

A file holds ``{"split": {name: [frame_dir, ...]}, "annotations": [ann, ...]}`` where every ``ann`` is a
dict with ``frame_dir`` (the sample's unique name), ``label`` (int), ``keypoint`` ``[M, T, V, C]`` (2D or
3D, often float16), optionally ``keypoint_score`` ``[M, T, V]``, ``img_shape`` ``(h, w)`` and
``total_frames``. Two files of the same samples (e.g. PYSKL's ``ntu60_hrnet.pkl`` 2D estimates as LQ and
``ntu60_3danno.pkl`` Kinect skeletons as HQ) are paired by ``frame_dir``.

Pickles can run code when loaded, so they are read by :class:`RestrictedUnpickler`, which admits only the
builtin containers and the few numpy functions that rebuild arrays and scalars. Those functions allocate
what the pickle asks for, so the sizes they are given are checked first: an array or a ``bytes`` object
of more than :data:`MAX_ARRAY_BYTES` (1 GiB) is refused before the memory is taken. (An array's data
itself comes from the file's own bytes, which numpy checks against the array's declared shape.)
"""
from __future__ import annotations

import builtins
import codecs
import functools
import importlib
import math
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ...skeleton import get_layout
from ..raw import DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints

MAX_ARRAY_BYTES = 2**30  # the largest array or bytes object an annotation pickle may ask to allocate


class _AllocationRefused(Exception):
    """A pickle asked for more memory than :data:`MAX_ARRAY_BYTES` (turned into a DataFormatError)."""


class _NdarrayName:
    """What the global ``numpy.ndarray`` resolves to: calling it (``ndarray(shape)`` allocates) fails; it is
    only a valid first argument of ``_reconstruct``, the way numpy pickles an array."""

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayName()


def _bounded_reconstruct(reconstruct: Any, subtype: Any, shape: Any, dtype: Any) -> Any:
    """numpy's ``_reconstruct(ndarray, shape, dtype)`` (it allocates ``shape``), for shapes within the limit."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(f"_reconstruct of {subtype!r}, expected numpy.ndarray")
    try:
        size = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    except (TypeError, ValueError):
        raise _AllocationRefused(f"an array of shape {shape!r} and dtype {dtype!r}") from None
    if size > MAX_ARRAY_BYTES:
        raise _AllocationRefused(f"an array of {size} bytes (shape {tuple(shape)})")
    return reconstruct(np.ndarray, shape, dtype)


def _bounded_bytes(kind: type, *args: Any) -> Any:
    """``bytes(n)`` / ``bytearray(n)`` allocate ``n`` zero bytes: refuse ``n`` beyond the limit."""
    if args and isinstance(args[0], int) and args[0] > MAX_ARRAY_BYTES:
        raise _AllocationRefused(f"a {kind.__name__} of {args[0]} bytes")
    return kind(*args)


def _numpy_rebuilders() -> dict[tuple[str, str], Any]:
    """The numpy globals that array and scalar pickles name, under numpy 1.x and 2.x module paths."""
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
        numeric = importlib.import_module("numpy._core.numeric")
    except ImportError:  # numpy < 1.26
        multiarray = importlib.import_module("numpy.core.multiarray")
        numeric = importlib.import_module("numpy.core.numeric")
    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = functools.partial(_bounded_reconstruct,
                                                                             multiarray._reconstruct)
        table[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


_BUILTINS = ("list", "tuple", "dict", "set", "frozenset", "bytearray", "complex", "int", "float", "str", "bytes")
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    **{("builtins", name): getattr(builtins, name) for name in _BUILTINS},
    **{("builtins", kind.__name__): functools.partial(_bounded_bytes, kind) for kind in (bytes, bytearray)},
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles (mmcv's default) store bytes
    **_numpy_rebuilders(),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`SAFE_GLOBALS`; any other global raises
    :class:`DataFormatError` naming the file and the refused ``module.name``."""

    def __init__(self, file, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 0-2 pickles name the builtins by their Python 2 module
            module = "builtins"
        if (module, name) not in SAFE_GLOBALS:
            raise DataFormatError(
                f"{self.path}: refused to unpickle global {module}.{name}; an annotation pickle may only hold "
                "dicts, lists, strings, numbers and numpy arrays"
            )
        return SAFE_GLOBALS[(module, name)]


def load_annotation_file(path: Path) -> dict:
    """Load a PYSKL pickle with :class:`RestrictedUnpickler` and check its top level."""
    with open(path, "rb") as file:
        try:
            data = RestrictedUnpickler(file, path).load()
        except DataFormatError:
            raise
        except _AllocationRefused as err:
            raise DataFormatError(
                f"{path}: the pickle asks for {err}, more than the limit of {MAX_ARRAY_BYTES} bytes (MAX_ARRAY_BYTES)"
            ) from None
        except MemoryError:
            raise DataFormatError(f"{path}: the pickle asks for more memory than there is") from None
        except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
            raise DataFormatError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DataFormatError(f"{path}: expected a dict with an 'annotations' list (and a 'split' dict)")
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataFormatError(f"{path}: annotation {i} is a {type(ann).__name__}, expected a dict")
        for key in ("frame_dir", "label", "keypoint"):
            if key not in ann:
                raise DataFormatError(f"{path}: annotation {i} ({ann.get('frame_dir', '?')}): missing key {key!r}")
    return data


def _by_frame_dir(path: Path, annotations: list[dict]) -> dict[str, dict]:
    index: dict[str, dict] = {}
    for ann in annotations:
        name = str(ann["frame_dir"])
        if name in index:
            raise DataFormatError(f"{path}: frame_dir {name!r} appears twice")
        index[name] = ann
    return index


def _label(ann: dict, where: str) -> int:
    label = ann["label"]
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or label < 0:
        raise DataFormatError(f"{where}: label {label!r} is not a class index >= 0")
    return int(label)


def _stream_info(path: Path, first: dict, layout: str) -> StreamInfo:
    """Channels of a file from its first annotation: ``x, y[, z]`` and ``score`` when scores are given."""
    dims = np.shape(first["keypoint"])[-1:]
    if dims not in ((2,), (3,)):
        raise DataFormatError(f"{path}: keypoint last axis is {dims}, expected 2 (x, y) or 3 (x, y, z)")
    channels = ("x", "y", "z")[: dims[0]] + (("score",) if "keypoint_score" in first else ())
    get_layout(layout)  # an unknown layout fails here, before any sample is read
    return StreamInfo(layout, channels)


def _keypoints(ann: dict, info: StreamInfo, where: str) -> np.ndarray:
    """``keypoint [M, T, V, C]`` (+ ``keypoint_score [M, T, V]`` as a last channel) -> float32, checked."""
    keypoint = np.asarray(ann["keypoint"])
    wants_score = info.channels[-1] == "score"
    if wants_score != ("keypoint_score" in ann):
        state = "missing" if wants_score else "present"
        raise DataFormatError(f"{where}: keypoint_score is {state}, unlike in the file's first annotation")
    if wants_score:
        score = np.asarray(ann["keypoint_score"])
        if keypoint.ndim != 4 or score.shape != keypoint.shape[:3]:
            raise DataFormatError(
                f"{where}: keypoint_score shape {score.shape} does not match keypoint {keypoint.shape} [M, T, V]"
            )
        keypoint = np.concatenate([keypoint.astype(np.float32), score[..., None].astype(np.float32)], axis=-1)
    return check_keypoints(keypoint, get_layout(info.layout).num_joints, len(info.channels), where)


def _split_membership(path: Path, data: dict, samples: dict[str, dict]) -> tuple[dict[str, list[str]], int]:
    """frame_dir -> names of its splits, and the number of split entries naming no sample of the file."""
    split = data.get("split")
    if not isinstance(split, dict):
        raise DataFormatError(f"{path}: missing the 'split' dict {{name: [frame_dir, ...]}}")
    membership: dict[str, list[str]] = {name: [] for name in samples}
    unmatched = 0
    for name, members in split.items():
        if not isinstance(name, str) or not name:
            raise DataFormatError(f"{path}: split name {name!r} is not a non-empty string")
        if not isinstance(members, (list, tuple)):
            raise DataFormatError(f"{path}: split {name!r} is a {type(members).__name__}, expected a list")
        for member in dict.fromkeys(str(m) for m in members):
            if member in membership:
                membership[member].append(name)
            else:
                unmatched += 1
    return membership, unmatched


def read_pyskl(
    lq: Path,
    hq: Path | None = None,
    lq_layout: str = "coco17",
    hq_layout: str = "ntu25",
    class_names: Sequence[str] | None = None,
) -> RawDataset:
    """Read a PYSKL annotation pickle as the ``"lq"`` stream and, optionally, a second one as ``"hq"``.

    Args:
        lq: the student's file; its ``split`` dict gives the splits (the HQ file's is ignored).
        hq: the teacher's file; its samples are paired with the LQ ones by ``frame_dir``.
        lq_layout, hq_layout: layout names (or layout files) of the two files' joints.
        class_names: names of the classes; default ``"0", "1", ...`` up to the largest label.

    Samples are the LQ file's, in its order; an LQ sample without HQ is solitary (``notes["solitary"]``
    counts them). ``skipped`` counts ``hq_only`` (HQ samples without LQ; ``notes["hq_only_examples"]``
    names a few) and ``split_entries_without_sample`` (split entries naming no LQ sample).
    The LQ and HQ labels of a pair must agree.
    """
    lq, hq = Path(lq), None if hq is None else Path(hq)
    lq_data = load_annotation_file(lq)
    lq_samples = _by_frame_dir(lq, lq_data["annotations"])
    if not lq_samples:
        raise DataFormatError(f"{lq}: no annotations")
    membership, unmatched = _split_membership(lq, lq_data, lq_samples)
    streams = {"lq": _stream_info(lq, lq_data["annotations"][0], lq_layout)}
    labels = {name: _label(ann, f"{lq}: sample {name}") for name, ann in lq_samples.items()}

    hq_samples: dict[str, dict] = {}
    notes: dict = {}
    skipped = {"split_entries_without_sample": unmatched}
    if hq is not None:
        hq_samples = _by_frame_dir(hq, load_annotation_file(hq)["annotations"])
        if not hq_samples:
            raise DataFormatError(f"{hq}: no annotations")
        streams["hq"] = _stream_info(hq, next(iter(hq_samples.values())), hq_layout)
        for name, ann in hq_samples.items():
            label = _label(ann, f"{hq}: sample {name}")
            if name in labels and label != labels[name]:
                raise DataFormatError(f"sample {name}: label {labels[name]} in {lq} but {label} in {hq}")
        if not set(hq_samples) & set(lq_samples):
            raise DataFormatError(f"{hq}: no frame_dir in common with {lq}; are they the same dataset?")
        hq_only = sorted(set(hq_samples) - set(lq_samples))
        skipped["hq_only"] = len(hq_only)
        notes = {"solitary": len(set(lq_samples) - set(hq_samples)), "hq_only_examples": hq_only[:5]}

    num_classes = max(labels.values()) + 1
    if class_names is None:
        class_names = [str(k) for k in range(num_classes)]
    elif num_classes > len(class_names):
        name = next(n for n, label in labels.items() if label >= len(class_names))
        raise DataFormatError(f"{lq}: sample {name}: label {labels[name]} out of range for {len(class_names)} classes")

    def samples() -> Iterator[RawSample]:
        for name, ann in lq_samples.items():
            keypoints = {"lq": _keypoints(ann, streams["lq"], f"{lq}: sample {name}")}
            if name in hq_samples:
                keypoints["hq"] = _keypoints(hq_samples[name], streams["hq"], f"{hq}: sample {name}")
            meta = {key: np.asarray(ann[key]).tolist() for key in ("img_shape", "total_frames") if key in ann}
            yield RawSample(name, labels[name], keypoints, tuple(membership[name]), meta)

    return RawDataset(
        name=lq.stem,
        class_names=list(class_names),
        streams=streams,
        samples=samples,
        num_samples=len(lq_samples),
        skipped=skipped,
        notes=notes,
    )
