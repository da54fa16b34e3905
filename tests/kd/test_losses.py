"""L_pmsc (Eqs. 6-11), global MSC and KL against naive references written straight from the equations."""
from __future__ import annotations

import math

import pytest
import torch

from pygkd.kd import DistillationHead, defined_samples, global_msc_loss, kl_loss, part_occlusion, pmsc_loss


def naive_msc(student, teacher, y_student, y_teacher, pair, E, w, tau=1.0, occlusion=None) -> float:
    """Eqs. 6-11 with for-loops and math.exp. Empty B^P / B^N sums are 0; a sample whose numerator is 0
    (solitary, no positive or w = 0) has no finite loss and is left out of the mean. Variants: C = exp(phi /
    tau), and part weights E[y_i][p] * (1 + occlusion[i][p])."""
    occlusion = [[0.0] * E.size(1)] * len(y_student) if occlusion is None else occlusion.tolist()
    student, teacher, E = student.tolist(), teacher.tolist(), E.tolist()
    y_student, y_teacher, pair = y_student.tolist(), y_teacher.tolist(), pair.tolist()

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    def similarity(i, j):  # Eqs. 6-7
        parts = range(len(student[i]))
        weight = [E[y_student[i]][p] * (1 + occlusion[i][p]) for p in parts]
        return math.exp(sum(cos(student[i][p], teacher[j][p]) * weight[p] for p in parts) / tau)

    losses = []
    for i, y in enumerate(y_student):
        positives = [j for j, yj in enumerate(y_teacher) if yj == y and j != pair[i]]
        negatives = [j for j, yj in enumerate(y_teacher) if yj != y]
        c_pos = sum(similarity(i, j) for j in positives) / len(positives) if positives else 0.0  # Eq. 9
        c_neg = sum(similarity(i, j) for j in negatives) / len(negatives) if negatives else 0.0  # Eq. 10
        numerator = (similarity(i, pair[i]) if pair[i] >= 0 else 0.0) + w * c_pos  # Eq. 8
        if numerator > 0:
            losses.append(-math.log(numerator / (numerator + c_neg)))
    return sum(losses) / len(losses) if losses else 0.0  # Eq. 11


def random_batch(seed: int, num_lq: int = 10, num_classes: int = 4, parts: int = 5, dim: int = 6):
    """A batch with solitary and paired LQ samples and extra HQ rows, HQ rows in shuffled order."""
    g = torch.Generator().manual_seed(seed)
    y_student = torch.randint(num_classes, (num_lq,), generator=g)
    paired = torch.rand(num_lq, generator=g) < 0.6
    extra = torch.randint(num_classes, (int(torch.randint(3, (1,), generator=g)),), generator=g)
    y_teacher_unshuffled = torch.cat([y_student[paired], extra])
    order = torch.randperm(y_teacher_unshuffled.numel(), generator=g)
    y_teacher = y_teacher_unshuffled[order]
    pair = torch.full((num_lq,), -1)
    pair[paired] = order.argsort()[: int(paired.sum())]
    student = torch.randn(num_lq, parts, dim, generator=g, dtype=torch.float64)
    teacher = torch.randn(y_teacher.numel(), parts, dim, generator=g, dtype=torch.float64)
    E = torch.rand(num_classes, parts, generator=g, dtype=torch.float64)
    return student, teacher, y_student, y_teacher, pair, E


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(6))
def test_pmsc_matches_the_equations(seed, w):
    student, teacher, y_student, y_teacher, pair, E = random_batch(seed)
    expected = naive_msc(student, teacher, y_student, y_teacher, pair, E, w)
    assert pmsc_loss(student, teacher, y_student, y_teacher, pair, E, w).item() == pytest.approx(expected, rel=1e-10)


