"""The part matrix (Eqs. 12-13) with a hand-made teacher whose mistakes are known, and its files."""
from __future__ import annotations

import csv
import math
import sys
from typing import NamedTuple

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from pygkd.data.raw import DataFormatError
from pygkd.kd import PartMatrix, occlude_parts, part_error_rates, part_matrix
from pygkd.skeleton import NUM_PARTS, PARTS, get_layout

LAYOUT = get_layout("coco17")
PART_INDEX = LAYOUT.part_index()
HEAD, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG = range(NUM_PARTS)


class Output(NamedTuple):
    logits: Tensor


class OcclusionSensitiveTeacher(nn.Module):
    """Reads the label from channel 0 (label + 1 on every joint) and predicts it, except for a *fragile* sample
    (channel 1 == 2) that misses a part critical to its class: that one it calls ``label + 1 mod K``."""

    def __init__(self, critical: list[set[int]]) -> None:
        super().__init__()
        self.critical = torch.tensor([[p in parts for p in range(NUM_PARTS)] for parts in critical])
        self.scale = nn.Parameter(torch.ones(()))  # gives the model a device
        self.calls: list[tuple[int, bool]] = []

    def forward(self, x: Tensor) -> Output:
        self.calls.append((x.size(0), self.training))
        label = x[..., 0].amax(dim=(1, 2, 3)).long() - 1
        fragile = x[..., 1].amax(dim=(1, 2, 3)) == 2
        joint_present = x.abs().sum(dim=(1, 2, 4)) > 0  # [N, V]
        part_present = torch.stack([joint_present[:, PART_INDEX == p].any(1) for p in range(NUM_PARTS)], 1)
        flip = fragile & (~part_present & self.critical[label]).any(1)
        prediction = torch.where(flip, (label + 1) % len(self.critical), label)
        return Output(nn.functional.one_hot(prediction, len(self.critical)).float() * self.scale)


def hq_samples(labels: list[int], fragile: list[bool], frames: int = 3) -> tuple[Tensor, Tensor]:
    x = torch.ones(len(labels), 1, frames, LAYOUT.num_joints, 2)
    x[..., 0] *= torch.tensor(labels, dtype=torch.float).view(-1, 1, 1, 1) + 1
    x[..., 1] *= torch.tensor(fragile, dtype=torch.float).view(-1, 1, 1, 1) + 1
    return x, torch.tensor(labels)


