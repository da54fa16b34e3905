"""The grid runner on tiny synthetic data: shared teachers and students, resumption after a failure
(nothing finished is trained again, the table equals an uninterrupted run's), stale results refused."""
from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
import torch
import yaml

from pygkd.engine.config import ConfigError
from pygkd.experiments import GridRunner, build_grid, load_budget, read_records
from pygkd.experiments import runner as runner_module
from pygkd.experiments.grids import select_rows, table1

TINY_BUDGET = """
seeds: [0]
epochs: 2
frames: 8
set:
  device: cpu
  data.reader_options: {train_per_class: 3, test_per_class: 2, frames: 12}
  model.teacher: {backbone: stgcn, channels: [8, 8], strides: [1, 2], temporal_kernel: 3}
  model.student: {backbone: stgcn, channels: [8, 8], strides: [1, 2], temporal_kernel: 3}
  teacher.batch_size: 8
  student.batch_size: 8
  student.samples_per_class: 2
  eval.batch_size: 32
  matrix.batch_size: 32
"""


@pytest.fixture(scope="module")
def budget(tmp_path_factory):
    path = tmp_path_factory.mktemp("budget") / "tiny.yaml"
    path.write_text(TINY_BUDGET)
    return load_budget(path)


@pytest.fixture
def trainings(monkeypatch):
    """Counts the calls of train_teacher / train_student; ``fail_student_at`` makes that call raise."""
    calls = {"teacher": 0, "student": 0, "fail_student_at": None}
    teacher, student = runner_module.train_teacher, runner_module.train_student

    def count_teacher(cfg, resume=False):
        calls["teacher"] += 1
        return teacher(cfg, resume)

    def count_student(cfg, resume=False):
        calls["student"] += 1
        if calls["student"] == calls["fail_student_at"]:
            raise RuntimeError("injected failure")
        return student(cfg, resume)

    monkeypatch.setattr(runner_module, "train_teacher", count_teacher)
    monkeypatch.setattr(runner_module, "train_student", count_student)
    return calls


def results(folder):
    """table.csv without the timing column."""
    rows = list(csv.DictReader(io.StringIO((folder / "table.csv").read_text())))
    return [{k: v for k, v in row.items() if k != "seconds_mean"} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, budget):
    """table1 at OP 0 and 0.3, run in one go: its results folder."""
    torch.set_num_threads(1)  # module scope: set up before the suite's per-test single-thread fixture
    root = tmp_path_factory.mktemp("uninterrupted")
    GridRunner("demo", budget, root, log=lambda _: None).run(table1(occlusions=(0.0, 0.3)))
    return root


def test_rows_share_one_teacher_and_grids_share_students(uninterrupted, tmp_path, trainings, budget):
    root = tmp_path / "results"
    shutil.copytree(uninterrupted, root)
    shutil.rmtree(root / "table1")  # the runs stay, the rows are gone
    runner = GridRunner("demo", budget, root, log=lambda _: None)
    runner.run(table1(occlusions=(0.0, 0.3)))
    assert trainings == {"teacher": 0, "student": 0, "fail_student_at": None}
    assert results(root / "table1") == results(uninterrupted / "table1")

    runner.run(build_grid("table4"))  # none and pmsc at OP 0 are table1's students
    assert trainings["teacher"] == 0 and trainings["student"] == 2
    reused = {r["row"]: r["reused"] for r in read_records(root / "table4" / "rows.jsonl")}
    assert reused == {"loss-none": True, "loss-kl": False, "loss-global_msc": False, "loss-pmsc": True}
    assert len(list((uninterrupted / "runs").glob("teacher-*"))) == 1
    assert len(list((uninterrupted / "runs").glob("student-*"))) == 4


def test_resume_after_a_failure(uninterrupted, tmp_path, trainings, budget):
    root = tmp_path / "results"
    grid = table1(occlusions=(0.0, 0.3))
    trainings["fail_student_at"] = 3  # teacher, student-op0 and kd-op0 finish, student-op0.3 fails
    with pytest.raises(RuntimeError, match="injected"):
        GridRunner("demo", budget, root, log=lambda _: None).run(grid)
    assert [r["row"] for r in read_records(root / "table1" / "rows.jsonl")] == ["teacher", "student-op0", "kd-op0"]
    assert trainings["teacher"] == 1 and trainings["student"] == 3

    trainings.update(teacher=0, student=0, fail_student_at=None)
    lines = []
    GridRunner("demo", budget, root, log=lines.append).run(grid)
    assert trainings["teacher"] == 0 and trainings["student"] == 2  # only the two rows left
    assert [line.endswith("done before") for line in lines] == [True, True, True, False, False]
    assert results(root / "table1") == results(uninterrupted / "table1")


