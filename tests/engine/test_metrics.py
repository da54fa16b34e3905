import math

import pytest
import torch

from pygkd.engine.metrics import ClassificationMeter, confusion_matrix, per_class_accuracy, topk_hits

# 4 samples, 3 classes; by hand: argmax = [0, 2, 1, 1]; second choices = [1, 1, 2, 0]
LOGITS = torch.tensor([[3.0, 2.0, 1.0], [0.0, 1.0, 2.0], [0.5, 2.0, 1.0], [1.0, 3.0, 0.0]])
Y = torch.tensor([0, 1, 1, 2])


def test_topk_hits_by_hand():
    assert topk_hits(LOGITS, Y, 1).tolist() == [True, False, True, False]
    assert topk_hits(LOGITS, Y, 2).tolist() == [True, True, True, False]
    assert topk_hits(LOGITS, Y, 5).all()  # k capped at K = 3


def test_confusion_rows_are_true_classes():
    cm = confusion_matrix(LOGITS.argmax(1), Y, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]


def test_per_class_accuracy_marks_absent_classes():
    acc = per_class_accuracy(torch.tensor([[2, 0, 0], [1, 3, 0], [0, 0, 0]]))
    assert acc[:2].tolist() == [1.0, 0.75]
    assert math.isnan(acc[2])


def test_meter_accumulates_batches_like_one_pass():
    meter = ClassificationMeter(3, topk=(1, 2))
    meter.update(LOGITS[:1], Y[:1])
    meter.update(LOGITS[1:], Y[1:])
    report = meter.compute()
    assert report["top1"] == 0.5 and report["top2"] == 0.75
    assert report["per_class"] == [1.0, 0.5, 0.0]
    assert report["confusion"] == confusion_matrix(LOGITS.argmax(1), Y, 3).tolist()
    assert report["num_samples"] == 4


def test_meter_reports_absent_class_as_none_and_refuses_empty():
    meter = ClassificationMeter(4)
    with pytest.raises(ValueError, match="no sample"):
        meter.compute()
    meter.update(torch.cat([LOGITS, torch.zeros(4, 1)], 1), Y)
    assert meter.compute()["per_class"][3] is None


def test_meter_add_up_sums_the_counts_of_shards():
    # two shards of one split scored apart, then summed as the ranks of a run do
    halves = [ClassificationMeter(3, topk=(1, 2)) for _ in range(2)]
    halves[0].update(torch.tensor([[3.0, 1.0, 0.0], [1.0, 0.0, 3.0]]), torch.tensor([0, 1]))  # hit, top-2 miss
    halves[1].update(torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([2]))  # top-1 miss, top-2 hit
    summed = halves[0].add_up(_plus(halves[1])).compute()
    assert summed["num_samples"] == 3 and summed["top1"] == 1 / 3 and summed["top2"] == 2 / 3
    assert summed["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert summed["per_class"] == [1.0, 0.0, 0.0]


def _plus(other: ClassificationMeter):
    """A ``sum_over`` that adds ``other``'s counts, in the order :meth:`add_up` asks for them."""
    values = iter([other.confusion, *(torch.tensor(other.hits[k]) for k in other.hits), torch.tensor(other.count)])
    return lambda counts: counts + next(values)
