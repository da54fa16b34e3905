"""The dense fast path: every transform's ``dense`` method equals its per-sample ``forward`` on the same
seeds (values, bit for bit), and a dense batch equals PyG's collation of the per-sample graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.transforms import BaseTransform, Compose

from pygkd.data.dataset import SkeletonDataset, dense_steps
from pygkd.data.dense import DenseBatch, graph_batch, read_batch
from pygkd.data.lq_synthesis import SEVERITIES, SynthesizeLQ
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.skeleton_data import SkeletonData
from pygkd.data.store import PreparedDataset, prepare
from pygkd.data.transforms import FixLength, KeepPersons, Normalize, OccludeJoints, OccludeParts, keypoints_of
from pygkd.skeleton import get_layout


def penn_like(rng: np.random.Generator, m: int, t: int) -> np.ndarray:
    """Penn Action-shaped keypoints ``[M, T, 13, 3]``: pixel (x, y) of a moving person and a visibility flag,
    about 10 % of the joint-frames missing (all channels zero), person 1 entering late."""
    centre = rng.uniform(100, 500, (m, 1, 1, 2)) + np.cumsum(rng.normal(0, 3, (m, t, 1, 2)), axis=1)
    xy = centre + rng.normal(0, 40, (m, t, 13, 2))
    k = np.concatenate([xy, np.ones((m, t, 13, 1))], -1)
    k[rng.random((m, t, 13)) < 0.1] = 0
    if m > 1:
        k[1, : t // 3] = 0
    return k.astype(np.float32)


def ntu_like(rng: np.random.Generator, m: int, t: int) -> np.ndarray:
    """NTU-shaped 3D keypoints ``[M, T, 25, 3]`` in metres, 3 m in front of the camera; person 1 absent."""
    k = rng.normal(0, 0.3, (m, t, 25, 3)) + np.array([0.0, 0.0, 3.0])
    if m > 1:
        k[1] = 0
    return k.astype(np.float32)


def graphs(keypoints: list[np.ndarray], layout: str, first_index: int = 3) -> list[SkeletonData]:
    out = []
    for i, k in enumerate(keypoints):
        data = SkeletonData.from_keypoints(torch.from_numpy(k), layout, i % 3, f"s{i}")
        data.index = torch.tensor([first_index + 7 * i])
        out.append(data)
    return out


def dense_of(samples: list[SkeletonData]) -> DenseBatch:
    """The samples zero-padded in time to the longest, as one batch (what read_batch gives)."""
    keypoints = [keypoints_of(d) for d in samples]
    padded = torch.zeros(len(samples), keypoints[0].size(0), max(k.size(1) for k in keypoints), *keypoints[0].shape[2:])
    for row, k in enumerate(keypoints):
        padded[row, :, : k.size(1)] = k
    return DenseBatch(padded, torch.tensor([k.size(1) for k in keypoints]),
                      torch.cat([d.index for d in samples]), samples[0].layout)


def assert_same(transform: BaseTransform, samples: list[SkeletonData], bitwise: bool = True) -> None:
    """``transform.dense`` of the padded batch equals ``transform`` of every sample, bit for bit (or to
    float32 rounding: the sums of Normalize add a padded sample's values in another order)."""
    out = transform.dense(dense_of(samples))
    for row, data in enumerate(samples):
        expected = transform(data)
        assert out.layout == expected.layout
        got = out.keypoints[row, :, : int(out.lengths[row])]
        if bitwise:
            assert torch.equal(got, keypoints_of(expected)), (transform, row)
        else:
            torch.testing.assert_close(got, keypoints_of(expected), rtol=1e-6, atol=1e-6)
        assert not out.keypoints[row, :, int(out.lengths[row]):].any()  # padding stays zero


rng = np.random.default_rng(0)
PENN = graphs([penn_like(rng, 2, t) for t in (37, 151, 18, 96)], "penn13")
NTU = graphs([ntu_like(rng, 2, t) for t in (40, 12, 75)], "ntu25")


@pytest.mark.parametrize("transform", [
    FixLength(24, mode="uniform"), FixLength(24, mode="uniform", training=True, seed=5),
    FixLength(64, mode="pad"), FixLength(300, mode="pad"), FixLength(200, mode="uniform"),
], ids=repr)
def test_fix_length(transform):
    assert_same(transform, PENN)


@pytest.mark.parametrize("transform", [KeepPersons(1), KeepPersons(2), KeepPersons(3)], ids=repr)
def test_keep_persons(transform):
    assert_same(transform, PENN)
    assert_same(transform, NTU)


@pytest.mark.parametrize("scale", [True, False])
def test_normalize(scale):
    """Bit for bit after a FixLength (as in every config: all samples of the batch have its frames)."""
    for samples, coords in ((PENN, 2), (NTU, 3)):
        fixed = [FixLength(30, mode="uniform")(d) for d in samples]
        assert_same(Normalize(coords, scale), fixed)
        assert_same(Normalize(coords, scale), samples, bitwise=False)  # padded in time: to rounding


def test_normalize_without_centre_joint_and_of_an_empty_sample():
    k = penn_like(np.random.default_rng(1), 1, 20)
    no_centre = k.copy()
    no_centre[..., get_layout("penn13").center, :] = 0
    empty = np.zeros_like(k)
    one_joint = np.zeros_like(k)
    one_joint[0, 3, 5] = [10.0, 20.0, 1.0]  # no bone with both ends seen: centred, not scaled
    assert_same(Normalize(2), graphs([no_centre, empty, one_joint, k], "penn13"))
    one_joint_out = keypoints_of(Normalize(2)(graphs([one_joint], "penn13")[0]))
    assert one_joint_out[0, 3, 5].tolist() == [0.0, 0.0, 1.0] and not one_joint_out[..., :2].any()


@pytest.mark.parametrize("protocol", OccludeJoints.PROTOCOLS)
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_occlude_joints(p, protocol):
    """Samples of different lengths: each draws over its own frames, as alone."""
    transform = OccludeJoints(p, seed=2, protocol=protocol, span_length=4)
    transform.set_epoch(2)
    assert_same(transform, PENN)
    assert_same(transform, NTU)


@pytest.mark.parametrize("severity", list(SEVERITIES))
def test_synthesize_lq_each_severity(severity):
    assert_same(SynthesizeLQ("coco17", severity, seed=4, source_dims=2), PENN[:3])
    assert_same(SynthesizeLQ("coco17", severity, seed=4, source_dims=3), NTU[:2])


def test_the_paper_chain_end_to_end():
    chain = [SynthesizeLQ("coco17", "mild", seed=1, source_dims=2), KeepPersons(1), FixLength(24, mode="uniform"),
             Normalize(2), OccludeJoints(0.4, seed=1)]
    batch = dense_of(PENN)
    for step in chain:
        batch = step.dense(batch)
    compose = Compose(chain)
    for row, data in enumerate(PENN):
        assert torch.equal(batch.keypoints[row], keypoints_of(compose(data)))


def test_graph_batch_equals_pyg_collation():
    samples = [Compose([KeepPersons(2), FixLength(16, mode="uniform")])(d) for d in PENN]
    ours = graph_batch(FixLength(16, mode="uniform").dense(dense_of(PENN)), [d.y.item() for d in samples],
                       [d.sample_id for d in samples])
    pyg = Batch.from_data_list(samples)
    assert type(ours) is type(pyg) and ours.num_graphs == pyg.num_graphs == 4
    assert sorted(ours.keys()) == sorted(pyg.keys())
    for key in pyg.keys():
        if torch.is_tensor(pyg[key]):
            assert torch.equal(ours[key], pyg[key]), key
        else:
            assert ours[key] == pyg[key], key
    for table in ("_slice_dict", "_inc_dict"):
        mine, theirs = getattr(ours, table), getattr(pyg, table)
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert (value is None and mine[key] is None) or torch.equal(mine[key], value), (table, key)
    example = ours.get_example(2)
    assert torch.equal(example.edge_index, samples[2].edge_index) and torch.equal(example.x, samples[2].x)


def test_graph_batch_needs_one_length():
    with pytest.raises(ValueError, match=r"samples of \[18, 37, 96, 151\] frames cannot be batched"):
        graph_batch(dense_of(PENN), [0] * 4, ["a"] * 4)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> PreparedDataset:
    """Penn-shaped samples of different lengths; sample 2 lacks the lq stream."""
    rng = np.random.default_rng(3)
    samples = []
    for i, t in enumerate((30, 81, 12, 55, 40)):
        streams = {"hq": penn_like(rng, 2, t)}
        if i != 2:
            streams["lq"] = penn_like(rng, 1, t)[..., :13, :]
        samples.append(RawSample(f"s{i}", i % 2, streams, ("train",)))
    info = StreamInfo("penn13", ("x", "y", "visible"))
    raw = RawDataset("penn-like", ["a", "b"], {"hq": info, "lq": info}, lambda: iter(samples))
    return PreparedDataset(prepare(raw, tmp_path_factory.mktemp("dense") / "penn", progress=False))


def test_read_batch_pads_in_time_and_names_a_missing_sample(prepared):
    batch = read_batch(prepared, "hq", [3, 1])
    assert batch.keypoints.shape == (2, 2, 81, 13, 3) and batch.lengths.tolist() == [55, 81]
    assert batch.index.tolist() == [3, 1] and batch.layout == "penn13"
    assert torch.equal(batch.keypoints[0, :, :55], torch.from_numpy(prepared.keypoints("hq", 3)))
    assert not batch.keypoints[0, :, 55:].any()
    with pytest.raises(KeyError, match=r"sample #2 's2' has no 'lq' stream"):
        read_batch(prepared, "lq", [0, 2])


class Mirror(BaseTransform):
    """A transform without a dense method: x -> -x."""

    def forward(self, data):
        data.x = -data.x
        return data


@pytest.mark.parametrize("steps", [
    [KeepPersons(1), FixLength(20, mode="uniform", training=True, seed=1), Normalize(2), OccludeJoints(0.3)],
    [FixLength(50, mode="pad"), Mirror()],  # no dense method: collated from the per-sample graphs
    [FixLength(50, mode="pad"), OccludeParts(["head"])],
])
def test_dataset_batch_equals_the_collated_samples(prepared, steps):
    dataset = SkeletonDataset(prepared, [4, 0, 3, 1], "hq", Compose(steps))
    assert (dense_steps(dataset.transform) is None) == any(not hasattr(s, "dense") for s in steps)
    ours, pyg = dataset.batch([2, 0, 3]), Batch.from_data_list([dataset[k] for k in (2, 0, 3)])
    for key in ("x", "edge_index", "part", "y", "index", "batch", "ptr"):
        assert torch.equal(ours[key], pyg[key]), key
    assert ours.sample_id == pyg.sample_id == ["s3", "s4", "s1"]


def test_engine_loaders_read_whole_batches_also_in_workers(prepared):
    from pygkd.engine.build import eval_loader, train_loader
    from pygkd.engine.samplers import RandomBatchSampler

    dataset = SkeletonDataset(prepared, [4, 0, 3, 1], "hq", Compose([KeepPersons(1), FixLength(10, mode="uniform")]))
    expected = [dataset.batch(ks) for ks in RandomBatchSampler(4, 3, seed=2)]
    for workers in (0, 1):
        batches = list(train_loader(dataset, RandomBatchSampler(4, 3, seed=2), workers))
        assert [b.num_graphs for b in batches] == [3, 1]
        for got, want in zip(batches, expected):
            assert torch.equal(got.x, want.x) and torch.equal(got.index, want.index)
    in_order = list(eval_loader(dataset, 3, 0))
    assert torch.cat([b.index for b in in_order]).tolist() == [4, 0, 3, 1]


def test_training_loaders_redraw_per_epoch_also_in_persistent_workers(prepared):
    """The epoch reaches the transform in the loader's (persistent) worker processes: set between epochs, it
    gives the batches that the main process draws at that epoch."""
    from pygkd.engine.build import train_loader
    from pygkd.engine.samplers import RandomBatchSampler

    chain = Compose([KeepPersons(1), FixLength(10, mode="uniform"), OccludeJoints(0.5, seed=1, protocol="clip_redraw")])
    dataset = SkeletonDataset(prepared, [4, 0, 3, 1], "hq", chain)
    expected = {}
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        expected[epoch] = [dataset.batch(ks).x for ks in RandomBatchSampler(4, 4, seed=2)]
    assert not torch.equal(expected[1][0], expected[2][0])
    for workers in (0, 1):
        loader = train_loader(dataset, RandomBatchSampler(4, 4, seed=2), workers)
        for epoch in (2, 0, 1):
            loader.dataset.set_epoch(epoch)
            assert all(torch.equal(got.x, want) for got, want in zip(loader, expected[epoch])), (workers, epoch)
