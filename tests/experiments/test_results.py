"""rows.jsonl reading (torn last line, bad lines) and the tables: mean ± sample std and Δ by hand."""
from __future__ import annotations

import csv
import io
import json

import pytest

from pygkd.data.raw import DataFormatError
from pygkd.experiments import read_records, summarize, write_tables
from pygkd.experiments.grids import table1
from pygkd.experiments.results import append_record, markdown_table


def record(row, seed, top1, top5=90.0, seconds=60.0):
    return {"row": row, "seed": seed, "digest": "d", "top1": top1, "top5": top5, "seconds": {"total": seconds}}


GRID = table1(occlusions=(0.0,))  # teacher, student-op0, kd-op0
RECORDS = [
    record("teacher", 0, 90.0), record("teacher", 1, 92.0),
    record("student-op0", 0, 80.0, 95.0, 30.0), record("student-op0", 1, 82.0, 97.0, 90.0),
    record("kd-op0", 0, 83.0), record("kd-op0", 1, 85.0),
]


def test_summaries_by_hand():
    teacher, plain, kd = summarize(GRID, RECORDS)
    assert teacher.seeds == [0, 1] and teacher.top1 == [90.0, 92.0]
    assert plain.mean_std(plain.top1) == pytest.approx((81.0, 2 ** 0.5))  # sample std of (80, 82)
    assert plain.mean_std(plain.seconds) == (60.0, pytest.approx(42.426, abs=1e-3))
    assert kd.delta == [3.0, 3.0] and teacher.delta == []  # paired by seed: 83 - 80, 85 - 82
    only_seed_1 = summarize(GRID, RECORDS[:4] + RECORDS[5:])[2]
    assert only_seed_1.mean_std(only_seed_1.top1) == (85.0, None)  # one seed: no std
    assert only_seed_1.delta == [3.0]


def test_markdown_marks_pending_rows_and_seed_counts():
    text = markdown_table(GRID, summarize(GRID, RECORDS[:2]), num_seeds=3)
    lines = text.splitlines()
    assert lines[0] == "| Method | Skeleton | OP | Top-1 (%) | Top-5 (%) | Δ top-1 | Seeds | Min/run |"
    assert lines[2] == "| Teacher | HQ | 0 | 91.00 ± 1.41 | 90.00 ± 0.00 |  | 2/3 | 1.0 |"
    assert lines[3] == "| Student (w/o KD) | LQ | 0 | pending | pending |  | 0/3 |  |"
    kd = markdown_table(GRID, summarize(GRID, RECORDS), num_seeds=2).splitlines()[4]
    assert kd == "| Student (w/ KD) | LQ | 0 | 84.00 ± 1.41 | 90.00 ± 0.00 | +3.00 ± 0.00 | 2/2 | 1.0 |"


def test_write_tables_csv(tmp_path):
    for r in RECORDS:
        append_record(tmp_path / "rows.jsonl", r)
    write_tables(GRID, tmp_path, num_seeds=2)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "table.csv").read_text())))
    assert [r["method"] for r in rows] == ["Teacher", "Student (w/o KD)", "Student (w/ KD)"]
    assert float(rows[1]["top1_mean"]) == 81.0 and rows[1]["seeds"] == "0 1"
    assert float(rows[2]["top1_std"]) == pytest.approx(2 ** 0.5)
    assert float(rows[2]["delta_top1_mean"]) == 3.0 and float(rows[2]["delta_top1_std"]) == 0.0
    assert rows[0]["delta_top1_mean"] == ""
    assert (tmp_path / "table.md").read_text().startswith("## Part-level KD")


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(record("teacher", 0, 90.0)) + "\n" + '{"row": "stud')
    assert [r["row"] for r in read_records(path)] == ["teacher"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('not json\n{"row": "x"}\n', "line 1: not a JSON record"),
        ('{"row": "teacher", "seed": 0}\n', r"line 1: record lacks \['digest', 'top1', 'top5'\]"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as err:
        read_records(path)
    assert str(path) in str(err.value)


def test_no_file_no_records(tmp_path):
    assert read_records(tmp_path / "rows.jsonl") == []
