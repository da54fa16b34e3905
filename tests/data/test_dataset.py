"""SkeletonDataset and PairDataset over a prepared store; the stratified partial-HQ mask."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.transforms import BaseTransform

from pygkd.data.dataset import PairDataset, SkeletonDataset, hq_keep_mask, validation_mask
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.skeleton_data import SkeletonData, SkeletonPair
from pygkd.data.store import PreparedDataset, prepare


class FirstFrames(BaseTransform):
    """Keep the first ``t`` frames (stands in for a fixed-length transform)."""

    def __init__(self, t: int) -> None:
        self.t = t

    def forward(self, data: SkeletonData) -> SkeletonData:
        data.x = data.x[:, : self.t]
        return data


class KeepSeventeen(BaseTransform):
    """HQ ntu25 -> a 'coco17' graph of its first 17 joints (stands in for LQ synthesis), scaled by 0.5."""

    def forward(self, data: SkeletonData) -> SkeletonData:
        keypoints = data.dense()[0][:, :, :17] * 0.5
        out = SkeletonData.from_keypoints(keypoints, "coco17", int(data.y), data.sample_id)
        out.index = data.index
        return out


def hq(i: int, t: int) -> np.ndarray:
    return np.full((1, t, 25, 3), i, np.float32) + np.arange(25, dtype=np.float32)[:, None] / 100


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    """Six samples, labels 0 1 0 1 0 1; HQ ntu25 of 4 + i frames; LQ coco17 for all but samples 1 and 4."""
    samples = []
    for i in range(6):
        streams = {"hq": hq(i, 4 + i)}
        if i not in (1, 4):
            streams["lq"] = np.full((1, 3, 17, 3), -i, np.float32)
        samples.append(RawSample(f"s{i}", i % 2, streams, ("train",) if i < 4 else ("test",)))
    raw = RawDataset(
        "toy", ["a", "b"], {"hq": StreamInfo("ntu25", ("x", "y", "z")), "lq": StreamInfo("coco17", ("x", "y", "s"))},
        lambda: iter(samples),
    )
    return PreparedDataset(prepare(raw, tmp_path_factory.mktemp("ds") / "toy", progress=False))


def test_skeleton_dataset_items(prepared: PreparedDataset) -> None:
    ds = SkeletonDataset(prepared, [3, 0], "hq")
    assert len(ds) == 2 and ds.labels.tolist() == [1, 0]
    data = ds[0]
    assert isinstance(data, SkeletonData)
    assert data.x.shape == (25, 7, 3) and data.index.tolist() == [3] and data.y.tolist() == [1]
    assert data.sample_id == "s3" and data.layout == "ntu25" and data.num_persons == 1
    torch.testing.assert_close(data.x[10, 6], torch.tensor([3.10, 3.10, 3.10]))
    assert data.edge_index.shape == (2, 48)


def test_skeleton_dataset_transform_and_path(prepared: PreparedDataset) -> None:
    ds = SkeletonDataset(prepared.root, None, "hq", FirstFrames(2))
    assert len(ds) == 6 and ds[5].x.shape == (25, 2, 3) and ds[5].index.tolist() == [5]


def test_skeleton_dataset_rejects_missing_stream_and_bad_indices(prepared: PreparedDataset) -> None:
    with pytest.raises(ValueError, match="2 of 6 samples lack the 'lq' stream, the first is #1 's1'"):
        SkeletonDataset(prepared, None, "lq")
    with pytest.raises(IndexError, match=r"0\.\.5"):
        SkeletonDataset(prepared, [0, 6], "hq")


def test_pair_dataset_pairs_and_solitary(prepared: PreparedDataset) -> None:
    mask = [True, False, True, True]
    ds = PairDataset(prepared, [0, 2, 3, 5], lq=("lq", None), hq=("hq", FirstFrames(4)), hq_mask=mask)
    assert ds.hq_layout == "ntu25" and ds.hq_shape == (4, 3)
    paired, masked = ds[0], ds[1]
    assert isinstance(paired, SkeletonPair)
    assert paired.has_hq.tolist() == [True] and masked.has_hq.tolist() == [False]
    assert paired.x_lq.shape == (17, 3, 3) and paired.x_hq.shape == (25, 4, 3)
    assert masked.x_hq.shape == (0, 4, 3) and masked.edge_index_hq.shape == (2, 0)
    assert masked.index.tolist() == [2] and masked.y.tolist() == [0] and masked.sample_id == "s2"
    assert (ds[3].x_lq == -5).all() and ds[3].x_hq[0, 0, 0] == 5


def test_pair_dataset_lq_synthesised_from_hq(prepared: PreparedDataset) -> None:
    """The store's LQ stream is not needed: samples 1 and 4 lack it, LQ comes from a transform of HQ."""
    ds = PairDataset(prepared, None, lq=("hq", KeepSeventeen()), hq=("hq", FirstFrames(4)))
    pair = ds[4]
    assert pair.has_hq.tolist() == [True] and pair.x_lq.shape == (17, 8, 3)
    torch.testing.assert_close(pair.x_lq[16, 0], torch.full((3,), 0.5 * 4.16))
    assert pair.edge_index_lq.max() == 16 and pair.part_lq.shape == (17,)


