"""Classification metrics: top-k accuracy, confusion matrix, per-class accuracy.

Accuracies are fractions in ``[0, 1]``. The confusion matrix is ``[K, K]`` with rows the true class and
columns the predicted class, so row ``c`` sums to the number of samples of class ``c``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def topk_hits(logits: Tensor, y: Tensor, k: int) -> Tensor:
    """Whether the true class is among the ``k`` highest logits: ``[B, K]``, ``[B]`` -> ``[B]`` bool.

    ``k`` is capped at the number of classes ``K``.
    """
    k = min(k, logits.size(1))
    return (logits.topk(k, dim=1).indices == y.unsqueeze(1)).any(dim=1)


def confusion_matrix(pred: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Counts ``C[t, p]`` of samples of true class ``t`` predicted as ``p``: ``[B]``, ``[B]`` -> ``[K, K]`` long."""
    flat = y.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(confusion: Tensor) -> Tensor:
    """Recall of every class, ``C[c, c] / sum_p C[c, p]``: ``[K, K]`` -> ``[K]`` float (NaN for absent classes)."""
    support = confusion.sum(dim=1).double()
    return confusion.diagonal().double() / support  # 0/0 = NaN marks a class with no sample


class ClassificationMeter:
    """Accumulates predictions over batches; :meth:`compute` gives the report of the whole pass.

    Args:
        num_classes: ``K``.
        topk: the ``k`` of the top-k accuracies to report (each capped at ``K``).
    """

    def __init__(self, num_classes: int, topk: tuple[int, ...] = (1, 5)) -> None:
        self.num_classes = num_classes
        self.topk = topk
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.hits = dict.fromkeys(topk, 0)
        self.count = 0

    def update(self, logits: Tensor, y: Tensor) -> None:
        """Add one batch: ``logits [B, K]``, labels ``y [B]``."""
        logits, y = logits.detach().cpu(), y.detach().cpu()
        self.confusion += confusion_matrix(logits.argmax(dim=1), y, self.num_classes)
        for k in self.topk:
            self.hits[k] += int(topk_hits(logits, y, k).sum())
        self.count += y.numel()

    def add_up(self, sum_over: Callable[[Tensor], Tensor]) -> "ClassificationMeter":
        """Replace the counts by ``sum_over(counts)``, e.g. their sums over the processes of a run that each
        scored a shard (:func:`pygkd.engine.distributed.all_sum`); returns the meter."""
        self.confusion = sum_over(self.confusion)
        self.hits = {k: int(sum_over(torch.tensor(v))) for k, v in self.hits.items()}
        self.count = int(sum_over(torch.tensor(self.count)))
        return self

    def compute(self) -> dict:
        """``{"top1": ..., "top5": ..., "per_class": [K] (None where absent), "confusion": [K][K], "num_samples"}``."""
        if self.count == 0:
            raise ValueError("no sample was evaluated")
        per_class = per_class_accuracy(self.confusion)
        return {
            **{f"top{k}": self.hits[k] / self.count for k in self.topk},
            "per_class": [None if torch.isnan(a) else float(a) for a in per_class],
            "confusion": self.confusion.tolist(),
            "num_samples": self.count,
        }
