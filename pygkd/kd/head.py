r"""What the variants of :math:`\mathcal{L}_{pmsc}` train along with the student: a projection head on its
part features (``student.part_head``) and the temperature of :math:`\phi` (``student.phi_temperature``).

* **Part head** (as contrastive distillation does, e.g. CRD, SimKD): the cosines of Eq. 7 compare
  :math:`g(f^L_{i,p})` with :math:`f^H_{j,p}`, where :math:`g` is shared by the five parts: ``linear``
  (:math:`D_s \to D_t`) or ``mlp`` (:math:`D_s \to D_s`, ReLU, :math:`D_s \to D_t`). The student's width
  :math:`D_s` may then differ from the teacher's :math:`D_t`. The head is a training device only: the
  student's checkpoint keeps the backbone as its model, and inference never runs the head.
* **Temperature**: :math:`\mathcal{C}_{ij} = e^{\phi_{ij}/\tau}` with a fixed :math:`\tau > 0`, or a learned
  one, :math:`\tau = e^{s}` with :math:`s` initialised at :math:`\log 1 = 0` (the paper's loss at the first
  step) and clamped to :math:`[\log 0.01, \log 100]` (as CLIP bounds its logit scale: a sharper pull lowers the
  loss without end). :math:`s` is trained by the student's optimizer, weight decay included, which pulls
  :math:`\tau` gently towards 1.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

PART_HEADS = ("none", "linear", "mlp")
LEARNED = "learned"
LOG_TAU_RANGE = (math.log(0.01), math.log(100.0))


class DistillationHead(nn.Module):
    """The projection head and the temperature of :math:`\\mathcal{L}_{pmsc}` (see the module docstring).

    Args:
        student_dim: :math:`D_s`, the student's part feature size.
        teacher_dim: :math:`D_t`, the teacher's; must equal ``student_dim`` without a head.
        part_head: ``"none"`` (the paper: no projection), ``"linear"`` or ``"mlp"``.
        temperature: :math:`\\tau > 0`, or ``"learned"``.
    """

    def __init__(self, student_dim: int, teacher_dim: int, part_head: str = "none",
                 temperature: float | str = 1.0) -> None:
        super().__init__()
        if part_head not in PART_HEADS:
            raise ValueError(f"part head must be one of {PART_HEADS}, got {part_head!r}")
        if part_head == "none" and student_dim != teacher_dim:
            raise ValueError(f"without a part head the student's feature size {student_dim} must equal the "
                             f"teacher's {teacher_dim}")
        if temperature != LEARNED and not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a number > 0 or {LEARNED!r}, got {temperature!r}")
        self.projection = {
            "none": None,
            "linear": nn.Linear(student_dim, teacher_dim),
            "mlp": nn.Sequential(nn.Linear(student_dim, student_dim), nn.ReLU(), nn.Linear(student_dim, teacher_dim)),
        }[part_head]
        self.log_tau = nn.Parameter(torch.zeros(())) if temperature == LEARNED else None
        self.fixed_tau = None if temperature == LEARNED else float(temperature)

    @property
    def has_state(self) -> bool:
        """Whether there is anything to train and checkpoint (a head or a learned temperature)."""
        return any(True for _ in self.parameters())

    def project(self, part: Tensor) -> Tensor:
        """``[B, 5, D_s]`` student part features -> ``[B, 5, D_t]`` (``part`` itself without a head)."""
        return part if self.projection is None else self.projection(part)

    def temperature(self) -> float | Tensor:
        """:math:`\\tau`: the fixed number, or the learned scalar tensor (with gradient)."""
        if self.log_tau is None:
            return self.fixed_tau
        return self.log_tau.clamp(*LOG_TAU_RANGE).exp()
