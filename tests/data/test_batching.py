"""Batching SkeletonData and mixed paired/solitary SkeletonPair through PyG's DataLoader, checked by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from pygkd.data.dataset import PairDataset, SkeletonDataset
from pygkd.data.raw import RawDataset, RawSample, StreamInfo
from pygkd.data.skeleton_data import SkeletonData, SkeletonPair, person_edge_index, to_dense
from pygkd.data.store import prepare
from pygkd.skeleton import get_layout

COCO, NTU = get_layout("coco17"), get_layout("ntu25")
T = 2


def encoded(sample: int, persons: int, joints: int) -> np.ndarray:
    """[M, T, V, 3] whose entry (m, t, v, c) is 10000 sample + 1000 m + 100 t + v + c / 10."""
    m, t, v, c = np.meshgrid(np.arange(persons), np.arange(T), np.arange(joints), np.arange(3), indexing="ij")
    return (10_000 * sample + 1000 * m + 100 * t + v + c / 10).astype(np.float32)


def mixed_pairs() -> list[SkeletonPair]:
    """Sample 0 paired, 1 solitary, 2 paired: LQ coco17 one person, HQ ntu25 two persons."""
    pairs = []
    for s, (index, paired) in enumerate([(7, True), (3, False), (9, True)]):
        pairs.append(
            SkeletonPair.from_keypoints(
                encoded(s, 1, 17), "coco17", encoded(s, 2, 25) if paired else None, "ntu25",
                y=s, index=index, sample_id=f"s{s}", hq_shape=(T, 3),
            )
        )
    return pairs


def test_mixed_pair_batch_offsets_each_graph_type_by_its_own_nodes() -> None:
    batch = next(iter(DataLoader(mixed_pairs(), batch_size=3, follow_batch=["x_lq", "x_hq"])))
    assert batch.x_lq.shape == (3 * 17, T, 3) and batch.x_hq.shape == (2 * 50, T, 3)
    lq_bones = person_edge_index(COCO, 1)
    e = lq_bones.size(1)
    assert batch.edge_index_lq.shape == (2, 3 * e)
    for k in range(3):  # LQ graph k starts at node 17 k
        torch.testing.assert_close(batch.edge_index_lq[:, k * e : (k + 1) * e], lq_bones + 17 * k)
    hq_bones = person_edge_index(NTU, 2)
    h = hq_bones.size(1)
    assert h == 2 * 2 * 24 and batch.edge_index_hq.shape == (2, 2 * h)
    torch.testing.assert_close(batch.edge_index_hq[:, :h], hq_bones)
    torch.testing.assert_close(batch.edge_index_hq[:, h:], hq_bones + 50)  # after 50 HQ nodes, not 50 + 34 LQ ones
    assert batch.edge_index_hq.max() == 99


def test_mixed_pair_batch_per_sample_fields() -> None:
    batch = next(iter(DataLoader(mixed_pairs(), batch_size=3, follow_batch=["x_lq", "x_hq"])))
    assert batch.has_hq.tolist() == [True, False, True]
    assert batch.index.tolist() == [7, 3, 9]  # sample positions, not shifted by node counts
    assert batch.y.tolist() == [0, 1, 2] and batch.sample_id == ["s0", "s1", "s2"]
    assert batch.x_lq_batch.tolist() == [0] * 17 + [1] * 17 + [2] * 17
    assert batch.x_hq_batch.tolist() == [0] * 50 + [2] * 50  # HQ nodes belong to the paired samples only
    torch.testing.assert_close(batch.part_hq, NTU.part_index().repeat(4))
    # node 50 + 25 + 3 = sample 2, person 1, joint 3; frame 1, channel 2
    assert batch.x_hq[78, 1, 2].item() == np.float32(20_000 + 1000 + 100 + 3 + 0.2)
    assert batch.x_lq[34 + 16, 0, 1].item() == np.float32(20_000 + 16 + 0.1)


def test_mixed_pair_batch_to_dense_round_trip() -> None:
    batch = next(iter(DataLoader(mixed_pairs(), batch_size=3)))
    lq = to_dense(batch.x_lq, 1, 17)
    hq = to_dense(batch.x_hq, 2, 25)
    assert lq.shape == (3, 1, T, 17, 3) and hq.shape == (2, 2, T, 25, 3)
    torch.testing.assert_close(lq, torch.from_numpy(np.stack([encoded(s, 1, 17) for s in range(3)])))
    torch.testing.assert_close(hq, torch.from_numpy(np.stack([encoded(0, 2, 25), encoded(2, 2, 25)])))


def test_all_solitary_batch_has_empty_hq() -> None:
    pairs = [p for p in mixed_pairs() if not p.has_hq]
    batch = next(iter(DataLoader(pairs * 2, batch_size=2)))
    assert batch.x_hq.shape == (0, T, 3) and batch.edge_index_hq.shape == (2, 0)
    assert batch.has_hq.tolist() == [False, False] and batch.edge_index_lq.max() == 33


def test_skeleton_data_batch() -> None:
    graphs = []
    for s in range(3):
        data = SkeletonData.from_keypoints(encoded(s, 2, 25), "ntu25", y=s, sample_id=f"s{s}")
        data.index = torch.tensor([10 + s])
        graphs.append(data)
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    bones = person_edge_index(NTU, 2)
    torch.testing.assert_close(batch.edge_index[:, -bones.size(1) :], bones + 100)
    assert batch.index.tolist() == [10, 11, 12] and batch.y.tolist() == [0, 1, 2]
    assert batch.layout == ["ntu25"] * 3 and batch.num_persons.tolist() == [2, 2, 2]
    torch.testing.assert_close(batch.dense(), torch.from_numpy(np.stack([encoded(s, 2, 25) for s in range(3)])))


def test_store_to_loader(tmp_path: Path) -> None:
    """Prepared store -> PairDataset (sample 1 lacks HQ, sample 2 masked) -> DataLoader."""
    samples = [
        RawSample(f"s{s}", s % 2, {"lq": encoded(s, 1, 17), **({"hq": encoded(s, 2, 25)} if s != 1 else {})})
        for s in range(4)
    ]
    raw = RawDataset(
        "toy", ["a", "b"], {"hq": StreamInfo("ntu25", ("x", "y", "z")), "lq": StreamInfo("coco17", ("x", "y", "s"))},
        lambda: iter(samples),
    )
    prepared = prepare(raw, tmp_path / "toy", progress=False)
    pairs = PairDataset(prepared, [3, 2, 1, 0], lq=("lq", None), hq=("hq", None), hq_mask=[True, False, True, True])
    batch = next(iter(DataLoader(pairs, batch_size=4)))
    assert batch.index.tolist() == [3, 2, 1, 0] and batch.has_hq.tolist() == [True, False, False, True]
    torch.testing.assert_close(
        to_dense(batch.x_hq, 2, 25), torch.from_numpy(np.stack([encoded(3, 2, 25), encoded(0, 2, 25)]))
    )
    teacher = next(iter(DataLoader(SkeletonDataset(prepared, [0, 2], "hq"), batch_size=2)))
    assert teacher.index.tolist() == [0, 2] and teacher.x.shape == (100, T, 3)
