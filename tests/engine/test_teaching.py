"""The teacher's side of a student batch: live and cached teacher outputs, and the objectives."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from pygkd.data.dataset import PairDataset
from pygkd.data.store import PreparedDataset
from pygkd.engine import build
from pygkd.engine.objectives import Distillation, TrainingObjective
from pygkd.engine.teaching import LiveTeacher, TeacherCache, Teaching, pair_rows
from pygkd.engine.trainer import dense_input
from pygkd.kd import kl_loss, pmsc_loss
from pygkd.engine import objectives
from pygkd.nn import BackboneOutput, resolve_precision


def test_pair_rows_by_hand():
    assert pair_rows(torch.tensor([True, False, True, True, False])).tolist() == [0, -1, 1, 2, -1]


@pytest.fixture
def setup(tiny_config):
    """A random-init teacher and student, and one pair batch of 6 samples of which 4 keep their HQ."""
    cfg = tiny_config()
    prepared = PreparedDataset(cfg["data"]["prepared"])
    indices = prepared.split("train")[:6]
    paired = np.array([True, False, True, True, False, True])
    torch.manual_seed(0)
    hq_set = build.skeleton_dataset(cfg, prepared, indices, "hq", train=True)
    lq_set = build.skeleton_dataset(cfg, prepared, indices, "lq", train=True)
    teacher = build.model_card(cfg, "teacher", hq_set).build()
    student = build.model_card(cfg, "student", lq_set).build()
    pairs = PairDataset(prepared, indices, lq=("lq", lq_set.transform), hq=("hq", hq_set.transform), hq_mask=paired)
    batch = Batch.from_data_list([pairs[k] for k in range(6)])
    return prepared, indices, paired, teacher, student, hq_set, lq_set, batch


@pytest.mark.parametrize("output", ["part", "feature", "logits"])
def test_cache_gives_what_the_live_teacher_gives(setup, output):
    prepared, indices, paired, teacher, _, hq_set, lq_set, pair_batch = setup
    live = LiveTeacher(teacher, output)(pair_batch)
    hq_loader = build.eval_loader(torch.utils.data.Subset(hq_set, np.flatnonzero(paired)), 3, 0)
    cache = TeacherCache.build(teacher, hq_loader, output, len(prepared), torch.device("cpu"))
    lq_batch = Batch.from_data_list([lq_set[k] for k in range(6)])
    cached = cache(lq_batch)
    assert cached.pair.tolist() == live.pair.tolist() == [0, -1, 1, 2, -1, 3]
    assert cached.y.tolist() == live.y.tolist() == prepared.labels[indices[paired]].tolist()
    torch.testing.assert_close(cached.out, live.out, rtol=1e-4, atol=1e-5)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_live_teacher_on_a_batch_without_hq(setup):
    _, _, _, teacher, _, _, _, pair_batch = setup
    solitary = Batch.from_data_list([d for d in pair_batch.to_data_list() if not d.has_hq])
    t = LiveTeacher(teacher, "part")(solitary)
    assert t.out.shape == (0, 5, teacher.feature_dim) and t.pair.tolist() == [-1, -1]


def test_objective_is_ce_plus_alpha_times_the_distillation_term(setup):
    _, _, _, teacher, student, _, _, pair_batch = setup
    E = torch.softmax(torch.randn(student.fc.out_features, 5), 1)
    objective = TrainingObjective("x_lq", Distillation("pmsc", LiveTeacher(teacher, "part"), alpha=2.5, w=0.5, E=E))
    student.eval()  # deterministic forward for the reference below
    step = objective(student, pair_batch)

    out = student(dense_input(pair_batch.x_lq, 6, student.layout.num_joints))
    has = pair_batch.has_hq
    t_part = teacher(dense_input(pair_batch.x_hq, int(has.sum()), teacher.layout.num_joints)).part
    ce = F.cross_entropy(out.logits, pair_batch.y)
    kd = pmsc_loss(out.part, t_part, pair_batch.y, pair_batch.y[has], pair_rows(has), E, 0.5)
    torch.testing.assert_close(step.loss, ce + 2.5 * kd)
    assert set(step.terms) == {"ce", "pmsc"}
    step.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_losses_are_computed_in_float32_under_bf16(setup, monkeypatch):
    """The forward passes run in bfloat16; cross-entropy and L_pmsc see float32 inputs with autocast off."""
    _, _, _, teacher, student, _, _, pair_batch = setup
    seen = []

    def recording(loss):
        def call(*args, **kwargs):
            tensors = [a for a in args if torch.is_tensor(a) and a.is_floating_point()]
            seen.append((loss.__name__, {t.dtype for t in tensors}, torch.is_autocast_enabled("cpu")))
            return loss(*args, **kwargs)
        return call

    monkeypatch.setattr(objectives, "pmsc_loss", recording(pmsc_loss))
    monkeypatch.setattr(objectives.F, "cross_entropy", recording(F.cross_entropy))
    E = torch.softmax(torch.randn(student.fc.out_features, 5), 1)
    objective = TrainingObjective("x_lq", Distillation("pmsc", LiveTeacher(teacher, "part"), E=E))
    with resolve_precision("bf16", torch.device("cpu")).autocast():
        step = objective(student, pair_batch)
        assert student(dense_input(pair_batch.x_lq, 6, student.layout.num_joints)).logits.dtype == torch.bfloat16
    assert step.loss.dtype == torch.float32 and torch.isfinite(step.loss)
    assert seen == [("cross_entropy", {torch.float32}, False), ("pmsc_loss", {torch.float32}, False)]


def test_kl_reads_only_the_paired_samples():
    logits = torch.randn(4, 3, requires_grad=True)
    teacher_logits = torch.randn(2, 3)
    teaching = Teaching(teacher_logits, torch.tensor([0, 2]), torch.tensor([-1, 1, -1, 0]))
    kd = Distillation("kl", lambda batch: teaching, temperature=2.0)(BackboneOutput(logits, None, None), None)
    expected = kl_loss(logits[[1, 3]], teacher_logits[[1, 0]], 2.0)
    torch.testing.assert_close(kd, expected)


def test_distillation_rejects_bad_settings():
    with pytest.raises(ValueError, match="one of"):
        Distillation("mse", lambda b: None)
    with pytest.raises(ValueError, match="part matrix"):
        Distillation("pmsc", lambda b: None)
