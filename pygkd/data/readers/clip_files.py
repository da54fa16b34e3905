"""Where the frames of one clip come from: a :class:`ClipSource` per clip, and JSON loading whose errors
name the file, line and column."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..raw import DataFormatError
from .pose_frames import PoseFrame


@dataclass(frozen=True)
class ClipSource:
    """One clip, found but not read.

    Attributes:
        clip_id: the clip's name (a folder name, a file stem or a file-name prefix), unique in its dataset.
        path: the clip's file or folder, for messages.
        parts: the clip's path relative to the root that was searched (label folders come first).
        read: reads the clip's frames (any order; :func:`~.pose_frames.order_frames` sorts them).
    """

    clip_id: str
    path: Path
    parts: tuple[str, ...]
    read: Callable[[], list[PoseFrame]]


def relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    """``path`` relative to ``root`` as parts; ``(path.name,)`` when ``path`` is ``root`` or outside it."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    return parts or (path.name,)


def load_json(path: Path) -> Any:
    """The JSON value of a file; a file that is not JSON is a :class:`DataFormatError` naming its line and
    column (``json`` reads ``NaN``, which the frame parsers then refuse as a confidence)."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}:{err.colno}: not JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSON-lines file."""
    try:
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except json.JSONDecodeError as err:
                        raise DataFormatError(f"{path}:{number}:{err.colno}: not JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
