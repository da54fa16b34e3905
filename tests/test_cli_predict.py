"""``pygkd predict`` through the command line: a tiny student trained by ``pygkd student``, predicted on its
prepared data as a table, JSON and CSV, and fed frames through a real pipe with ``--stream``."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
defaults: demo
data:
  reader_options: {train_per_class: 2, test_per_class: 2, frames: 12}
  lq: {transforms: [{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]}
model:
  student: {channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}
student: {epochs: 1, batch_size: 8, milestones: [1], loss: none}
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """``(checkpoint, prepared data, run options)`` of a one-epoch student on the LQ stream (coco17)."""
    tmp = tmp_path_factory.mktemp("predict")
    (tmp / "tiny.yaml").write_text(TINY)
    common = ["--config", str(tmp / "tiny.yaml"), "--out", str(tmp / "run"), "--device", "cpu"]
    run("student", *common)
    return tmp / "run" / "student" / "checkpoint_best.pt", tmp / "run" / "data", common


def test_table_json_and_csv_agree_with_eval(student):
    checkpoint, data, common = student
    records = json.loads(run("predict", str(checkpoint), str(data), "--split", "test", "--top-k", "3", "--json"))
    assert len(records) == 22 and all(len(r["top"]) == 3 for r in records)  # 11 classes x 2 test samples
    for r in records:
        probs = [t["probability"] for t in r["top"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert (r["start"], r["end"]) == (0, 12)
    report = json.loads(run("eval", *common, "--json"))
    assert report["preprocessing"] == "checkpoint"
    hits = sum(r["top"][0]["class"] == r["label"] for r in records)
    assert hits / len(records) == pytest.approx(report["top1"])

    rows = list(csv.reader(io.StringIO(run("predict", str(checkpoint), str(data), "--split", "test", "--top-k",
                                           "3", "--csv"))))
    assert rows[0] == ["clip", "start", "end", "label", "rank", "class", "probability"] and len(rows) == 1 + 22 * 3
    first = records[0]
    assert rows[1] == [first["clip"], "0", "12", first["label"], "1", first["top"][0]["class"],
                       f"{first['top'][0]['probability']:.6f}"]

    table = run("predict", str(checkpoint), str(data), "--split", "test", "--window", "8", "--stride", "4")
    lines = table.splitlines()
    assert lines[0].split() == ["clip", "frames", "label", "prediction"]
    assert len(lines) == 1 + 22 * 2 and lines[1].split()[1] == "0-8" and lines[2].split()[1] == "4-12"


def test_usage_errors_are_one_line(student):
    checkpoint, data, _ = student
    for args, message in [
        ([str(data), "--json", "--csv"], "give --json or --csv, not both"),
        (["--stream"], "--stream reads stdin: give --window and no INPUT"),
        ([], "give at least one INPUT, or --stream"),
        ([str(data), "--split", "nope"], "has no split 'nope'"),
    ]:
        result = CliRunner().invoke(main, ["predict", str(checkpoint), *args])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
