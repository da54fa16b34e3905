"""A tiny run config on a tiny synthetic dataset (prepared once per session) for the engine tests."""
from __future__ import annotations

import pytest

from pygkd.data.readers import get_reader
from pygkd.data.store import prepare
from pygkd.engine.config import load_config

TINY = [
    "device=cpu",
    "data.hq.transforms=[{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 3}]",
    "data.lq.transforms=[{name: FixLength, length: 8, mode: uniform}, {name: Normalize, coords: 2}]",
    "model.teacher={backbone: stgcn, channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}",
    "model.student={backbone: stgcn, channels: [8, 8, 16], strides: [1, 2, 1], temporal_kernel: 3}",
    "teacher.epochs=2", "teacher.batch_size=8", "teacher.milestones=[1]",
    "student.epochs=2", "student.batch_size=8", "student.milestones=[1]", "student.samples_per_class=2",
    "eval.batch_size=16", "matrix.batch_size=16",
]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The synthetic classes x (4 train + 2 test) samples of 12 frames, prepared."""
    path = tmp_path_factory.mktemp("data") / "synthetic"
    prepare(get_reader("synthetic")(None, train_per_class=4, test_per_class=2, frames=12), path, progress=False)
    return path


@pytest.fixture
def tiny_config(tiny_data, tmp_path):
    """``make(*overrides)`` -> a validated config of the tiny run in ``tmp_path/run``."""

    def make(*overrides: str) -> dict:
        return load_config("base", [*TINY, f"data.prepared={tiny_data}", f"out={tmp_path / 'run'}", *overrides])

    return make


@pytest.fixture
def tiny_overrides(tiny_data):
    """The tiny run's ``key=value`` overrides of ``base`` (without ``out``), e.g. for ``--set`` on a command line."""
    return [*TINY, f"data.prepared={tiny_data}"]