def test_pmsc_hand_computed():
    # one paired LQ sample; HQ rows: its own (cos 1 on every part), a positive (cos 0), a negative (cos -1)
    student = torch.tensor([[[1.0, 0.0]] * 5])
    teacher = torch.tensor([[[2.0, 0.0]] * 5, [[0.0, 3.0]] * 5, [[-1.0, 0.0]] * 5])
    y_student, y_teacher, pair = torch.tensor([1]), torch.tensor([1, 1, 0]), torch.tensor([0])
    E = torch.tensor([[1.0] * 5, [0.1, 0.2, 0.3, 0.2, 0.2]])  # row 1 sums to 1: phi = 1, 0, -1
    loss = pmsc_loss(student, teacher, y_student, y_teacher, pair, E, w=0.5)
    e = math.e
    assert loss.item() == pytest.approx(-math.log((e + 0.5) / (e + 0.5 + 1 / e)), rel=1e-6)
    # solitary: the own row becomes a second positive
    loss = pmsc_loss(student, teacher, y_student, y_teacher, torch.tensor([-1]), E, w=0.5)
    c_pos = 0.5 * (e + 1) / 2
    assert loss.item() == pytest.approx(-math.log(c_pos / (c_pos + 1 / e)), rel=1e-6)


def test_pmsc_leaves_out_a_solitary_sample_without_positive():
    student, teacher, _, _, _, E = random_batch(0, num_lq=2)
    teacher, y_teacher = teacher[:3], torch.tensor([0, 0, 1])
    # sample 1 is solitary and of class 2, which has no HQ row: numerator 0, left out and not counted
    both = pmsc_loss(student, teacher, torch.tensor([0, 2]), y_teacher, torch.tensor([0, -1]), E)
    first = pmsc_loss(student[:1], teacher, torch.tensor([0]), y_teacher, torch.tensor([0]), E)
    assert both.item() == pytest.approx(first.item(), rel=1e-12) and first.item() > 0


def test_pmsc_without_negatives_is_zero():
    student, teacher, E = torch.randn(2, 5, 4), torch.randn(3, 5, 4), torch.rand(1, 5)
    loss = pmsc_loss(student, teacher, torch.tensor([0, 0]), torch.tensor([0, 0, 0]), torch.tensor([2, -1]), E)
    assert loss.item() == 0.0


@pytest.mark.parametrize(
    "y_student, y_teacher, pair, w",
    [
        ([0, 1], [2, 2], [-1, -1], 0.5),  # no positive anywhere
        ([0, 1], [0, 1], [-1, -1], 0.0),  # w = 0 silences the positives of solitary samples
        ([0, 1], [], [-1, -1], 0.5),  # no HQ sample in the batch
    ],
)
def test_pmsc_with_no_defined_sample_is_zero_with_finite_gradients(y_student, y_teacher, pair, w):
    student = torch.randn(2, 5, 4, requires_grad=True)
    teacher = torch.randn(len(y_teacher), 5, 4)
    labels = torch.tensor(y_student), torch.tensor(y_teacher, dtype=torch.long), torch.tensor(pair)
    loss = pmsc_loss(student, teacher, *labels, E=torch.full((3, 5), 0.2), w=w)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(student.grad, torch.zeros_like(student))


def test_pmsc_gradients_reach_the_student_only():
    student, teacher, y_student, y_teacher, pair, E = random_batch(3)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    E.requires_grad_(True)
    pmsc_loss(student, teacher, y_student, y_teacher, pair, E).backward()
    assert teacher.grad is None and E.grad is None
    assert student.grad.isfinite().all() and student.grad.abs().sum() > 0


def test_pmsc_is_stable_for_large_logits():
    student, teacher, y_student, y_teacher, pair, E = random_batch(4)
    # E x 1000 puts the logits far past the range of exp (e^709): only a log-space evaluation survives
    student.requires_grad_(True)
    loss = pmsc_loss(student.float(), teacher.float(), y_student, y_teacher, pair, E.float() * 1000)
    loss.backward()
    assert loss.isfinite() and loss >= 0 and student.grad.isfinite().all()


