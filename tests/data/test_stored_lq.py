"""The stored synthesised LQ stream: equal to the live synthesis, written once, reused, keyed by its synthesis."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pygkd.data import stored_lq as stored_lq_module
from pygkd.data.dataset import SkeletonDataset
from pygkd.data.lq_synthesis import Degradation, SynthesizeLQ
from pygkd.data.readers import get_reader
from pygkd.data.store import PreparedDataset, prepare
from pygkd.data.stored_lq import STORED_LQ, default_folder, stored_lq


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> PreparedDataset:
    path = tmp_path_factory.mktemp("data") / "synthetic"
    return PreparedDataset(prepare(get_reader("synthetic")(None, train_per_class=2, test_per_class=1, frames=10), path,
                                   progress=False))


@pytest.fixture
def count_writes(monkeypatch):
    """How many copies :func:`stored_lq` writes."""
    calls = []
    real = stored_lq_module.prepare

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(stored_lq_module, "prepare", counted)
    return calls


def test_the_stored_stream_equals_the_live_synthesis(synthetic, tmp_path):
    synthesis = SynthesizeLQ("coco17", "severe", seed=3, source_dims=3)
    copy = stored_lq(synthetic, "hq", synthesis, tmp_path)
    assert copy.streams[STORED_LQ].layout == "coco17" and copy.streams[STORED_LQ].channels == ("x", "y", "score")
    assert copy.split_names == synthetic.split_names and (copy.labels == synthetic.labels).all()
    assert copy.sample_ids == synthetic.sample_ids
    live, read = SkeletonDataset(synthetic, None, "hq", synthesis), SkeletonDataset(copy, None, STORED_LQ)
    for i in range(len(synthetic)):
        assert torch.equal(read[i].x, live[i].x)
        assert np.array_equal(copy.keypoints("hq", i), synthetic.keypoints("hq", i))  # the other streams are kept


def test_written_once_reused_and_rewritten_when_the_synthesis_or_seed_changes(synthetic, tmp_path, count_writes):
    mild = SynthesizeLQ("coco17", "mild", seed=0, source_dims=3)
    first = stored_lq(synthetic, "hq", mild, tmp_path)
    again = stored_lq(synthetic, "hq", SynthesizeLQ("coco17", "mild", seed=0, source_dims=3), tmp_path)
    assert first.root == again.root and len(count_writes) == 1  # the second run reads the copy
    assert first.root.name.startswith("hq-coco17-mild-seed0-")
    others = [SynthesizeLQ("coco17", "mild", seed=1, source_dims=3),
              SynthesizeLQ("coco17", "severe", seed=0, source_dims=3),
              SynthesizeLQ("coco17", Degradation(jitter=0.01), seed=0, source_dims=3)]
    roots = {stored_lq(synthetic, "hq", s, tmp_path).root for s in others}
    assert len(count_writes) == 4 and len(roots | {first.root}) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r.name for r in roots | {first.root})  # no partials
    seed1 = SkeletonDataset(stored_lq(synthetic, "hq", others[0], tmp_path), None, STORED_LQ)
    assert not torch.equal(seed1[0].x, SkeletonDataset(first, None, STORED_LQ)[0].x)


def test_preparing_the_data_again_gives_a_new_copy(tmp_path, count_writes):
    reader = get_reader("synthetic")(None, train_per_class=1, test_per_class=1, frames=6)
    data = PreparedDataset(prepare(reader, tmp_path / "data", progress=False))
    synthesis = SynthesizeLQ("coco17", "mild", seed=0, source_dims=3)
    first = stored_lq(data, "hq", synthesis)
    assert first.root.parent == default_folder(data) == tmp_path / "data.lq"
    data.manifest["created"] = "2000-01-01T00:00:00+00:00"  # as if prepared again
    assert stored_lq(data, "hq", synthesis).root != first.root and len(count_writes) == 2
