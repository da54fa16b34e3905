"""End to end through the command line: teacher -> matrix -> student -> eval, then the pipeline command,
on a tiny synthetic dataset that the first command generates into the run directory."""
import json

import pytest
from click.testing import CliRunner

from cli.main import main

TINY = """\
defaults: demo
data:
  reader_options: {train_per_class: 3, test_per_class: 2, frames: 12}
  hq:
    transforms: [{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 3}]
    train_transforms:
      [{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 3}, {name: OccludeJoints, p: 0.3}]
  lq: {transforms: [{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]}
model:
  teacher: {channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}
  student: {channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}
teacher: {epochs: 2, batch_size: 8, milestones: [1]}
student: {epochs: 2, batch_size: 8, milestones: [1], samples_per_class: 2}
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_teacher_matrix_student_eval(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "run"
    common = ["--config", str(config), "--out", str(out), "--device", "cpu"]

    assert "teacher: best validation top-1" in run("teacher", *common, "--epochs", "1")
    run("teacher", *common, "--resume")  # continues to the config's 2 epochs
    metrics = [json.loads(line) for line in (out / "teacher" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]

    assert "left_arm" in run("matrix", *common)
    assert {p.name for p in (out / "matrix").iterdir()} >= {"part_matrix.npy", "part_matrix.csv"}
    assert "student (pmsc)" in run("student", *common, "--set", "student.alpha=0.5")
    report = json.loads(run("eval", *common, "--json", "--occlusion", "0.3"))
    assert report["role"] == "student" and report["occlusion"] == 0.3 and report["epoch"] in (1, 2)
    assert set(report["per_class"]) == set(report["class_names"]) and 0 <= report["top1"] <= report["top5"] <= 100
    assert report["unit"] == "percent"
    written = json.loads((out / "eval" / "student_test_op0.3.json").read_text())
    assert written["unit"] == "fraction" and report["top1"] == pytest.approx(100 * written["top1"])
    assert "top-1" in run("eval", *common, "--role", "teacher")
    assert report["occlusion_protocol"] == "clip"
    span = run("eval", *common, "--occlusion", "0.3", "--occlusion-protocol", "span")
    assert "samples, occlusion OP 0.3 per span)" in span
    # a report of its own beside the per-clip one of the same OP
    assert json.loads((out / "eval" / "student_test_op0.3_span.json").read_text())["occlusion_protocol"] == "span"
    assert json.loads((out / "eval" / "student_test_op0.3.json").read_text())["occlusion_protocol"] == "clip"
    refused = CliRunner().invoke(main, ["eval", *common, "--occlusion-protocol", "clip_redraw"])
    assert refused.exit_code == 2 and "'clip_redraw' is not one of 'clip', 'frame', 'span'" in refused.output


@pytest.mark.slow
def test_pipeline_prints_a_summary(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    output = run("pipeline", "--config", str(config), "--out", str(tmp_path / "run"), "--device", "cpu",
                 "--epochs", "1")
    for expected in ("teacher", "student (pmsc)", "student (no distillation)", "Part matrix E", "defined by"):
        assert expected in output
    assert (tmp_path / "run" / "baseline" / "student" / "checkpoint_best.pt").is_file()


def test_config_errors_are_one_line_messages(tmp_path):
    result = CliRunner().invoke(main, ["teacher", "--set", "teacher.epochs=-1", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: --set: teacher.epochs: expected a positive integer, got -1" in result.output
    result = CliRunner().invoke(main, ["eval", "--out", str(tmp_path), "--set", "data.prepared=" + str(tmp_path)])
    assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output
