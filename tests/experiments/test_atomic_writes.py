"""Writes that fail (disk full) leave the previous file whole and raise an OSError naming the target."""
from __future__ import annotations

import errno
import json
import os

import pytest

from pygkd import atomic
from pygkd.experiments.results import append_record, read_records


def full(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_write_atomic_keeps_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch):
    path = atomic.write_atomic(tmp_path / "report.json", "old")
    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as caught:
        atomic.write_atomic(path, "new")
    assert caught.value.filename == str(path) and caught.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_failed_append_leaves_no_half_record(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    first = {"row": "a", "seed": 0, "digest": "d", "top1": 50.0, "top5": 90.0}
    append_record(path, first)
    monkeypatch.setattr("pygkd.experiments.results.os.fsync", full)
    with pytest.raises(OSError) as caught:
        append_record(path, {**first, "row": "b", "big": "x" * 10_000})
    assert caught.value.filename == str(path)
    assert path.read_text() == json.dumps(first) + "\n" and read_records(path) == [first]
