r"""Whole batches of samples as dense tensors: the fast path between the prepared store and the network.

The per-sample path reads one sample, builds a :class:`~pygkd.data.skeleton_data.SkeletonData`, runs every
transform on it, and lets PyG collate the graphs; at the sizes of a skeleton batch (a few thousand small
tensors per epoch) the Python work of building graphs and collating them costs as much as a training step
of a small network. The dense path does the same work once per batch:

1. :func:`read_batch`: the frames of ``B`` samples from the memory-mapped store, zero-padded in time to the
   longest, as :class:`DenseBatch` ``keypoints [B, M, T, V, C]`` with each sample's ``lengths [B]``;
2. every transform's ``dense`` method (:mod:`pygkd.data.transforms`, :mod:`pygkd.data.lq_synthesis`) on the
   whole batch, with each sample's random draws still seeded by its own index;
3. :func:`graph_batch`: the PyG :class:`~torch_geometric.data.Batch` that ``Batch.from_data_list`` would
   build from the per-sample graphs (same tensors, same slices), in a handful of tensor operations.

A frame beyond a sample's length is zero, which every transform already reads as missing joints.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from ..skeleton import get_layout
from .skeleton_data import SkeletonData, person_edge_index
from .store import PreparedDataset


_SKELETON_BATCH = type(Batch(_base_cls=SkeletonData))
"""The class of PyG batches of SkeletonData (``Batch.from_data_list`` derives it on every call)."""


@dataclass(frozen=True)
class DenseBatch:
    """Samples of one layout as one tensor.

    Attributes:
        keypoints: ``[B, M, T, V, C]``; frames ``lengths[b]..T-1`` of sample ``b`` are zero padding.
        lengths: ``[B]`` int64, the frames of every sample.
        index: ``[B]`` int64, the samples' positions in their prepared dataset (the seeds of random draws).
        layout: layout name of ``V``.
    """

    keypoints: Tensor
    lengths: Tensor
    index: Tensor
    layout: str

    @classmethod
    def of(cls, data: SkeletonData) -> "DenseBatch":
        """One graph as a batch of one (``data.index`` may be unset for deterministic transforms)."""
        keypoints = data.dense()
        index = getattr(data, "index", None)
        index = torch.full((1,), -1, dtype=torch.long) if index is None else index.view(1).long()
        return cls(keypoints, torch.tensor([keypoints.size(2)]), index, data.layout)

    def with_keypoints(
        self, keypoints: Tensor, lengths: Tensor | None = None, layout: str | None = None
    ) -> "DenseBatch":
        """The same samples holding ``keypoints`` (and new ``lengths`` or ``layout`` when given)."""
        return replace(self, keypoints=keypoints, lengths=self.lengths if lengths is None else lengths,
                       layout=self.layout if layout is None else layout)

    def samples(self) -> list[Tensor]:
        """Every sample's keypoints ``[M, T_b, V, C]`` without the padding (views)."""
        return [k[:, :t] for k, t in zip(self.keypoints, self.lengths.tolist())]


def read_batch(prepared: PreparedDataset, stream: str, indices: Sequence[int] | np.ndarray) -> DenseBatch:
    """Samples ``indices`` of ``stream`` as float32, zero-padded to the longest (the store's persons axis
    ``M`` is the same for every sample). Every sample must have the stream."""
    indices = np.asarray(indices, dtype=np.int64)
    out, lengths = prepared.padded_keypoints(stream, indices)
    keypoints = torch.from_numpy(out).permute(0, 2, 1, 3, 4).contiguous()  # [B, M, T, V, C]
    return DenseBatch(keypoints, torch.from_numpy(lengths), torch.from_numpy(indices), prepared.streams[stream].layout)


def graph_batch(batch: DenseBatch, y: Sequence[int] | np.ndarray, sample_ids: Sequence[str]) -> Batch:
    """The PyG batch of the samples' :class:`SkeletonData` graphs (with ``index``), equal to
    ``Batch.from_data_list`` of them: ``x [B * M * V, T, C]``, bones, parts, ``y``, ``index``, ``batch``,
    ``ptr`` and the slices that ``Batch.get_example`` reads. Every sample must have all ``T`` frames."""
    keypoints = batch.keypoints
    b, m, t, v, c = keypoints.shape
    if bool((batch.lengths != t).any()):
        raise ValueError(
            f"samples of {sorted(set(batch.lengths.tolist()))} frames cannot be batched: give every sample the "
            "same number of frames (a FixLength transform in the data config)"
        )
    structure = _batch_structure(batch.layout, b, m)
    fields = dict(
        x=keypoints.permute(0, 1, 3, 2, 4).reshape(b * m * v, t, c),
        edge_index=structure["edge_index"].clone(),
        y=torch.as_tensor(np.asarray(y, dtype=np.int64)),
        part=structure["part"].clone(),
        num_persons=torch.full((b,), m, dtype=torch.long),
        layout=[batch.layout] * b,
        sample_id=list(sample_ids),
        index=batch.index.clone(),
        batch=structure["batch"].clone(),
        ptr=structure["ptr"].clone(),
    )
    out = type.__call__(_SKELETON_BATCH, **fields)  # Batch(_base_cls=SkeletonData, ...) without re-deriving it
    out._num_graphs = b
    out._slice_dict = dict(structure["slices"])
    out._inc_dict = dict(structure["increments"])
    return out


@functools.lru_cache(maxsize=64)
def _batch_structure(layout_name: str, b: int, m: int) -> dict:
    """The tensors of a batch of ``b`` graphs of ``m`` persons that do not depend on the keypoints."""
    layout = get_layout(layout_name)
    nodes = m * layout.num_joints
    edge_index = person_edge_index(layout, b * m)  # graph g's nodes follow graph g - 1's: B * M persons
    step = torch.arange(b + 1)
    zeros = torch.zeros(b, dtype=torch.long)
    return {
        "edge_index": edge_index,
        "part": layout.part_index().repeat(b * m),
        "batch": torch.arange(b).repeat_interleave(nodes),
        "ptr": step * nodes,
        "slices": {"x": step * nodes, "edge_index": step * (edge_index.size(1) // b), "y": step,
                   "part": step * nodes, "num_persons": step, "layout": step, "sample_id": step, "index": step},
        "increments": {"x": zeros, "edge_index": step[:-1] * nodes, "y": zeros, "part": zeros,
                       "num_persons": zeros, "layout": None, "sample_id": None, "index": zeros},
    }
