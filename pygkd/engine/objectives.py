"""Training objectives: cross-entropy (Eqs. 2 and 5), optionally plus a distillation term (Eq. 4).

``L = L_c + alpha * L_kd``, where ``L_kd`` is one of the paper's Table 4 rows:

* ``pmsc``: the part-level multi-sample contrastive loss on part features, weighted by ``E`` (Eqs. 6-11);
* ``global_msc``: the same contrastive loss on global features, without ``E``;
* ``kl``: KL divergence of softened logits, on the samples that keep their HQ match.

Under mixed precision (:mod:`pygkd.nn.precision`) the networks' forward passes run in the autocast dtype,
and every loss is computed with autocast off on float32 copies of their outputs.
With several processes each term is this rank's :func:`~.distributed.share` of the global batch's mean
(the mean itself in one process), so that DistributedDataParallel's averaged gradient is the gradient of
the single-process loss of the global batch. The contrastive terms read the teacher rows of the whole
global batch (:func:`~.teaching.gather_teaching`): each student row meets the positive and negative sets
it would meet in one process, and Eq. 11's mean runs over the defined samples of all ranks.

The variants of ``pmsc`` beyond the paper (``student.bank``, ``phi_temperature``, ``part_head``,
``occlusion_weight``; docs/usage.md) live here too: a :class:`~.teaching.TeacherBank` as the teacher, a
:class:`~pygkd.kd.DistillationHead` (projection head, temperature) and the occlusion-aware part weights of
:func:`~pygkd.kd.part_occlusion`. What they train or count is :attr:`Distillation.state`, which
:func:`~.trainer.fit` optimises with the student and keeps in its checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch

from ..kd import DistillationHead, defined_samples, global_msc_loss, kl_loss, part_occlusion, pmsc_loss
from ..nn import BackboneOutput
from ..nn.precision import float32, full_precision
from .distributed import mean_share, share, total, unwrap
from .teaching import Teaching, gather_teaching
from .trainer import StepOutput, dense_input

# which teacher output each distillation loss reads
TEACHER_OUTPUT = {"pmsc": "part", "global_msc": "feature", "kl": "logits"}


@dataclass
class Distillation:
    """The distillation term ``L_kd`` of a student batch.

    Attributes:
        loss: ``"pmsc"``, ``"global_msc"`` or ``"kl"``.
        teacher: ``batch -> Teaching`` (:class:`~.teaching.LiveTeacher` or :class:`~.teaching.TeacherCache`).
        alpha: weight of the term (Eq. 4).
        w: weight of the positive set (Eq. 8).
        E: ``[K, 5]`` part matrix (``pmsc`` only).
        temperature: softening temperature (``kl`` only).
        head: the projection head and temperature of ``pmsc`` (:class:`~pygkd.kd.DistillationHead`);
            ``None``: neither (the paper).
        part_index: ``[V]`` part of every joint of the student's layout: turns on the occlusion-aware part
            weights of ``pmsc`` (``student.occlusion_weight``); ``None``: the paper's ``E``.

    Attributes:
        state: what the term trains or counts (``head``: a head or learned temperature, ``bank``: the step of a
            random :class:`~.teaching.TeacherBank`), as one module, or ``None`` when there is none.
    """

    loss: str
    teacher: Callable[[Batch], Teaching]
    alpha: float = 1.0
    w: float = 0.5
    E: Tensor | None = None
    temperature: float = 4.0
    head: DistillationHead | None = None
    part_index: Tensor | None = None

    def __post_init__(self) -> None:
        if self.loss not in TEACHER_OUTPUT:
            raise ValueError(f"distillation loss must be one of {sorted(TEACHER_OUTPUT)}, got {self.loss!r}")
        if self.loss == "pmsc" and self.E is None:
            raise ValueError("the pmsc loss needs the part matrix E")
        if self.loss != "pmsc" and (self.head is not None or self.part_index is not None):
            raise ValueError(f"a part head, temperature or occlusion weights apply to pmsc, not {self.loss}")
        parts = {name: module for name, module in (("head", self.head), ("bank", self.teacher))
                 if getattr(module, "has_state", False)}
        self.state = nn.ModuleDict(parts) if parts else None

    def __call__(self, student: BackboneOutput, batch: Batch, x: Tensor | None = None) -> Tensor:
        """``L_kd`` of the batch (this rank's share of it, see the module docstring), in float32: the
        teacher runs in the ambient precision, the loss with autocast off. ``x`` (``[B, M, T, V, C]``, the
        student's input) is read by the occlusion-aware part weights only."""
        t = self.teacher(batch)
        with float32(t.out.device.type):
            if self.loss == "kl":
                paired = t.pair >= 0
                kl = kl_loss(full_precision(student.logits[paired]), full_precision(t.out[t.pair[paired]]), self.temperature)
                return mean_share(kl, paired.sum())
            t = gather_teaching(t)
            teacher = full_precision(t.out)
            if self.loss == "pmsc":
                part, tau, occlusion = full_precision(student.part), 1.0, None
                if self.head is not None:
                    part, tau = self.head.project(part), self.head.temperature()
                if self.part_index is not None:
                    if x is None:
                        raise ValueError("occlusion-aware part weights need the student's input x")
                    occlusion = part_occlusion(x, self.part_index)
                loss = pmsc_loss(part, teacher, batch.y, t.y, t.pair, self.E, self.w, tau, occlusion)
            else:
                loss = global_msc_loss(full_precision(student.feature), teacher, batch.y, t.y, t.pair, self.w)
            return mean_share(loss, defined_samples(batch.y, t.y, t.pair, self.w).sum())


class TrainingObjective:
    """``L_c`` (cross-entropy), plus ``alpha * L_kd`` when a :class:`Distillation` is given.

    Args:
        input_key: the batch attribute holding the network's graphs (``"x"`` of a ``SkeletonData`` batch,
            ``"x_lq"`` of a ``SkeletonPair`` batch).
        distill: the distillation term, or ``None`` (teacher training, student baseline).
    """

    def __init__(self, input_key: str = "x", distill: Distillation | None = None) -> None:
        self.input_key, self.distill = input_key, distill

    @property
    def state(self) -> nn.Module | None:
        """The distillation term's trained or counted state (:attr:`Distillation.state`), if any."""
        return None if self.distill is None else self.distill.state

    def __call__(self, model: nn.Module, batch: Batch) -> StepOutput:
        x = dense_input(batch[self.input_key], batch.num_graphs, unwrap(model).layout.num_joints)
        out = model(x)
        batch_size = total(batch.num_graphs)
        with float32(out.logits.device.type):
            ce = share(F.cross_entropy(full_precision(out.logits), batch.y, reduction="sum"), batch_size)
        terms = {"ce": ce.detach()}
        loss = ce
        if self.distill is not None:
            kd = self.distill(out, batch, x)
            terms[self.distill.loss] = kd.detach()
            if self.distill.head is not None and self.distill.head.log_tau is not None:
                terms["phi_temperature"] = self.distill.head.temperature().detach()
            loss = ce + self.distill.alpha * kd
        return StepOutput(loss, out.logits.detach(), batch.y, terms, batch_size)
