"""Dataset readers by name: each turns a dataset's original files into a :class:`~pygkd.data.raw.RawDataset`.

``READERS`` maps a dataset name to ``"module:function"``; the module is imported only when its reader is
asked for, so a reader's optional dependencies never slow down or break the others. Any
``"package.module:function"`` path names a reader of your own (``pygkd prepare mypkg.readers:read_x``).
"""
from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable

from ..raw import DataFormatError, RawDataset

Reader = Callable[..., RawDataset]

#: formats of pose-estimator output, each a dataset name read by ``pose_dataset.read_pose_dataset``
POSE_FORMATS: tuple[str, ...] = ("openpose", "coco_results", "mmpose", "alphapose", "mediapipe")

READERS: dict[str, str] = {
    "ntu60": "pygkd.data.readers.ntu:read_ntu",
    "ntu120": "pygkd.data.readers.ntu:read_ntu",
    "pyskl": "pygkd.data.readers.pyskl:read_pyskl",
    "sysu": "pygkd.data.readers.sysu:read_sysu",
    "npz": "pygkd.data.readers.generic_npz:read_npz",
    "penn_action": "pygkd.data.readers.penn_action:read_penn_action",
    "msr_action3d": "pygkd.data.readers.msr_action3d:read_msr_action3d",
    "ui_prmd": "pygkd.data.readers.ui_prmd:read_ui_prmd",
    "synthetic": "pygkd.data.readers.synthetic:read_synthetic",
    **{fmt: "pygkd.data.readers.pose_dataset:read_pose_dataset" for fmt in POSE_FORMATS},
}

# options that a dataset name fixes for its reader (one reader serves both NTU variants, one all pose formats)
READER_OPTIONS: dict[str, dict[str, object]] = {
    "ntu60": {"variant": "ntu60"}, "ntu120": {"variant": "ntu120"}, **{fmt: {"fmt": fmt} for fmt in POSE_FORMATS},
}


def get_reader(name: str) -> Reader:
    """The reader ``read(root: Path, **options) -> RawDataset`` of a dataset name or ``"module:function"``."""
    target = READERS.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(READERS)}, or give 'package.module:function'")
    module_name, function_name = target.split(":", 1)
    try:
        reader = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot load the reader {target!r} of dataset {name!r}: {err}") from err
    if not callable(reader) or not _may_return_dataset(reader):
        raise ValueError(f"{target!r} is not a reader: expected a function returning a RawDataset, got {reader!r}")
    options = READER_OPTIONS.get(name)
    return functools.partial(reader, **options) if options else reader


def _may_return_dataset(reader: Callable) -> bool:
    """False when ``reader`` is annotated to return something else than a RawDataset (checked before any
    call); an unannotated callable is checked by :func:`read_dataset` after the call."""
    try:
        returns = inspect.signature(reader).return_annotation
    except (TypeError, ValueError):  # a builtin without a signature
        return True
    if returns is inspect.Signature.empty:
        return True
    if isinstance(reader, type):
        return issubclass(reader, RawDataset)
    name = returns if isinstance(returns, str) else getattr(returns, "__name__", str(returns))
    return name.rsplit(".", 1)[-1] == "RawDataset"


def read_dataset(name: str, *args: Any, **options: Any) -> RawDataset:
    """Call the reader of ``name`` (see :func:`get_reader`) and check that it returned a RawDataset.

    Raises:
        ValueError: unknown dataset, or not a reader.
        DataFormatError: the reader returned something else.
    """
    raw = get_reader(name)(*args, **options)
    return checked_dataset(raw, name)


def checked_dataset(raw: Any, name: str) -> RawDataset:
    """``raw``, when it is the RawDataset that the reader ``name`` must return."""
    if not isinstance(raw, RawDataset):
        raise DataFormatError(f"the reader {name!r} returned a {type(raw).__name__}, expected a RawDataset")
    return raw
