r"""The part-level multi-sample contrastive loss :math:`\mathcal{L}_{pmsc}` (paper Eqs. 6-11).

Every LQ sample :math:`i` of a batch is compared with every HQ sample :math:`j` the teacher saw in the same
batch. The similarity of the two is a weighted sum of part cosines (Eqs. 6-7)

.. math::
    \phi_{ij} = \sum_{p=1}^{5} \cos\big(f^L_{i,p}, f^H_{j,p}\big)\, E_{y_i,p}, \qquad
    \mathcal{C}(x^L_i, x^H_j) = e^{\phi_{ij}},

and the loss of sample :math:`i` (Eq. 8) pulls its own HQ skeleton (if it has one) and the HQ skeletons of
its class (weight :math:`w`) towards it, against the HQ skeletons of other classes:

.. math::
    \ell^i = -\log \frac{[\mathcal{C}_{ii}] + w\,\mathcal{C}^P_i}
                         {[\mathcal{C}_{ii}] + w\,\mathcal{C}^P_i + \mathcal{C}^N_i}, \qquad
    \mathcal{C}^P_i = \frac{1}{|B^P_i|}\sum_{j \in B^P_i} \mathcal{C}_{ij}, \quad
    \mathcal{C}^N_i = \frac{1}{|B^N_i|}\sum_{j \in B^N_i} \mathcal{C}_{ij}

(Eqs. 9-10; the bracketed own-pair term only for paired samples). :math:`B^P_i` holds the HQ samples of
class :math:`y_i` other than :math:`i`'s own, :math:`B^N_i` those of the other classes. Written as
log-sum-exps over the logits :math:`\phi_{ij}` plus log-weights (:math:`0` for the own pair,
:math:`\log(w/|B^P_i|)` for positives, :math:`\log(1/|B^N_i|)` for negatives), the loss is
:math:`\ell^i = \operatorname{LSE}_{j}(\phi_{ij} + \log\omega_{ij}) -
\operatorname{LSE}_{j:\,y_j = y_i}(\phi_{ij} + \log\omega_{ij})`, which never overflows.

Batches that lack some of these sets (the paper does not say):

* an empty :math:`B^P_i` or :math:`B^N_i` contributes nothing (:math:`\mathcal{C}^P_i = 0`, resp.
  :math:`\mathcal{C}^N_i = 0`). A sample without negatives thus has :math:`\ell^i = -\log 1 = 0`; it
  counts in the mean, which changes nothing: all HQ samples of such a batch share its class, so every
  defined :math:`\ell^i` of the batch is 0.
* a solitary sample whose numerator vanishes (no positive in the batch, or :math:`w = 0`) has no finite
  loss. It is left out of Eq. 11, whose mean runs over the samples with a defined :math:`\ell^i` (the
  left-out sample still gets its classification loss). When no sample is defined the loss is 0 (still
  attached to the graph, with zero gradients).

A class-aware batch sampler (several samples per class per batch) keeps both cases rare.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def part_similarity(student_part: Tensor, teacher_part: Tensor, part_weight: Tensor) -> Tensor:
    r"""Weighted sum of part cosines :math:`\phi_{ij} = \sum_p \cos(f^L_{i,p}, f^H_{j,p})\,\omega_{i,p}` (Eq. 7).

    Args:
        student_part: ``[B, P, D]`` part features of the LQ samples.
        teacher_part: ``[H, P, D]`` part features of the HQ samples.
        part_weight: ``[B, P]`` weight of each part for each LQ sample (row :math:`E_{y_i}` of the part matrix).

    Returns:
        ``[B, H]`` similarity logits. A zero feature vector has cosine 0 with everything.
    """
    student = F.normalize(student_part, dim=-1) * part_weight.unsqueeze(-1)
    return torch.einsum("bpd,hpd->bh", student, F.normalize(teacher_part, dim=-1))


def multi_sample_contrastive_loss(
    similarity: Tensor, y_student: Tensor, y_teacher: Tensor, pair: Tensor, w: float = 0.5
) -> Tensor:
    r"""The multi-sample contrastive loss of Eqs. 8-11 on given similarity logits :math:`\phi` (Eq. 6).

    Args:
        similarity: ``[B, H]`` logits :math:`\phi_{ij}` between LQ sample ``i`` and HQ sample ``j``.
        y_student: ``[B]`` labels of the LQ samples.
        y_teacher: ``[H]`` labels of the HQ samples.
        pair: ``[B]`` row of sample ``i``'s own HQ skeleton in the HQ batch, or ``-1`` for a solitary sample.
        w: weight :math:`w \ge 0` of the mean positive similarity (the paper uses 0.5).

    Returns:
        Scalar mean of :math:`\ell^i` over the samples whose loss is defined (see the module docstring).
    """
    _check_batch(similarity, y_student, y_teacher, pair, w)
    num_hq = similarity.size(1)
    own = pair.unsqueeze(1) == torch.arange(num_hq, device=pair.device)
    same_class = y_student.unsqueeze(1) == y_teacher.unsqueeze(0)
    positive = same_class & ~own
    num_pos = positive.sum(1, keepdim=True).clamp(min=1).to(similarity.dtype)
    num_neg = (~same_class).sum(1, keepdim=True).clamp(min=1).to(similarity.dtype)

    log_w = math.log(w) if w > 0 else -math.inf
    log_weight = torch.where(own, 0.0, torch.where(positive, log_w - num_pos.log(), -num_neg.log()))
    logits = similarity + log_weight

    defined = defined_samples(y_student, y_teacher, pair, w)
    # undefined rows get a finite dummy numerator: their loss is dropped, and -inf rows would give NaN grads
    numerator_logits = torch.where(same_class, logits, -math.inf).where(defined.unsqueeze(1), 0.0)
    loss = torch.logsumexp(logits, 1) - torch.logsumexp(numerator_logits, 1)
    return loss.where(defined, 0.0).sum() / defined.sum().clamp(min=1)


def defined_samples(y_student: Tensor, y_teacher: Tensor, pair: Tensor, w: float = 0.5) -> Tensor:
    r"""``[B]`` bool: the LQ samples whose :math:`\ell^i` is defined, those Eq. 11 averages over: a paired
    sample, or one with a positive in the HQ batch when :math:`w > 0` (see the module docstring).

    Args:
        y_student, y_teacher, pair, w: as in :func:`multi_sample_contrastive_loss`.
    """
    own = pair.unsqueeze(1) == torch.arange(y_teacher.numel(), device=pair.device)
    has_positive = ((y_student.unsqueeze(1) == y_teacher.unsqueeze(0)) & ~own).any(1)
    return (pair >= 0) | (has_positive & (w > 0))


def pmsc_loss(
    student_part: Tensor,
    teacher_part: Tensor,
    y_student: Tensor,
    y_teacher: Tensor,
    pair: Tensor,
    E: Tensor,
    w: float = 0.5,
    temperature: float | Tensor = 1.0,
    occlusion: Tensor | None = None,
) -> Tensor:
    r""":math:`\mathcal{L}_{pmsc}` (Eqs. 6-11): part-level multi-sample contrastive loss.

    Two variants beyond the paper (both off by default): a temperature, :math:`\mathcal{C}_{ij} =
    e^{\phi_{ij} / \tau}`, and occlusion-aware part weights :math:`\omega_{i,p} = E_{y_i,p}\,(1 + o_{i,p})`
    in Eq. 7 instead of :math:`E_{y_i,p}` (:func:`pygkd.kd.part_occlusion` gives :math:`o`).

    Args:
        student_part: ``[B, 5, D]`` part features of the LQ batch (student, with gradient).
        teacher_part: ``[H, 5, D]`` part features of the HQ batch (frozen teacher; detached here).
        y_student: ``[B]`` labels of the LQ samples.
        y_teacher: ``[H]`` labels of the HQ samples.
        pair: ``[B]`` row in ``teacher_part`` of sample ``i``'s own HQ skeleton, ``-1`` if solitary.
        E: ``[K, 5]`` action-specific part matrix (Eq. 13), a fixed prior (detached); row :math:`y_i` weighs
            the parts of sample ``i``.
        w: weight of the positive set (Eq. 8), 0.5 in the paper.
        temperature: :math:`\tau > 0` dividing :math:`\phi` (1 in the paper); a tensor (a learned
            :math:`\tau`) receives gradients.
        occlusion: ``[B, 5]`` fraction :math:`o_{i,p} \in [0, 1]` of part ``p`` of LQ sample ``i`` that is
            occluded; ``None``: the paper's weights :math:`E_{y_i,p}`.

    Returns:
        Scalar loss (see the module docstring for batches without positives or negatives).
    """
    if student_part.dim() != 3 or teacher_part.dim() != 3 or student_part.shape[1:] != teacher_part.shape[1:]:
        raise ValueError(
            f"expected part features [B, P, D] and [H, P, D], got {tuple(student_part.shape)} "
            f"and {tuple(teacher_part.shape)}"
        )
    if E.dim() != 2 or E.size(1) != student_part.size(1):
        raise ValueError(f"expected a part matrix E [K, {student_part.size(1)}], got {tuple(E.shape)}")
    if y_student.shape != student_part.shape[:1] or ((y_student < 0) | (y_student >= E.size(0))).any():
        raise ValueError(
            f"expected {student_part.size(0)} student labels in 0..{E.size(0) - 1} (the rows of E), "
            f"got {y_student.tolist()}"
        )
    if not isinstance(temperature, Tensor) and not temperature > 0:  # a learned one is exp(log tau) > 0
        raise ValueError(f"temperature must be > 0, got {temperature}")
    part_weight = E.detach().to(student_part)[y_student]
    if occlusion is not None:
        if occlusion.shape != part_weight.shape or ((occlusion < 0) | (occlusion > 1)).any():
            raise ValueError(
                f"expected occlusion fractions [{part_weight.size(0)}, {part_weight.size(1)}] in [0, 1], got "
                f"{tuple(occlusion.shape)}"
            )
        part_weight = part_weight * (1 + occlusion.detach().to(part_weight))
    similarity = part_similarity(student_part, teacher_part.detach(), part_weight) / temperature
    return multi_sample_contrastive_loss(similarity, y_student, y_teacher, pair, w)


def _check_batch(similarity: Tensor, y_student: Tensor, y_teacher: Tensor, pair: Tensor, w: float) -> None:
    b, h = similarity.shape
    if y_student.shape != (b,) or pair.shape != (b,) or y_teacher.shape != (h,):
        raise ValueError(
            f"{b} LQ and {h} HQ samples need y_student and pair [{b}] and y_teacher [{h}], got "
            f"{tuple(y_student.shape)}, {tuple(pair.shape)} and {tuple(y_teacher.shape)}"
        )
    if w < 0:
        raise ValueError(f"w must be >= 0, got {w}")
    if not ((pair >= -1) & (pair < h)).all():
        bad = int(((pair < -1) | (pair >= h)).nonzero()[0, 0])
        raise ValueError(f"pair[{bad}] = {int(pair[bad])} is neither -1 nor a row of the {h} HQ samples")
    paired = (pair >= 0).nonzero().squeeze(1)
    mismatch = paired[y_teacher[pair[paired]] != y_student[paired]]
    if mismatch.numel():
        i = int(mismatch[0])
        raise ValueError(
            f"LQ sample {i} (label {int(y_student[i])}) is paired with HQ row {int(pair[i])} "
            f"of label {int(y_teacher[pair[i]])}"
        )
