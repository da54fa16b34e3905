r"""The paper's distillation baselines (Table 4): KL on logits and the global multi-sample contrastive loss.

* :func:`kl_loss`: Hinton-style distillation of the teacher's softened class distribution into the
  student's, on paired samples only (a solitary LQ sample has no teacher output of its own).
* :func:`global_msc_loss`: the multi-sample contrastive loss of Eqs. 8-11 (Sharma et al., CVPR 2021, the
  paper's ref. [45]) with the cosine of the global feature vectors as similarity, i.e. one "part" of weight 1
  and no part matrix.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .pmsc import multi_sample_contrastive_loss, part_similarity


def global_msc_loss(
    student_feat: Tensor,
    teacher_feat: Tensor,
    y_student: Tensor,
    y_teacher: Tensor,
    pair: Tensor,
    w: float = 0.5,
) -> Tensor:
    r"""Global MSC: Eqs. 8-11 with :math:`\phi_{ij} = \cos(g^L_i, g^H_j)` on global features.

    Args:
        student_feat: ``[B, D]`` global features of the LQ batch (student).
        teacher_feat: ``[H, D]`` global features of the HQ batch (frozen teacher; detached here).
        y_student, y_teacher, pair, w: as in :func:`pygkd.kd.pmsc_loss`.

    Returns:
        Scalar loss, with the same handling of batches without positives or negatives as ``pmsc_loss``.
    """
    if student_feat.dim() != 2 or teacher_feat.dim() != 2 or student_feat.size(1) != teacher_feat.size(1):
        raise ValueError(
            f"expected global features [B, D] and [H, D], got {tuple(student_feat.shape)} "
            f"and {tuple(teacher_feat.shape)}"
        )
    weight = student_feat.new_ones(student_feat.size(0), 1)
    similarity = part_similarity(student_feat.unsqueeze(1), teacher_feat.detach().unsqueeze(1), weight)
    return multi_sample_contrastive_loss(similarity, y_student, y_teacher, pair, w)


def kl_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    r"""Distillation on logits: :math:`T^2\,\mathrm{KL}(\sigma(z^H/T)\,\|\,\sigma(z^L/T))`, mean over samples.

    Args:
        student_logits: ``[B, K]`` student logits of the paired samples.
        teacher_logits: ``[B, K]`` teacher logits of the same samples, row for row (detached here).
        temperature: softening temperature :math:`T > 0`; the :math:`T^2` factor keeps gradient magnitudes
            comparable across temperatures (Hinton et al., 2015).

    Returns:
        Scalar loss; 0 for an empty batch (no paired sample).
    """
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"expected student and teacher logits of the same shape [B, K], got {tuple(student_logits.shape)} "
            f"and {tuple(teacher_logits.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="sum", log_target=True)
    return kl * temperature**2 / max(student_logits.size(0), 1)