# class 0: arms critical, 1 of 4 samples fragile; class 1: left leg critical, both fragile;
# class 2: head critical, none fragile; class 3: no sample at all
CRITICAL = [{LEFT_ARM, RIGHT_ARM}, {LEFT_LEG}, {HEAD}, {HEAD}]
LABELS = [1, 0, 2, 0, 1, 0, 2, 2, 0]
FRAGILE = [True, False, False, True, True, False, False, False, False]
EXPECTED_ERRORS = [[0, 1, 1, 0, 0], [0, 0, 0, 2, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
EXPECTED_COUNTS = [4, 2, 3, 0]


def test_occlude_parts_zeroes_one_part_per_copy():
    x = torch.rand(2, 1, 3, LAYOUT.num_joints, 2) + 1
    out = occlude_parts(x, PART_INDEX)
    assert out.shape == (5 * 2, 1, 3, LAYOUT.num_joints, 2)
    for p in range(NUM_PARTS):
        copy = out[p * 2 : (p + 1) * 2]
        joints = LAYOUT.part_joints(p)
        others = [j for j in range(LAYOUT.num_joints) if j not in joints]
        assert torch.equal(copy[..., joints, :], torch.zeros_like(copy[..., joints, :])), PARTS[p]
        assert torch.equal(copy[..., others, :], x[..., others, :]), PARTS[p]
    with pytest.raises(ValueError, match=r"part index \[V\]"):
        occlude_parts(x, PART_INDEX[:-1])


def test_error_counts_of_a_teacher_with_known_mistakes():
    teacher = OcclusionSensitiveTeacher(CRITICAL).train()
    x, y = hq_samples(LABELS, FRAGILE)
    batches = [(x[:4], y[:4]), (x[4:7], y[4:7]), (x[7:], y[7:])]
    errors, counts = part_error_rates(teacher, batches, PART_INDEX)
    assert errors.tolist() == EXPECTED_ERRORS
    assert counts.tolist() == EXPECTED_COUNTS
    # each batch is read once and its five occluded copies run as five batches of its size, in eval mode
    assert teacher.calls == [(4, False)] * 5 + [(3, False)] * 5 + [(2, False)] * 5
    assert teacher.training


def test_part_matrix_is_the_softmax_of_the_error_rates():
    with pytest.warns(UserWarning, match=r"classes \[3\] have no HQ training sample"):
        E = part_matrix(torch.tensor(EXPECTED_ERRORS), torch.tensor(EXPECTED_COUNTS))
    e = math.exp(0.25)
    expected = [
        [1 / (3 + 2 * e), e / (3 + 2 * e), e / (3 + 2 * e), 1 / (3 + 2 * e), 1 / (3 + 2 * e)],
        [1 / (4 + math.e)] * 3 + [math.e / (4 + math.e), 1 / (4 + math.e)],
        [0.2] * 5,
        [0.2] * 5,
    ]
    assert E.dtype == torch.float32
    assert torch.allclose(E, torch.tensor(expected), rtol=1e-6)


def test_part_matrix_rejects_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and the class's sample count"):
        part_matrix(torch.tensor([[3, 0, 0, 0, 0]]), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"errors \[K, 5\] and counts \[K\]"):
        part_matrix(torch.zeros(2, 4, dtype=torch.long), torch.ones(2, dtype=torch.long))


def test_part_error_rates_rejects_labels_outside_the_model():
    x, _ = hq_samples([0, 1], [False, False])
    with pytest.raises(ValueError, match=r"batch 0: expected 2 labels in 0\.\.3"):
        part_error_rates(OcclusionSensitiveTeacher(CRITICAL), [(x, torch.tensor([0, 4]))], PART_INDEX)
    with pytest.raises(ValueError, match="got none"):
        part_error_rates(OcclusionSensitiveTeacher(CRITICAL), [], PART_INDEX)


def make_matrix() -> PartMatrix:
    x, y = hq_samples(LABELS, FRAGILE)
    names = ["wave", "kick", "nod, then bow", "unseen"]
    with pytest.warns(UserWarning):
        return PartMatrix.compute(OcclusionSensitiveTeacher(CRITICAL), [(x, y)], PART_INDEX, names)


def test_save_and_load_round_trip(tmp_path):
    matrix = make_matrix()
    assert torch.isnan(matrix.error_rate[3]).all() and matrix.error_rate[0, LEFT_ARM] == 0.25
    matrix.save(tmp_path, heatmap=False)
    assert np.array_equal(np.load(tmp_path / "part_matrix.npy"), matrix.E.numpy())
    with open(tmp_path / "part_matrix.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["class", *PARTS, *(f"error_{p}" for p in PARTS), "count"]
    assert rows[3][0] == "nod, then bow" and rows[3][1:6] == ["0.2"] * 5 and rows[3][-1] == "3"
    assert rows[1][6:] == ["0", "0.25", "0.25", "0", "0", "4"]
    assert rows[4][6:] == [""] * 5 + ["0"]
    loaded = PartMatrix.load(tmp_path)
    assert loaded.class_names == matrix.class_names
    assert torch.equal(loaded.E, matrix.E) and torch.equal(loaded.counts, matrix.counts)
    assert torch.allclose(loaded.error_rate, matrix.error_rate, equal_nan=True)


def test_load_names_the_bad_line(tmp_path):
    make_matrix().save(tmp_path, heatmap=False)
    path = tmp_path / "part_matrix.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [lines[2].rsplit(",", 1)[0] + ",two"] + lines[3:]))
    with pytest.raises(DataFormatError, match=r"part_matrix\.csv: line 3: error rates and count must be numbers"):
        PartMatrix.load(tmp_path)
    path.write_text("\n".join(lines[:-1]))
    with pytest.raises(DataFormatError, match="3 classes, but .*part_matrix.npy has 4 rows"):
        PartMatrix.load(tmp_path)


def test_save_without_matplotlib_writes_the_tables_then_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="needs matplotlib"):
        make_matrix().save(tmp_path)
    assert (tmp_path / "part_matrix.npy").exists() and (tmp_path / "part_matrix.csv").exists()
    assert not (tmp_path / "heatmap.png").exists()


def test_heatmap_png(tmp_path):
    pytest.importorskip("matplotlib")
    make_matrix().save(tmp_path)
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
