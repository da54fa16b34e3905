"""L_pmsc (Eqs. 6-11), global MSC and KL against naive references written straight from the equations."""
from __future__ import annotations

import math

import pytest
import torch

from pygkd.kd import defined_samples, global_msc_loss, kl_loss, pmsc_loss


def naive_msc(student, teacher, y_student, y_teacher, pair, E, w) -> float:
    """Eqs. 6-11 with for-loops and math.exp. Empty B^P / B^N sums are 0; a sample whose numerator is 0
    (solitary, no positive or w = 0) has no finite loss and is left out of the mean."""
    student, teacher, E = student.tolist(), teacher.tolist(), E.tolist()
    y_student, y_teacher, pair = y_student.tolist(), y_teacher.tolist(), pair.tolist()

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    def similarity(i, j):  # Eqs. 6-7
        parts = range(len(student[i]))
        return math.exp(sum(cos(student[i][p], teacher[j][p]) * E[y_student[i]][p] for p in parts))

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
