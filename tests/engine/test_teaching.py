"""The teacher's side of a student batch: live and cached teacher outputs, and the objectives."""
import math

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


# --- the teacher bank (student.bank) ----------------------------------------------------------------------------

from types import SimpleNamespace  # noqa: E402

from pygkd.engine.teaching import TeacherBank  # noqa: E402


def _cache(num_rows=12, num_samples=20):
    """A cache of ``num_rows`` rows for prepared samples 0..num_rows-1 (row r = sample r), labels r % 3."""
    g = torch.Generator().manual_seed(0)
    row_of = torch.full((num_samples,), -1)
    row_of[:num_rows] = torch.arange(num_rows)
    return TeacherCache(torch.randn(num_rows, 5, 4, generator=g), row_of, torch.arange(num_rows) % 3)


def test_bank_all_is_every_cached_row_with_each_sample_own_row():
    cache = _cache()
    batch = SimpleNamespace(index=torch.tensor([3, 15, 7]), y=torch.tensor([0, 1, 1]))
    t = TeacherBank(cache)(batch)
    assert t.out is cache.rows and t.y is cache.labels and t.shared
    assert t.pair.tolist() == [3, -1, 7]


def naive_bank(seed, step, num_rows, own, size):
    """The random bank by hand: own rows, then the first others of the seeded permutation, sorted."""
    order = np.random.default_rng([seed, step, 0xBA4C]).permutation(num_rows).tolist()
    others = [r for r in order if r not in own][: max(size - len(set(own)), 0)]
    return sorted(set(own) | set(others))


def test_random_bank_draws_per_step_keeps_the_own_rows_and_counts_its_steps():
    cache = _cache()
    bank = TeacherBank(cache, size=6, seed=4)
    batch = SimpleNamespace(index=torch.tensor([3, 15, 7, 3]), y=torch.tensor([0, 1, 1, 0]))
    drawn = []
    for step in range(3):
        t = bank(batch)
        rows = naive_bank(4, step, 12, [3, 7], 6)
        assert len(rows) == 6 and {3, 7} <= set(rows)
        torch.testing.assert_close(t.out, cache.rows[rows], rtol=0, atol=0)
        assert t.y.tolist() == cache.labels[rows].tolist() and t.shared
        assert t.pair.tolist() == [rows.index(3), -1, rows.index(7), rows.index(3)]
        drawn.append(rows)
    assert int(bank.step) == 3 and len({tuple(r) for r in drawn}) > 1  # a new draw at every step
    again = TeacherBank(cache, size=6, seed=4)
    again.load_state_dict(bank.state_dict())  # a resumed run: the same next draw
    assert torch.equal(again(batch).out, bank(batch).out)
    assert TeacherBank(cache, size=1)(batch).out.shape[0] == 2  # never fewer than the own rows
    with pytest.raises(ValueError, match="labels of the cached rows"):
        TeacherBank(TeacherCache(cache.rows, cache.row_of))
    with pytest.raises(ValueError, match="bank size must be >= 1"):
        TeacherBank(cache, size=0)


def test_pmsc_with_a_bank_is_the_loss_against_the_bank_rows():
    """The distillation term over a bank = pmsc_loss with the bank as the HQ set (checked against the loops in
    tests/kd/test_losses.py), and its state is the bank's step counter."""
    from tests.kd.test_losses import naive_msc

    cache = _cache()
    E = torch.softmax(torch.randn(3, 5, generator=torch.Generator().manual_seed(1)), 1)
    student = torch.randn(4, 5, 4, generator=torch.Generator().manual_seed(2))
    batch = SimpleNamespace(index=torch.tensor([3, 15, 7, 4]), y=torch.tensor([0, 1, 1, 1]))
    for size in (None, 6):
        distill = Distillation("pmsc", TeacherBank(cache, size, seed=0), E=E)
        rows = list(range(12)) if size is None else naive_bank(0, 0, 12, [3, 7, 4], 6)
        kd = distill(BackboneOutput(None, None, student), batch)
        pair = torch.tensor([rows.index(3), -1, rows.index(7), rows.index(4)])
        expected = naive_msc(student, cache.rows[rows], batch.y, cache.labels[rows], pair, E, 0.5)
        assert kd.item() == pytest.approx(expected, rel=1e-5)
        assert (distill.state is None) == (size is None)
    assert list(distill.state.state_dict()) == ["bank.step"]


def test_distillation_with_head_and_occlusion_weights(setup):
    """The objective's pmsc term projects the student's parts, divides phi by tau and weighs the parts by
    their occlusion in the student's input; the learned tau is logged and is the objective's state."""
    from pygkd.kd import DistillationHead, part_occlusion

    _, _, _, teacher, student, _, _, pair_batch = setup
    E = torch.softmax(torch.randn(student.fc.out_features, 5), 1)
    torch.manual_seed(0)
    head = DistillationHead(student.feature_dim, teacher.feature_dim, "mlp", "learned")
    with torch.no_grad():
        head.log_tau.fill_(math.log(0.5))
    part_index = student.layout.part_index()
    objective = TrainingObjective("x_lq", Distillation("pmsc", LiveTeacher(teacher, "part"), E=E, head=head,
                                                       part_index=part_index))
    student.eval()
    step = objective(student, pair_batch)

    x = dense_input(pair_batch.x_lq, 6, student.layout.num_joints)
    x_hq = dense_input(pair_batch.x_hq, int(pair_batch.has_hq.sum()), teacher.layout.num_joints)
    out, has = student(x), pair_batch.has_hq
    kd = pmsc_loss(head.project(out.part), teacher(x_hq).part, pair_batch.y, pair_batch.y[has], pair_rows(has), E,
                   0.5, temperature=0.5, occlusion=part_occlusion(x, part_index))
    torch.testing.assert_close(step.loss, F.cross_entropy(out.logits, pair_batch.y) + kd)
    assert set(step.terms) == {"ce", "pmsc", "phi_temperature"}
    assert step.terms["phi_temperature"].item() == pytest.approx(0.5)
    assert objective.state is not None and set(objective.state.state_dict()) == {
        "head.log_tau", *(f"head.projection.{k}" for k in head.projection.state_dict())}
    step.loss.backward()
    assert head.log_tau.grad is not None and all(p.grad is not None for p in head.projection.parameters())
    with pytest.raises(ValueError, match="apply to pmsc, not kl"):
        Distillation("kl", lambda b: None, head=head)
