"""Labels and splits of clips that come without them (a pose estimator's output): from CSV files, the
folder structure, or seeded stratified fractions.

* labels: a CSV with a header naming the columns ``clip`` and ``label`` (others are ignored), one clip a
  row, the label a class name; or the folder structure ``ROOT/label/clip...`` (the first folder under the
  root names the class). Classes are ``class_names`` when given (a label outside them is an error naming
  the CSV line), else the labels found, sorted (numerically when all are integers).
* splits: a CSV with columns ``clip`` and ``split`` (a clip may be in several splits, one row each), or
  fractions ``{train: 0.8, test: 0.2}`` drawn per class: each class's clips, sorted by id, are permuted by
  ``numpy.random.default_rng(seed)`` and cut by the fractions (largest remainder rounding), so every split
  has each class in proportion and the same seed gives the same splits.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..raw import DataFormatError


@dataclass
class ClipAnnotations:
    """What :class:`~pygkd.data.raw.RawSample` needs besides the keypoints.

    Attributes:
        class_names: the classes; a label is an index into it.
        labels: clip id -> class index (clips without a label are absent).
        splits: clip id -> names of its splits.
        skipped: counts of what was left out (``unlabelled`` clips, ``label_rows_without_clip``,
            ``split_rows_without_clip``).
        notes: a few names of what was left out.
    """

    class_names: list[str]
    labels: dict[str, int]
    splits: dict[str, tuple[str, ...]]
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def read_csv_columns(path: Path, columns: Sequence[str]) -> list[tuple[int, list[str]]]:
    """The rows of a CSV with a header as ``(line number, [values of columns])``; blank rows are skipped."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DataFormatError(
                    f"{path}:1: header {','.join(header) or '(empty)'} lacks column {missing[0]!r}; "
                    f"expected a header naming {', '.join(columns)}"
                )
            at = [header.index(c) for c in columns]
            rows = []
            for row in reader:
                if not any(v.strip() for v in row):
                    continue
                if len(row) < len(header):
                    raise DataFormatError(f"{path}:{reader.line_num}: {len(row)} values, expected {len(header)}")
                values = [row[i].strip() for i in at]
                if not all(values):
                    raise DataFormatError(f"{path}:{reader.line_num}: empty {columns[values.index('')]!r}")
                rows.append((reader.line_num, values))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
    return rows


def _sorted_names(names: set[str]) -> list[str]:
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _class_index(named: dict[str, tuple[str, str]], class_names: Sequence[str] | None) -> tuple[list[str], dict]:
    """clip -> (label, where) -> (class names, clip -> index); a label outside ``class_names`` fails."""
    if class_names is None:
        class_names = _sorted_names({label for label, _ in named.values()})
    index = {name: k for k, name in enumerate(class_names)}
    for clip, (label, where) in named.items():
        if label not in index:
            shown = ", ".join(list(class_names)[:10]) + (", ..." if len(class_names) > 10 else "")
            raise DataFormatError(f"{where}: unknown label {label!r} of clip {clip!r}; expected one of {shown}")
    return list(class_names), {clip: index[label] for clip, (label, _) in named.items()}


def labels_from_csv(path: Path) -> dict[str, tuple[str, str]]:
    """clip -> (label, ``"file:line"``) of every row of a ``clip,label`` CSV; a clip twice is an error."""
    named: dict[str, tuple[str, str]] = {}
    for line, (clip, label) in read_csv_columns(path, ("clip", "label")):
        if clip in named:
            raise DataFormatError(f"{path}:{line}: clip {clip!r} again (first at {named[clip][1]})")
        named[clip] = (label, f"{path}:{line}")
    return named


def labels_from_folders(folders: Mapping[str, Sequence[str]], root: Path) -> dict[str, tuple[str, str]]:
    """clip -> (its first folder under ``root``, where); ``folders`` maps a clip id to its path parts
    relative to ``root`` (e.g. ``("walk", "clip01")``)."""
    named = {}
    for clip, parts in folders.items():
        if len(parts) < 2:
            raise DataFormatError(
                f"{Path(root, *parts)}: clip {clip!r} is not in a label folder; expected ROOT/label/clip..., "
                "or give the labels as a CSV (labels=FILE with columns clip,label)"
            )
        named[clip] = (parts[0], str(Path(root, parts[0])))
    return named