def test_pmsc_depends_on_feature_directions_only():
    student, teacher, y_student, y_teacher, pair, E = random_batch(5)
    scale = torch.rand(student.shape[:2]).unsqueeze(-1) + 0.5
    a = pmsc_loss(student, teacher, y_student, y_teacher, pair, E)
    b = pmsc_loss(student * scale, teacher * 3, y_student, y_teacher, pair, E)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(pair=torch.tensor([1, -1])), "paired with HQ row 1 of label 1"),
        (dict(pair=torch.tensor([0, 5])), r"pair\[1\] = 5"),
        (dict(E=torch.ones(3, 4)), r"part matrix E \[K, 5\]"),
        (dict(E=torch.ones(1, 5)), r"2 student labels in 0\.\.0 \(the rows of E\), got \[0, 1\]"),
        (dict(y_student=torch.tensor([0, -1])), "labels in 0..1"),
        (dict(y_student=torch.tensor([0, 1, 1])), "expected 2 student labels"),
        (dict(w=-0.1), "w must be >= 0"),
        (dict(teacher_part=torch.ones(2, 5, 7)), r"\[H, P, D\]"),
        (dict(y_teacher=torch.tensor([0])), "y_teacher"),
    ],
)
def test_pmsc_rejects_bad_input(change, message):
    args = dict(
        student_part=torch.ones(2, 5, 4), teacher_part=torch.ones(2, 5, 4), y_student=torch.tensor([0, 1]),
        y_teacher=torch.tensor([0, 1]), pair=torch.tensor([0, 1]), E=torch.ones(2, 5), w=0.5,
    )
    with pytest.raises(ValueError, match=message):
        pmsc_loss(**{**args, **change})


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_global_msc_matches_the_equations_on_one_part_of_weight_one(seed, w):
    student, teacher, y_student, y_teacher, pair, _ = random_batch(seed, parts=1, dim=8)
    ones = torch.ones(4, 1, dtype=torch.float64)
    expected = naive_msc(student, teacher, y_student, y_teacher, pair, ones, w)
    loss = global_msc_loss(student[:, 0], teacher[:, 0], y_student, y_teacher, pair, w)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_global_msc_detaches_the_teacher_and_checks_shapes():
    student = torch.randn(3, 8, requires_grad=True)
    teacher = torch.randn(2, 8, requires_grad=True)
    labels = dict(y_student=torch.tensor([0, 1, 1]), y_teacher=torch.tensor([0, 1]), pair=torch.tensor([0, -1, 1]))
    global_msc_loss(student, teacher, **labels).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\[B, D\] and \[H, D\]"):
        global_msc_loss(student, torch.randn(2, 7), **labels)


def test_kl_hand_computed():
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    # T = 1: p_teacher = (1/2, 1/2), p_student = (3/4, 1/4)
    assert kl_loss(student, teacher, 1.0).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    # T = 2: p_student = (sqrt 3, 1) / (1 + sqrt 3), times T^2 = 4
    q = math.sqrt(3) / (1 + math.sqrt(3))
    expected = 4 * (0.5 * math.log(0.5 / q) + 0.5 * math.log(0.5 / (1 - q)))
    assert kl_loss(student, teacher, 2.0).item() == pytest.approx(expected, rel=1e-6)
    # mean over samples: a second, identical-logit row adds 0 and halves the loss
    doubled = kl_loss(torch.cat([student, teacher]), torch.cat([teacher, teacher]), 1.0)
    assert doubled.item() == pytest.approx(0.25 * math.log(4 / 3), rel=1e-6)


def test_kl_gradients_empty_batch_and_bad_input():
    student = torch.randn(4, 6, requires_grad=True)
    teacher = torch.randn(4, 6, requires_grad=True)
    kl_loss(student, teacher).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    assert kl_loss(torch.zeros(0, 6), torch.zeros(0, 6)).item() == 0.0
    with pytest.raises(ValueError, match="same shape"):
        kl_loss(torch.zeros(4, 6), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="temperature"):
        kl_loss(student, teacher, 0.0)


def test_defined_samples_by_hand():
    # HQ rows: labels 0, 1, 1; sample 0 paired with row 0; sample 1 (label 1) solitary with positives;
    # sample 2 (label 0) solitary, its only same-class row is sample 0's own -> still a positive for it
    y_student, y_teacher = torch.tensor([0, 1, 0, 2]), torch.tensor([0, 1, 1])
    pair = torch.tensor([0, -1, -1, -1])
    assert defined_samples(y_student, y_teacher, pair, 0.5).tolist() == [True, True, True, False]
    assert defined_samples(y_student, y_teacher, pair, 0.0).tolist() == [True, False, False, False]
    # a paired sample whose own row is the only one of its class has no positive but is defined
    assert defined_samples(torch.tensor([0]), torch.tensor([0]), torch.tensor([0]), 0.5).tolist() == [True]


