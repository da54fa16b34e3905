"""Labels and splits of clips: CSV files, label folders, seeded stratified fractions, and bad rows."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pygkd.data.raw import DataFormatError
from pygkd.data.readers.clip_labels import annotate_clips, stratified_splits

FOLDERS = {"c1": ("c1",), "c2": ("c2.json",), "c3": ("c3",)}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_labels_and_splits_from_csv(tmp_path):
    labels = write(tmp_path / "labels.csv", "clip,label,comment\nc1,wave,x\n\nc2,sit,\nc9,wave,gone\n")
    splits = write(tmp_path / "splits.csv", "split,clip\ntrain,c1\ntest,c2\nval,c2\ntrain,c7\n")
    ann = annotate_clips(FOLDERS, tmp_path, labels=labels, splits=splits)
    assert ann.class_names == ["sit", "wave"]
    assert ann.labels == {"c1": 1, "c2": 0}
    assert ann.splits == {"c1": ("train",), "c2": ("test", "val")}
    assert ann.skipped == {"unlabelled": 1, "label_rows_without_clip": 1, "split_rows_without_clip": 1}
    assert ann.notes == {"unlabelled_examples": ["c3"], "label_rows_without_clip_examples": ["c9"]}
    given = annotate_clips(FOLDERS, tmp_path, labels=labels, class_names=["wave", "sit", "jump"])
    assert given.class_names == ["wave", "sit", "jump"] and given.labels == {"c1": 0, "c2": 1}
    assert given.splits == {"c1": (), "c2": ()}


def test_integer_labels_sort_numerically(tmp_path):
    labels = write(tmp_path / "l.csv", "clip,label\nc1,10\nc2,2\nc3,2\n")
    ann = annotate_clips(FOLDERS, tmp_path, labels=labels)
    assert ann.class_names == ["2", "10"] and ann.labels == {"c1": 1, "c2": 0, "c3": 0}


def test_labels_from_folders(tmp_path):
    folders = {"a": ("walk", "a"), "b": ("run", "b.json"), "c": ("walk", "sub", "c")}
    ann = annotate_clips(folders, tmp_path)
    assert ann.class_names == ["run", "walk"] and ann.labels == {"a": 1, "b": 0, "c": 1}
    with pytest.raises(DataFormatError, match=r"x.json: clip 'x' is not in a label folder; expected ROOT/label/clip"):
        annotate_clips({"x": ("x.json",)}, tmp_path)
    with pytest.raises(DataFormatError, match=r"run: unknown label 'run' of clip 'b'; expected one of walk, jump"):
        annotate_clips(folders, tmp_path, class_names=["walk", "jump"])


def test_stratified_fractions_by_class_and_seed():
    labels = {f"a{i:02d}": 0 for i in range(10)} | {f"b{i}": 1 for i in range(5)}
    splits = stratified_splits(labels, {"train": 0.8, "test": 0.2}, seed=3)
    per_class = Counter((labels[c], s) for c, (s,) in splits.items())
    assert per_class == {(0, "train"): 8, (0, "test"): 2, (1, "train"): 4, (1, "test"): 1}
    assert splits == stratified_splits(dict(reversed(labels.items())), {"train": 0.8, "test": 0.2}, seed=3)
    assert splits != stratified_splits(labels, {"train": 0.8, "test": 0.2}, seed=4)
    # largest remainder: 5 clips at 0.5 / 0.3 / 0.2 -> 2.5, 1.5, 1.0 -> 2 + 1 + 1 and one more to the first tie
    three = Counter(s for (s,) in stratified_splits({f"c{i}": 0 for i in range(5)},
                                                    {"a": 0.5, "b": 0.3, "c": 0.2}, seed=0).values())
    assert three == {"a": 3, "b": 1, "c": 1}


@pytest.mark.parametrize(
    "fractions, message",
    [({"train": 0.8, "test": 0.1}, "the fractions sum to 0.9, expected 1"),
     ({"train": 1.2, "test": -0.2}, "expected fractions > 0"),
     ({}, "expected fractions > 0")],
)
def test_bad_fractions(fractions, message):
    with pytest.raises(DataFormatError, match=message):
        stratified_splits({"a": 0}, fractions, seed=0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("clip,label\nc1,wave\nc2,wvae\n", r"l.csv:3: unknown label 'wvae' of clip 'c2'; expected one of wave, sit"),
        ("clip,label\nc9,jmup\n", r"l.csv:2: unknown label 'jmup' of clip 'c9'"),  # checked for every row
        ("name,label\nc1,wave\n", r"l.csv:1: header name,label lacks column 'clip'"),
        ("clip,label\nc1,wave\nc1,sit\n", r"l.csv:3: clip 'c1' again \(first at .*l.csv:2\)"),
        ("clip,label\nc1\n", "l.csv:2: 1 values, expected 2"),
        ("clip,label\nc1, \n", "l.csv:2: empty 'label'"),
        ("clip,label\nc8,wave\n", "labels none of the 3 clips"),
    ],
)
def test_bad_label_csv_names_the_line(tmp_path, text, message):
    path = write(tmp_path / "l.csv", text)
    with pytest.raises(DataFormatError, match=message):
        annotate_clips(FOLDERS, tmp_path, labels=path, class_names=["wave", "sit"])


def test_missing_and_binary_csv(tmp_path):
    with pytest.raises(DataFormatError, match="nope.csv: no such file"):
        annotate_clips(FOLDERS, tmp_path, labels=tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"clip,label\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match="bin.csv: not a text file"):
        annotate_clips(FOLDERS, tmp_path, labels=tmp_path / "bin.csv")