def splits_from_csv(path: Path, clips: Sequence[str]) -> tuple[dict[str, tuple[str, ...]], int]:
    """clip -> its splits from a ``clip,split`` CSV, and the number of rows naming no clip of ``clips``."""
    known = set(clips)
    splits: dict[str, list[str]] = {}
    without_clip = 0
    for _, (clip, split) in read_csv_columns(path, ("clip", "split")):
        if clip in known:
            if split not in splits.setdefault(clip, []):
                splits[clip].append(split)
        else:
            without_clip += 1
    return {clip: tuple(names) for clip, names in splits.items()}, without_clip


def stratified_splits(labels: Mapping[str, int], fractions: Mapping[str, float], seed: int) -> dict[str, tuple[str]]:
    """clip -> ``(split,)``: each class's clips cut by ``fractions`` (module docstring)."""
    if not fractions or any(not isinstance(f, (int, float)) or isinstance(f, bool) or f <= 0
                            for f in fractions.values()):
        raise DataFormatError(f"splits {dict(fractions)}: expected fractions > 0 per split name, e.g. "
                              "{train: 0.8, test: 0.2}")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise DataFormatError(f"splits {dict(fractions)}: the fractions sum to {sum(fractions.values()):g}, expected 1")
    names, weights = list(fractions), np.array(list(fractions.values()), dtype=np.float64)
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[str]] = {}
    for label in sorted(set(labels.values())):
        clips = sorted(c for c, k in labels.items() if k == label)
        exact = weights * len(clips)
        counts = np.floor(exact).astype(int)
        for k in np.argsort(-(exact - counts), kind="stable")[: len(clips) - counts.sum()]:
            counts[k] += 1
        order = rng.permutation(len(clips))
        start = 0
        for name, count in zip(names, counts):
            for i in order[start:start + count]:
                out[clips[i]] = (name,)
            start += count
    return out


def annotate_clips(
    folders: Mapping[str, Sequence[str]],
    root: Path,
    labels: str | Path | None = None,
    splits: str | Path | Mapping[str, float] | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> ClipAnnotations:
    """Labels and splits of the clips ``folders`` (clip id -> path parts under ``root``).

    Args:
        labels: a ``clip,label`` CSV, or ``None`` for the folder structure ``ROOT/label/clip...``.
        splits: a ``clip,split`` CSV, fractions ``{name: fraction}``, or ``None`` (no splits).
        class_names: the classes in label order; default the labels found, sorted.
        seed: the seed of the fractions.
    """
    clips = list(folders)
    skipped: dict[str, int] = {}
    notes: dict = {}
    if labels is None:
        names, label_of = _class_index(labels_from_folders(folders, root), class_names)
    else:
        named = labels_from_csv(Path(labels))
        names, label_of = _class_index(named, class_names)  # every row's label is checked
        unlabelled = [c for c in clips if c not in named]
        without_clip = [c for c in named if c not in folders]
        label_of = {c: k for c, k in label_of.items() if c in folders}
        skipped |= {"unlabelled": len(unlabelled), "label_rows_without_clip": len(without_clip)}
        notes |= {"unlabelled_examples": unlabelled[:5], "label_rows_without_clip_examples": without_clip[:5]}
        if not label_of:
            raise DataFormatError(
                f"{labels}: labels none of the {len(clips)} clips under {root} (clips are e.g. {clips[:3]})"
            )
    if splits is None:
        split_of: dict[str, tuple[str, ...]] = {}
    elif isinstance(splits, Mapping):
        split_of = stratified_splits(label_of, splits, seed)
    else:
        split_of, without_clip = splits_from_csv(Path(splits), clips)
        skipped["split_rows_without_clip"] = without_clip
    return ClipAnnotations(names, label_of, {c: split_of.get(c, ()) for c in label_of}, skipped, notes)