# --- variants beyond the paper --------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_pmsc_with_a_temperature_matches_the_equations(seed, tau):
    student, teacher, y_student, y_teacher, pair, E = random_batch(seed)
    expected = naive_msc(student, teacher, y_student, y_teacher, pair, E, 0.5, tau=tau)
    loss = pmsc_loss(student, teacher, y_student, y_teacher, pair, E, 0.5, temperature=tau)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_pmsc_temperature_one_and_no_occlusion_are_the_paper_bit_for_bit():
    student, teacher, y_student, y_teacher, pair, E = random_batch(1)
    paper = pmsc_loss(student.float(), teacher.float(), y_student, y_teacher, pair, E.float())
    same = pmsc_loss(student.float(), teacher.float(), y_student, y_teacher, pair, E.float(), 0.5, 1.0, None)
    assert torch.equal(paper, same)


def test_pmsc_temperature_by_hand_and_a_learned_one_gets_its_gradient():
    # the hand-computed case above (phi = 1, 0, -1) at tau = 0.5: C = e^2, e^0, e^-2
    student = torch.tensor([[[1.0, 0.0]] * 5], dtype=torch.float64)
    teacher = torch.tensor([[[2.0, 0.0]] * 5, [[0.0, 3.0]] * 5, [[-1.0, 0.0]] * 5], dtype=torch.float64)
    E = torch.tensor([[1.0] * 5, [0.1, 0.2, 0.3, 0.2, 0.2]], dtype=torch.float64)
    labels = torch.tensor([1]), torch.tensor([1, 1, 0]), torch.tensor([0])
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    loss = pmsc_loss(student, teacher, *labels, E, 0.5, temperature=tau)
    e = math.e
    assert loss.item() == pytest.approx(-math.log((e**2 + 0.5) / (e**2 + 0.5 + e**-2)), rel=1e-12)
    loss.backward()
    # d/dtau of -log(num / (num + neg)), num = e^(1/tau) + 0.5, neg = e^(-1/tau): by central differences
    f = lambda t: -math.log((math.exp(1 / t) + 0.5) / (math.exp(1 / t) + 0.5 + math.exp(-1 / t)))  # noqa: E731
    assert tau.grad.item() == pytest.approx((f(0.5 + 1e-6) - f(0.5 - 1e-6)) / 2e-6, rel=1e-6)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        pmsc_loss(student, teacher, *labels, E, 0.5, temperature=0.0)


@pytest.mark.parametrize("seed", range(3))
def test_pmsc_with_occlusion_weights_matches_the_equations(seed):
    student, teacher, y_student, y_teacher, pair, E = random_batch(seed)
    occlusion = torch.rand(len(y_student), 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = naive_msc(student, teacher, y_student, y_teacher, pair, E, 0.5, occlusion=occlusion)
    loss = pmsc_loss(student, teacher, y_student, y_teacher, pair, E, 0.5, occlusion=occlusion)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match=r"occlusion fractions \[10, 5\] in \[0, 1\], got \(10, 4\)"):
        pmsc_loss(student, teacher, y_student, y_teacher, pair, E, 0.5, occlusion=occlusion[:, :4])
    with pytest.raises(ValueError, match="occlusion fractions"):
        pmsc_loss(student, teacher, y_student, y_teacher, pair, E, 0.5, occlusion=occlusion + 1)


def naive_part_occlusion(x, part_index) -> list[list[float]]:
    """o_ip with loops: occluded (all channels 0) entries of part p over real frames and valid persons."""
    x, part_index = x.tolist(), part_index.tolist()
    out = []
    for sample in x:
        zero = [[[all(c == 0 for c in joint) for joint in frame] for frame in person] for person in sample]
        persons = [m for m in range(len(sample)) if not all(all(frame) for frame in zero[m])]
        frames = [t for t in range(len(sample[0])) if not all(all(zero[m][t]) for m in range(len(sample)))]
        row = []
        for p in range(5):
            joints = [v for v, q in enumerate(part_index) if q == p]
            entries = [(m, t, v) for m in persons for t in frames for v in joints]
            row.append(sum(zero[m][t][v] for m, t, v in entries) / len(entries) if entries else 0.0)
        out.append(row)
    return out


