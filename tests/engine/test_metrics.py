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