def test_pair_dataset_bad_arguments(prepared: PreparedDataset) -> None:
    with pytest.raises(ValueError, match="lack the 'lq' stream"):
        PairDataset(prepared, None, lq=("lq", None), hq=("hq", None))
    with pytest.raises(ValueError, match="none of the 2 samples has an HQ"):
        PairDataset(prepared, [0, 2], lq=("lq", None), hq=("hq", None), hq_mask=np.zeros(2, bool))
    with pytest.raises(ValueError, match=r"hq_mask must be a bool array \[2\], got int64\[3\]"):
        PairDataset(prepared, [0, 2], lq=("lq", None), hq=("hq", None), hq_mask=np.ones(3, int))


def test_hq_keep_mask_is_stratified() -> None:
    labels = np.array([0] * 10 + [1] * 5 + [2] * 3 + [3])
    keep = hq_keep_mask(labels, 0.5, seed=1)
    assert keep.dtype == bool and keep.shape == labels.shape
    assert [int(keep[labels == c].sum()) for c in range(4)] == [5, 3, 2, 1]  # 2.5 -> 3, 1.5 -> 2, 0.5 -> 1
    assert [int(hq_keep_mask(labels, 0.7, seed=1)[labels == c].sum()) for c in range(4)] == [7, 4, 2, 1]


def test_hq_keep_mask_is_reproducible_per_class() -> None:
    labels = np.repeat(np.arange(3), 20)
    a = hq_keep_mask(labels, 0.3, seed=7)
    np.testing.assert_array_equal(a, hq_keep_mask(labels, 0.3, seed=7))
    assert not np.array_equal(a, hq_keep_mask(labels, 0.3, seed=8))
    # a class's choice depends on the seed and the class only, not on the other samples
    np.testing.assert_array_equal(hq_keep_mask(labels[labels == 2], 0.3, seed=7), a[labels == 2])
    assert hq_keep_mask(labels, 1.0, seed=0).all() and not hq_keep_mask(labels, 0.0, seed=0).any()
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        hq_keep_mask(labels, 1.5, seed=0)


def test_validation_mask_holds_out_a_fraction_of_every_class() -> None:
    labels = np.array([0] * 10 + [1] * 5 + [2] * 3 + [3])
    held = validation_mask(labels, 0.5, seed=1)
    # 5; 2.5 -> 3; 1.5 -> 2; 0.5 -> 1, capped at 0 so that class 3 keeps its only training sample
    assert [int(held[labels == c].sum()) for c in range(4)] == [5, 3, 2, 0]
    # 1; 0.5 -> 1; 0.3 -> at least one; class 3 again none
    assert [int(validation_mask(labels, 0.1, seed=1)[labels == c].sum()) for c in range(4)] == [1, 1, 1, 0]
    np.testing.assert_array_equal(held, validation_mask(labels, 0.5, seed=1))
    assert not np.array_equal(held, validation_mask(labels, 0.5, seed=2))
    # a stream of its own: at the same fraction and seed it is not the HQ-kept set
    many = np.repeat(np.arange(4), 30)
    assert not np.array_equal(validation_mask(many, 0.5, seed=3), hq_keep_mask(many, 0.5, seed=3))
    assert not validation_mask(labels, 0.0, seed=0).any()
    with pytest.raises(ValueError, match=r"validation fraction must lie in \[0, 1\), got 1.0"):
        validation_mask(labels, 1.0, seed=0)