def test_part_occlusion_matches_a_loop_and_a_hand_count():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, 6, 7, 3, generator=g, dtype=torch.float64)
    x = x.masked_fill(torch.rand(4, 2, 1, 7, 1, generator=g) < 0.4, 0.0)  # joints occluded in every frame
    x = x.masked_fill(torch.rand(4, 2, 6, 7, 1, generator=g) < 0.2, 0.0)  # and single entries
    x[1, 1] = 0.0  # a padding person
    x[2, :, 4:] = 0.0  # two padding frames
    x[3] = 0.0  # nothing at all
    x[0, 0, 0, 0, :2] = 0.0  # two of three channels zero: not occluded
    part_index = torch.tensor([0, 0, 1, 2, 3, 3, 4])
    got = part_occlusion(x, part_index)
    torch.testing.assert_close(got, torch.tensor(naive_part_occlusion(x, part_index), dtype=torch.float64),
                               rtol=0, atol=1e-15)
    assert len(set(got[:3].flatten().tolist())) > 3  # fractions of many values, not a trivial case
    assert got[3].tolist() == [0.0] * 5
    # by hand: one person, 2 frames, part 0 = joints 0, 1; joint 0 gone in both frames, joint 1 in one
    y = torch.ones(1, 1, 2, 7, 2)
    y[0, 0, :, 0] = 0.0
    y[0, 0, 1, 1] = 0.0
    assert part_occlusion(y, part_index)[0].tolist() == [0.75, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\[B, M, T, V, C\] and a part index \[V\]"):
        part_occlusion(y, part_index[:6])


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_pmsc_through_a_part_head_matches_a_loop_projection(kind):
    student, teacher, y_student, y_teacher, pair, E = random_batch(2, dim=6)
    teacher = torch.randn(teacher.size(0), 5, 4, dtype=torch.float64)  # D_t = 4 != D_s = 6
    torch.manual_seed(0)
    head = DistillationHead(6, 4, kind).double()
    layers = [m for m in head.projection.modules() if isinstance(m, torch.nn.Linear)]

    def project(v):  # each layer by loops, ReLU between
        for k, layer in enumerate(layers):
            W, b = layer.weight.tolist(), layer.bias.tolist()
            v = [sum(W[r][c] * v[c] for c in range(len(v))) + b[r] for r in range(len(W))]
            v = [max(a, 0.0) for a in v] if k < len(layers) - 1 else v
        return v

    projected = torch.tensor([[project(part) for part in sample] for sample in student.tolist()], dtype=torch.float64)
    expected = naive_msc(projected, teacher, y_student, y_teacher, pair, E, 0.5)
    loss = pmsc_loss(head.project(student), teacher, y_student, y_teacher, pair, E, 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_distillation_head_options():
    fixed = DistillationHead(8, 8, "none", 0.1)
    part = torch.randn(2, 5, 8)
    assert fixed.project(part) is part and fixed.temperature() == 0.1 and not fixed.has_state
    learned = DistillationHead(8, 8, "none", "learned")
    assert learned.has_state and learned.temperature().item() == 1.0  # initialised at tau = 1 (log tau = 0)
    with torch.no_grad():
        learned.log_tau.fill_(-10.0)
    assert learned.temperature().item() == pytest.approx(0.01)  # clamped
    assert [p.shape for p in DistillationHead(8, 4, "linear").parameters()] == [(4, 8), (4,)]
    with pytest.raises(ValueError, match="feature size 8 must equal the teacher's 4"):
        DistillationHead(8, 4, "none")
    with pytest.raises(ValueError, match="part head must be one of"):
        DistillationHead(8, 8, "deep")
    with pytest.raises(ValueError, match="temperature must be a number > 0 or 'learned'"):
        DistillationHead(8, 8, "none", -1.0)