def test_max_rows_then_more_seeds(tmp_path, trainings, budget):
    root = tmp_path / "results"
    grid = table1(occlusions=(0.0,))
    runner = GridRunner("demo", budget, root, log=lambda _: None)
    runner.run(grid, max_rows=1)
    assert [r["row"] for r in read_records(root / "table1" / "rows.jsonl")] == ["teacher"]
    runner.run(grid, seeds=(0, 1))
    records = read_records(root / "table1" / "rows.jsonl")
    assert [(r["row"], r["seed"]) for r in records] == [
        ("teacher", 0), ("student-op0", 0), ("kd-op0", 0), ("teacher", 1), ("student-op0", 1), ("kd-op0", 1)]
    assert trainings["teacher"] == 2
    record = records[-1]
    assert record["config"]["seed"] == 1 and record["config"]["student"]["loss"] == "pmsc"
    assert {"platform", "cpu_count", "torch", "device"} <= set(record["machine"])
    assert set(record["code"]) == {"pygkd", "commit", "dirty"}
    assert record["seconds"]["total"] > 0 and record["epoch"] == 2 and record["budget"] == "tiny"
    assert "| 2/2 |" in (root / "table1" / "table.md").read_text()


def test_occlusion_reaches_training_and_evaluation(uninterrupted):
    record = next(r for r in read_records(uninterrupted / "table1" / "rows.jsonl") if r["row"] == "kd-op0.3")
    lq = record["config"]["data"]["lq"]
    assert lq["train_transforms"][-1] == {"name": "OccludeJoints", "p": 0.3}
    assert lq["transforms"] == lq["train_transforms"][:-1]
    assert record["config"]["eval"]["occlusion"] == 0.3 and record["occlusion"] == 0.3
    summary = json.loads((runner_module.Path(record["folder"]) / "summary.json").read_text())
    assert summary["top1"] == record["top1"]


@pytest.mark.parametrize("protocol, train_option, eval_protocol", [
    ("clip", {}, "clip"), ("clip_redraw", {"protocol": "clip_redraw"}, "clip"),
    ("frame", {"protocol": "frame"}, "frame"), ("span", {"protocol": "span"}, "span"),
])
def test_occlusion_overrides_draw_by_the_rows_protocol(protocol, train_option, eval_protocol):
    from pygkd.engine.config import load_config

    overrides = runner_module._occlusion_overrides(load_config("demo"), 0.6, protocol)
    cfg = load_config("demo", overrides)
    assert cfg["data"]["lq"]["train_transforms"][-1] == {"name": "OccludeJoints", "p": 0.6, **train_option}
    assert cfg["eval"]["occlusion"] == 0.6 and cfg["eval"]["occlusion_protocol"] == eval_protocol
    if protocol == "clip":  # a clip row's overrides are those of before the protocols
        assert overrides == [f"data.lq.train_transforms={json.dumps(cfg['data']['lq']['train_transforms'])}",
                             "eval.occlusion=0.6"]


def test_a_changed_config_is_refused(uninterrupted, tmp_path, budget):
    root = tmp_path / "results"
    shutil.copytree(uninterrupted, root)
    runner = GridRunner("demo", budget, root, overrides=["student.alpha=2"], log=lambda _: None)
    with pytest.raises(ConfigError, match="rows.jsonl: row 'student-op0' seed 0 was run with another config"):
        runner.run(table1(occlusions=(0.0, 0.3)))
    with pytest.raises(ConfigError, match="severity applies to a synthesised LQ stream only"):
        runner.run(table1(("mild",), occlusions=(0.0,)))


def test_a_validation_fraction_reports_the_best_checkpoint_on_it(tmp_path, budget):
    runner = GridRunner("demo", budget, tmp_path, overrides=["data.val_fraction=0.34"], log=lambda _: None)
    grid = select_rows(table1(occlusions=(0.3,)), ["kd-op0.3"])
    runner.run(grid)
    records = {r["row"]: r for r in read_records(tmp_path / "table1" / "rows.jsonl")}
    assert set(records) == {"student-op0.3", "kd-op0.3"}
    assert {r["checkpoint"] for r in records.values()} == {"best-val"}
    student = yaml.safe_load((runner_module.Path(records["kd-op0.3"]["folder"]) / "student" / "config.yaml").read_text())
    assert student["student"]["teacher"].endswith("teacher/checkpoint_best.pt")  # the teacher picked on validation
    report = json.loads(next((runner_module.Path(records["kd-op0.3"]["folder"]) / "eval").glob("*.json")).read_text())
    assert report["checkpoint"].endswith("student/checkpoint_best.pt") and report["occlusion"] == 0.3
    assert "Checkpoint: the best epoch on the validation split" in (tmp_path / "table1" / "table.md").read_text()
