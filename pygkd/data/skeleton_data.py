"""PyG data objects for skeleton sequences.

:class:`SkeletonData` is one sequence as one graph: the nodes are the ``V`` joints of each of ``M``
persons (node ``m * V + v``), every node carries its own time series ``[T, C]``, the edges are the layout's
bones (within each person), and ``part`` gives every node its body part. Batching with PyG's
``DataLoader`` concatenates nodes, so ``Batch.x`` is ``[B * M * V, T, C]`` and :func:`to_dense` turns it
back into the ``[B, M, T, V, C]`` tensor the backbones read, without copying more than one transpose.

:class:`SkeletonPair` holds the LQ graph and, when the instance has one, the HQ graph of the same action
instance; the two have their own layouts (separate graph types: different ``V``, bones and channels).
A solitary LQ sample carries an empty HQ graph (0 nodes), so paired and solitary samples batch side by
side; ``has_hq`` says which samples of a batch own the HQ graphs in ``x_hq`` (in batch order).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from ..skeleton import Layout, get_layout


def person_edge_index(layout: Layout, num_persons: int) -> Tensor:
    """The layout's bones repeated for each person, node ``m * V + v``: ``[2, M * 2 * len(bones)]``."""
    e = layout.edge_index()
    offsets = torch.arange(num_persons, dtype=torch.long).repeat_interleave(e.size(1)) * layout.num_joints
    return e.repeat(1, num_persons) + offsets


def nodes_from_keypoints(keypoints: np.ndarray | Tensor) -> Tensor:
    """``[M, T, V, C]`` keypoints -> ``[M * V, T, C]`` node time series (float32)."""
    k = torch.as_tensor(np.ascontiguousarray(keypoints) if isinstance(keypoints, np.ndarray) else keypoints)
    m, t, v, c = k.shape
    return k.float().permute(0, 2, 1, 3).reshape(m * v, t, c)


def graph_fields(keypoints: np.ndarray | Tensor, layout: Layout) -> tuple[Tensor, Tensor, Tensor]:
    """Node series ``[M * V, T, C]``, bones ``[2, E]`` and part index ``[M * V]`` of ``[M, T, V, C]`` keypoints."""
    x = nodes_from_keypoints(keypoints)
    m = x.size(0) // layout.num_joints
    return x, person_edge_index(layout, m), layout.part_index().repeat(m)


def to_dense(x: Tensor, num_persons: int, num_joints: int) -> Tensor:
    """Batched node features ``[B * M * V, T, C]`` -> ``[B, M, T, V, C]``."""
    n, t, c = x.shape
    b = n // (num_persons * num_joints)
    if b * num_persons * num_joints != n:
        raise ValueError(f"{n} nodes are not a whole number of graphs of {num_persons} x {num_joints} joints")
    return x.view(b, num_persons, num_joints, t, c).transpose(2, 3)


class SkeletonData(Data):
    """One skeleton sequence as a graph (see module docstring).

    Attributes:
        x: ``[M * V, T, C]`` node time series.
        edge_index: ``[2, E]`` bones of every person.
        part: ``[M * V]`` body part (0..4) of every node.
        y: ``[1]`` class label.
        num_persons, layout, sample_id: plain attributes (collated into lists).
    """

    @classmethod
    def from_keypoints(
        cls, keypoints: np.ndarray | Tensor, layout: str | Layout, y: int, sample_id: str = ""
    ) -> "SkeletonData":
        layout = get_layout(layout)
        x, edge_index, part = graph_fields(keypoints, layout)
        return cls(
            x=x,
            edge_index=edge_index,
            part=part,
            y=torch.tensor([int(y)], dtype=torch.long),
            num_persons=x.size(0) // layout.num_joints,
            layout=layout.name,
            sample_id=sample_id,
        )

    def __inc__(self, key: str, value: Any, *args, **kwargs) -> Any:
        if key == "index":  # a sample position, not a node index: PyG would add the node count
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    @property
    def num_nodes(self) -> int:  # x is [nodes, T, C]; PyG would guess right, but say it plainly
        return self.x.size(0) if self.x is not None else 0

    def dense(self) -> Tensor:
        """This graph's keypoints ``[1, M, T, V, C]`` (also works on a :class:`Batch` of one layout)."""
        v = get_layout(self.layout if isinstance(self.layout, str) else self.layout[0]).num_joints
        m = self.num_persons if isinstance(self.num_persons, int) else int(self.num_persons[0])
        return to_dense(self.x, m, v)


class SkeletonPair(Data):
    """The LQ graph of one action instance and, when it exists, its HQ graph (see module docstring).

    Attributes (``_lq`` and ``_hq`` suffixes, one set per graph type):
        x_lq, edge_index_lq, part_lq: the LQ graph (always present).
        x_hq, edge_index_hq, part_hq: the HQ graph, or an empty graph (0 nodes) for a solitary sample.
        has_hq: ``[1]`` bool.
        y: ``[1]`` class label.
        index: ``[1]`` position of the sample in its dataset (keys the teacher-feature cache).
    """

    def __inc__(self, key: str, value: Any, *args, **kwargs) -> Any:
        if key == "edge_index_lq":
            return self.x_lq.size(0)
        if key == "edge_index_hq":
            return self.x_hq.size(0)
        if key == "index":  # a sample position, not a node index: PyG would add the node count
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    @property
    def num_nodes(self) -> int:
        return self.x_lq.size(0) + self.x_hq.size(0)

    @classmethod
    def from_keypoints(
        cls,
        lq: np.ndarray | Tensor,
        lq_layout: str | Layout,
        hq: np.ndarray | Tensor | None,
        hq_layout: str | Layout,
        y: int,
        index: int = 0,
        sample_id: str = "",
        hq_shape: tuple[int, int] | None = None,
    ) -> "SkeletonPair":
        """Build a pair; ``hq=None`` makes a solitary sample whose empty HQ graph has frames and channels
        ``hq_shape = (T, C)`` so that it concatenates with the paired samples of its batch."""
        lq_layout, hq_layout = get_layout(lq_layout), get_layout(hq_layout)
        x_lq, edge_index_lq, part_lq = graph_fields(lq, lq_layout)
        has_hq = hq is not None
        if not has_hq:
            if hq_shape is None:
                raise ValueError("a solitary sample needs hq_shape=(T, C) of the HQ stream")
            hq = torch.zeros(0, hq_shape[0], hq_layout.num_joints, hq_shape[1])  # no person: [0, T, V, C]
        x_hq, edge_index_hq, part_hq = graph_fields(hq, hq_layout)
        return cls(
            x_lq=x_lq,
            edge_index_lq=edge_index_lq,
            part_lq=part_lq,
            x_hq=x_hq,
            edge_index_hq=edge_index_hq,
            part_hq=part_hq,
            has_hq=torch.tensor([has_hq]),
            y=torch.tensor([int(y)], dtype=torch.long),
            index=torch.tensor([int(index)], dtype=torch.long),
            sample_id=sample_id,
        )
