"""Budgets: loading and its errors, milestones scaled by hand, the overrides a budget gives a config."""
from __future__ import annotations

import json

import pytest

from pygkd.engine.config import ConfigError, load_config
from pygkd.experiments import available_budgets, load_budget
from pygkd.experiments.budget import budget_overrides, scale_milestones


@pytest.mark.parametrize(
    "milestones, epochs, new, expected",
    [
        ([30, 40, 50], 60, 30, [15, 20, 25]),
        ([30, 40, 50], 60, 10, [5, 7, 8]),  # 6.67 -> 7, 8.33 -> 8
        ([30, 40, 50], 60, 2, [1]),  # 1, 1.33 -> 1 (a repeat), 1.67 -> 2 = the last epoch
        ([8, 10], 12, 60, [40, 50]),
    ],
)
def test_scale_milestones(milestones, epochs, new, expected):
    assert scale_milestones(milestones, epochs, new) == expected


def test_shipped_budgets_load():
    assert {"smoke", "cpu", "paper"} <= set(available_budgets())
    for name in available_budgets():
        budget = load_budget(name)
        assert budget.seeds and all(isinstance(s, int) for s in budget.seeds)


def write(tmp_path, text):
    path = tmp_path / "b.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("seeds: [0]\nepoch: 3\n", "unknown keys \\['epoch'\\]"),
        ("seeds: []\n", "seeds: expected a non-empty list"),
        ("seeds: [0, -1]\n", "seeds: expected a non-empty list"),
        ("epochs: 0\n", "epochs: expected a positive integer"),
        ("frames: 2.5\n", "frames: expected a positive integer"),
        ("set: [teacher.epochs=3]\n", "set: expected a mapping"),
        ("- 1\n", "expected a mapping"),
        ("seeds: [0\n", "invalid YAML"),
        ("backbones: [stgcn]\n", "backbones: expected a mapping of names to backbone specs"),
        ("backbones: {ST-GCN: stgcn}\n", "backbones: expected a mapping of names to backbone specs"),
    ],
)
def test_bad_budget_names_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_budget(path)
    assert str(path) in str(err.value)


def test_unknown_budget():
    with pytest.raises(ConfigError, match="shipped budgets"):
        load_budget("no-such-budget")


def test_overrides_set_epochs_milestones_frames_then_settings(tmp_path):
    budget = load_budget(write(tmp_path, "seeds: [1, 2]\nepochs: 6\nframes: 10\nset: {teacher.batch_size: 4}\n"))
    assert budget.seeds == (1, 2) and budget.name == "b"
    cfg = load_config("demo")  # 12 epochs, milestones [8, 10], FixLength 32 in both streams
    cfg["data"]["lq"]["train_transforms"] = [{"name": "FixLength", "length": 32, "mode": "pad"}]
    overrides = budget_overrides(budget, cfg)
    assert overrides[:4] == ["teacher.epochs=6", "teacher.milestones=[4, 5]", "student.epochs=6",
                             "student.milestones=[4, 5]"]
    assert overrides[-1] == "teacher.batch_size=4"
    budgeted = load_config("demo", overrides)
    for role in ("hq", "lq"):
        assert [t["length"] for t in budgeted["data"][role]["transforms"] if t["name"] == "FixLength"] == [10]
    train = next(o for o in overrides if o.startswith("data.lq.train_transforms="))
    assert json.loads(train.partition("=")[2]) == [{"name": "FixLength", "length": 10, "mode": "uniform"}]


def test_frames_need_a_fixlength(tmp_path):
    budget = load_budget(write(tmp_path, "frames: 10\n"))
    cfg = load_config("demo", ["data.hq.transforms=[{name: Normalize, coords: 3}]"])
    with pytest.raises(ConfigError, match="data.hq.transforms has no FixLength"):
        budget_overrides(budget, cfg)
