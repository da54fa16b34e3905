"""Grid data: per-class slices, and the stored synthesised LQ stream equals the transform's output."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pygkd.data.dataset import SkeletonDataset
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.readers import get_reader
from pygkd.data.store import PreparedDataset, prepare
from pygkd.engine.build import stream_transform
from pygkd.engine.config import load_config
from pygkd.experiments.data import first_per_class, prepare_grid_data, synthesis_spec, with_stored_lq

SYNTH = {"name": "SynthesizeLQ", "target": "coco17", "severity": "severe", "source_dims": 3}
TAIL = [{"name": "FixLength", "length": 8, "mode": "uniform"}, {"name": "Normalize", "coords": 2}]


def fake_raw(labels_splits):
    def samples():
        for i, (label, split) in enumerate(labels_splits):
            yield RawSample(f"s{i}", label, {"hq": np.zeros((1, 2, 25, 3), np.float32)}, (split,))

    return RawDataset("fake", ["a", "b"], {"hq": StreamInfo("ntu25", ("x", "y", "z"))}, samples)


def test_first_per_class_keeps_reading_order_per_split():
    spec = [(0, "train"), (0, "train"), (1, "train"), (0, "train"), (0, "test"), (1, "test"), (1, "val")]
    sliced = first_per_class(fake_raw(spec), 2, ("train", "test"))
    assert [s.sample_id for s in sliced.samples()] == ["s0", "s1", "s2", "s4", "s5"]
    assert [s.sample_id for s in first_per_class(fake_raw(spec), 1, ("train",)).samples()] == ["s0", "s2"]
    assert "first 2 samples per class" in sliced.notes["slice"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synthetic"
    return prepare(get_reader("synthetic")(None, train_per_class=2, test_per_class=1, frames=10), path, progress=False)


def config(prepared, lq_transforms, train_transforms=None):
    lq = {"stream": "hq", "transforms": lq_transforms, "train_transforms": train_transforms}
    return load_config("demo", [f"data.prepared={prepared}", "seed=3", f"data.lq={json.dumps(lq)}"])


def test_synthesis_spec():
    assert synthesis_spec({"data": {"lq": {"transforms": [SYNTH, *TAIL], "train_transforms": None}}}) == SYNTH
    assert synthesis_spec({"data": {"lq": {"transforms": TAIL, "train_transforms": None}}}) is None
    assert synthesis_spec({"data": {"lq": {"transforms": [*TAIL, SYNTH], "train_transforms": None}}}) is None
    mild = {**SYNTH, "severity": "mild"}
    assert synthesis_spec({"data": {"lq": {"transforms": [SYNTH], "train_transforms": [mild]}}}) is None


def test_stored_lq_equals_the_transform(synthetic, tmp_path):
    cfg = config(synthetic, [SYNTH, *TAIL], [SYNTH, *TAIL, {"name": "OccludeJoints", "p": 0.5}])
    stored = with_stored_lq(cfg, tmp_path)
    assert stored["data"]["lq"] == {"stream": "lq", "transforms": TAIL,
                                    "train_transforms": [*TAIL, {"name": "OccludeJoints", "p": 0.5}]}
    assert cfg["data"]["lq"]["stream"] == "hq"  # the given config is not changed
    copy = PreparedDataset(stored["data"]["prepared"])
    assert copy.streams["lq"].layout == "coco17" and copy.streams["lq"].channels == ("x", "y", "score")
    original = PreparedDataset(synthetic)
    assert copy.split_names == original.split_names and (copy.labels == original.labels).all()
    for train in (False, True):
        live = SkeletonDataset(original, None, "hq", stream_transform(cfg, "lq", train))
        read = SkeletonDataset(copy, None, "lq", stream_transform(stored, "lq", train))
        for i in range(len(original)):
            torch.testing.assert_close(read[i].x, live[i].x)
    assert with_stored_lq(cfg, tmp_path)["data"]["prepared"] == stored["data"]["prepared"]  # written once


def test_no_synthesis_no_copy(synthetic, tmp_path):
    cfg = config(synthetic, TAIL)
    assert with_stored_lq(cfg, tmp_path) == cfg and not any(tmp_path.iterdir())


def test_prepare_grid_data_slices_from_the_reader(tmp_path):
    cfg = load_config("demo", ["data.reader_options={train_per_class: 3, test_per_class: 2, frames: 8}"])
    path = prepare_grid_data(cfg, tmp_path / "data", per_class=1)
    prepared = PreparedDataset(path)
    assert len(prepared.split("train")) == len(prepared.class_names) == len(prepared.split("test"))
    assert prepare_grid_data(cfg, tmp_path / "data", per_class=1) == path  # prepared once
    given = load_config("demo", [f"data.prepared={path}"])
    assert prepare_grid_data(given, tmp_path / "other", per_class=None) == path
