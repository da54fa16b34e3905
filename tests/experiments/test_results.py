"""rows.jsonl reading (torn last line, bad lines) and the tables: mean ± sample std, Δ and its t interval by hand."""
from __future__ import annotations

import csv
import io
import json

import pytest

from pygkd.data.raw import DataFormatError
from pygkd.experiments import read_records, summarize, write_tables
from pygkd.experiments.grids import table1
from pygkd.experiments.results import append_record, markdown_table, t_interval


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
    assert lines[0] == "| Method | Skeleton | OP | Top-1 (%) | Top-5 (%) | Δ top-1 [95 % CI] | Seeds | Min/run |"
    assert lines[2] == "| Teacher | HQ | 0 | 91.00 ± 1.41 | 90.00 ± 0.00 |  | 2/3 | 1.0 |"
    assert lines[3] == "| Student (w/o KD) | LQ | 0 | pending | pending |  | 0/3 |  |"
    kd = markdown_table(GRID, summarize(GRID, RECORDS), num_seeds=2).splitlines()[4]
    assert kd == "| Student (w/ KD) | LQ | 0 | 84.00 ± 1.41 | 90.00 ± 0.00 | +3.00 [+3.00, +3.00]* | 2/2 | 1.0 |"
    assert text.rstrip().endswith("Checkpoint: the last epoch.")  # records without ``checkpoint``


def test_t_interval_by_hand():
    # (1, 3, 5): mean 3, s = 2, t(0.975, 2) = 4.303: 3 ± 4.303 * 2 / sqrt(3) = 3 ± 4.969, includes 0
    assert t_interval([1.0, 3.0, 5.0]) == pytest.approx((3 - 4.96867, 3 + 4.96867), abs=1e-4)
    # (2, 3, 4, 3, 3): mean 3, s = sqrt(2 / 4), t(0.975, 4) = 2.776: 3 ± 0.8779, excludes 0
    assert t_interval([2.0, 3.0, 4.0, 3.0, 3.0]) == pytest.approx((2.12211, 3.87789), abs=1e-4)
    assert t_interval([4.0]) is None and t_interval([]) is None
    grid = table1(occlusions=(0.0,))
    five = [record("student-op0", s, 80.0) for s in range(5)]
    five += [record("kd-op0", s, 80.0 + d) for s, d in enumerate((2.0, 3.0, 4.0, 3.0, 3.0))]
    three = [record("student-op0", s, 80.0) for s in range(3)]
    three += [{**record("kd-op0", s, 80.0 + d), "checkpoint": "best-val", "best_epoch_val_top1": 70.0 + s}
              for s, d in enumerate((1.0, 3.0, 5.0))]
    assert "| +3.00 [+2.12, +3.88]* | 5/5 |" in markdown_table(grid, summarize(grid, five), 5)
    assert "Val top-1" not in markdown_table(grid, summarize(grid, five), 5)  # nothing picked on validation
    text = markdown_table(grid, summarize(grid, three), 3)
    assert "| +3.00 [-1.97, +7.97] | 3/3 |" in text  # no star: the interval holds 0
    # the validation top-1 of the reported epochs (70, 71, 72), the column to choose a setting by
    assert text.splitlines()[0].startswith("| Method | Skeleton | OP | Val top-1 (%) | Top-1 (%) |")
    assert "| Student (w/ KD) | LQ | 0 | 71.00 ± 1.00 | 83.00 ± 2.00 |" in text
    assert "Checkpoint: the best epoch on the validation split" in text and "the last epoch" in text


def test_write_tables_csv(tmp_path):
    for r in RECORDS:
        append_record(tmp_path / "rows.jsonl", r)
    write_tables(GRID, tmp_path, num_seeds=2)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "table.csv").read_text())))
    assert [r["method"] for r in rows] == ["Teacher", "Student (w/o KD)", "Student (w/ KD)"]
    assert float(rows[1]["top1_mean"]) == 81.0 and rows[1]["seeds"] == "0 1"
    assert float(rows[2]["top1_std"]) == pytest.approx(2 ** 0.5)
    assert float(rows[2]["delta_top1_mean"]) == 3.0 and float(rows[2]["delta_top1_std"]) == 0.0
    assert float(rows[2]["delta_top1_ci_low"]) == float(rows[2]["delta_top1_ci_high"]) == 3.0
    assert rows[2]["checkpoint"] == "last"
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
