"""Teacher and student training runs on tiny data: resume, repeatability, outputs."""
import pytest
import torch

from pygkd.data.store import PreparedDataset
from pygkd.data.transforms import OccludeJoints
from pygkd.engine.checkpoint import BEST, LAST, load_checkpoint, load_model
from pygkd.engine.logger import read_metrics
from pygkd.engine.stages import RunPaths, compute_part_matrix, evaluate_model, train_student, train_teacher


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_resume_after_an_interruption_equals_an_uninterrupted_run(tiny_config, tmp_path, amp):
    straight = tiny_config(f"out={tmp_path / 'straight'}", f"amp={amp}")
    train_teacher(straight)
    interrupted = tiny_config(f"out={tmp_path / 'resumed'}", "teacher.epochs=1", f"amp={amp}")
    train_teacher(interrupted)  # stops after epoch 1, as if killed there
    assert load_checkpoint(tmp_path / "resumed" / "teacher" / LAST)["epoch"] == 1
    train_teacher(tiny_config(f"out={tmp_path / 'resumed'}", f"amp={amp}"), resume=True)

    a = load_checkpoint(tmp_path / "straight" / "teacher" / LAST)
    b = load_checkpoint(tmp_path / "resumed" / "teacher" / LAST)
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(state_a["momentum_buffer"], state_b["momentum_buffer"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2
    drop_time = lambda records: [{k: v for k, v in r.items() if k != "time_s"} for r in records]  # noqa: E731
    assert drop_time(read_metrics(tmp_path / "straight" / "teacher" / "metrics.jsonl")) == drop_time(
        read_metrics(tmp_path / "resumed" / "teacher" / "metrics.jsonl"))


REDRAW = ("data.hq.train_transforms=[{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 3}, "
          "{name: OccludeJoints, p: 0.4, protocol: clip_redraw}]")


def test_redrawn_occlusion_follows_the_loops_epoch_and_resumes_bit_identical(tiny_config, tmp_path, monkeypatch):
    told = []
    set_epoch = OccludeJoints.set_epoch
    monkeypatch.setattr(OccludeJoints, "set_epoch", lambda self, epoch: told.append(epoch) or set_epoch(self, epoch))
    train_teacher(tiny_config(f"out={tmp_path / 'straight'}", REDRAW))
    assert told == [0, 1]
    train_teacher(tiny_config(f"out={tmp_path / 'resumed'}", "teacher.epochs=1", REDRAW))
    train_teacher(tiny_config(f"out={tmp_path / 'resumed'}", REDRAW), resume=True)
    assert told == [0, 1, 0, 1]  # the resumed run redraws epoch 1 as the uninterrupted one did
    a = load_checkpoint(tmp_path / "straight" / "teacher" / LAST)
    b = load_checkpoint(tmp_path / "resumed" / "teacher" / LAST)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    fixed = tiny_config(f"out={tmp_path / 'fixed'}", REDRAW.replace("clip_redraw", "clip"))
    train_teacher(fixed)
    c = load_checkpoint(tmp_path / "fixed" / "teacher" / LAST)
    assert a["metrics"]["train_loss"] != c["metrics"]["train_loss"]  # epoch 1 was drawn anew


def test_same_seed_same_run_other_seed_other_run(tiny_config, tmp_path):
    runs = [train_teacher(tiny_config(f"out={tmp_path / name}", "teacher.epochs=1", f"seed={seed}"))
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in runs]
    assert strip[0] == strip[1]
    assert strip[0] != strip[2]


def test_resume_refuses_a_different_model(tiny_config):
    train_teacher(tiny_config("teacher.epochs=1"))
    with pytest.raises(ValueError, match="cannot resume.*'spec'"):
        train_teacher(tiny_config("model.teacher.channels=[8, 8, 8]"), resume=True)


def test_stages_write_their_outputs_and_rebuild_models_from_checkpoints(tiny_config, tiny_data):
    cfg = tiny_config("teacher.epochs=1", "student.epochs=1")
    paths = RunPaths.of(cfg)
    prepared = PreparedDataset(tiny_data)
    k, num_test = len(prepared.class_names), len(prepared.split("test"))
    best = train_teacher(cfg)
    assert {p.name for p in paths.teacher.iterdir()} >= {"config.yaml", "metrics.jsonl", LAST, BEST}
    assert set(best) >= {"epoch", "lr", "train_loss", "train_ce", "train_top1", "val_top1", "val_top5"}

    model, card, state = load_model(paths.teacher / BEST)
    assert (card.role, card.layout.name, card.in_channels) == ("teacher", "ntu25", 3)
    assert card.class_names == prepared.class_names
    assert not model.training and state["config"]["seed"] == cfg["seed"]

    matrix = compute_part_matrix(cfg)
    assert matrix.E.shape == (k, 5) and torch.allclose(matrix.E.sum(1), torch.ones(k))
    assert (paths.matrix / "part_matrix.npy").is_file() and (paths.matrix / "part_matrix.csv").is_file()
    assert matrix.counts.tolist() == [4] * k  # every kept HQ training sample, once

    student = train_student(cfg)
    assert "train_pmsc" in student
    _, card, _ = load_model(paths.student / BEST)
    assert (card.layout.name, card.in_channels) == ("coco17", 3)

    report = evaluate_model(cfg, "student", occlusion=0.5)
    assert report["num_samples"] == num_test and report["occlusion"] == 0.5
    assert sum(map(sum, report["confusion"])) == num_test
    assert (paths.eval / "student_test_op0.5.json").is_file()
    assert evaluate_model(cfg, "student", occlusion=0.5)["confusion"] == report["confusion"]  # seeded OP


def test_an_efficientgcn_student_learns_from_an_stgcn_teacher(tiny_config):
    student_spec = ("model.student={backbone: efficientgcn, scale: 0, blocks: [[16, 1, 1], [16, 1, 1], "
                    "[16, 2, 1], [16, 1, 1]], stem_channels: 8, temporal_kernel: 3}")
    cfg = tiny_config("teacher.epochs=1", "student.epochs=1", student_spec)
    train_teacher(cfg)
    compute_part_matrix(cfg)
    assert "train_pmsc" in train_student(cfg)
    model, card, _ = load_model(RunPaths.of(cfg).student / BEST)
    assert type(model).__name__ == "EfficientGCN" and card.layout.name == "coco17"
    assert evaluate_model(cfg, "student")["num_samples"] > 0


def test_bf16_run_records_its_precision_and_its_checkpoints_evaluate_in_float32(tiny_config):
    """Teacher, part matrix and a pmsc student in bfloat16; the student's checkpoint evaluated in both."""
    cfg = tiny_config("amp=bf16", "teacher.epochs=1", "student.epochs=1")
    train_teacher(cfg)
    compute_part_matrix(cfg)
    best = train_student(cfg)
    assert best["precision"] == "bfloat16" and best["train_pmsc"] > 0
    _, card, _ = load_model(RunPaths.of(cfg).student / BEST)
    assert card.precision == "bfloat16"
    low = evaluate_model(cfg, "student")
    full = evaluate_model(tiny_config("amp=off"), "student")
    assert low["precision"] == "bfloat16" and full["precision"] == "float32"
    assert abs(low["top1"] - full["top1"]) <= 0.2  # 10-odd test samples: at most a couple flip


def test_resume_refuses_another_precision(tiny_config):
    train_teacher(tiny_config("teacher.epochs=1"))
    with pytest.raises(ValueError, match="cannot resume.*'precision'"):
        train_teacher(tiny_config("amp=bf16"), resume=True)


VARIANTS = ["student.bank=5", "student.phi_temperature=learned", "student.part_head=mlp", "student.occlusion_weight=true"]


def test_a_student_with_every_pmsc_variant_resumes_bit_for_bit_and_keeps_its_head_out_of_the_model(tiny_config,
                                                                                                   tmp_path):
    teacher = tiny_config(f"out={tmp_path / 'teacher'}", "teacher.epochs=1")
    train_teacher(teacher)
    compute_part_matrix(teacher)
    shared = [f"student.teacher={RunPaths.of(teacher).teacher / BEST}",
              f"student.part_matrix={RunPaths.of(teacher).matrix}", *VARIANTS]
    # a student twice as wide as the teacher: the part head maps its 32 features to the teacher's 16
    wide = "model.student={backbone: stgcn, channels: [8, 8, 32], strides: [1, 2, 1], temporal_kernel: 3}"
    straight = tiny_config(f"out={tmp_path / 'straight'}", wide, *shared)
    best = train_student(straight)
    train_student(tiny_config(f"out={tmp_path / 'resumed'}", wide, "student.epochs=1", *shared))
    train_student(tiny_config(f"out={tmp_path / 'resumed'}", wide, *shared), resume=True)

    a = load_checkpoint(tmp_path / "straight" / "student" / LAST)
    b = load_checkpoint(tmp_path / "resumed" / "student" / LAST)
    assert set(a["distillation"]) >= {"head.log_tau", "bank.step", "head.projection.0.weight"}
    assert int(a["distillation"]["bank.step"]) == int(b["distillation"]["bank.step"]) > 2  # steps of 2 epochs
    for key in (*a["model"], *a["distillation"]):
        left, right = (a["model"], b["model"]) if key in a["model"] else (a["distillation"], b["distillation"])
        assert torch.equal(left[key], right[key]), key
    assert a["distillation"]["head.log_tau"] != 0  # trained
    records = read_metrics(tmp_path / "straight" / "student" / "metrics.jsonl")
    assert [r["train_phi_temperature"] > 0 for r in records] == [True, True] and "phi_temperature" not in best
    assert records == [{**r, "time_s": s["time_s"]} for r, s in
                       zip(read_metrics(tmp_path / "resumed" / "student" / "metrics.jsonl"), records)]
    model, card, state = load_model(tmp_path / "straight" / "student" / BEST)  # the backbone alone, as before
    assert model.feature_dim == 32 and "distillation" in state
    assert evaluate_model(straight, "student")["num_samples"] > 0

    resumed = [f"out={tmp_path / 'resumed'}", wide, "student.epochs=3", *shared[:2]]
    with pytest.raises(ValueError, match="cannot resume, the checkpoint's distillation state differs from the "
                                         r"config's \(student.part_head, phi_temperature, bank\): Missing key"):
        train_student(tiny_config(*resumed, "student.part_head=linear"), resume=True)


def test_variants_are_refused_where_they_cannot_apply(tiny_config, tmp_path):
    from pygkd.engine.config import ConfigError

    augmented = "data.hq.train_transforms=[{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 3}, {name: OccludeJoints, p: 0.1}]"
    with pytest.raises(ConfigError, match="student.bank: all draws from the cached teacher outputs, but "
                                          "student.cache_teacher is false"):
        train_student(tiny_config("student.bank=all", "student.cache_teacher=false"))
    with pytest.raises(ConfigError, match="student.cache_teacher is auto and data.hq.train_transforms augments"):
        train_student(tiny_config("student.bank=all", augmented))
    train_teacher(tiny_config("teacher.epochs=1"))
    compute_part_matrix(tiny_config())
    wide = "model.student={backbone: stgcn, channels: [8, 8, 32], strides: [1, 2, 1], temporal_kernel: 3}"
    with pytest.raises(ConfigError, match="feature size 32 .* must equal the teacher's 16"):
        train_student(tiny_config(wide))
