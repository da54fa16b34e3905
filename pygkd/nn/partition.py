"""Adjacency partitions of a skeleton layout, as the spatial layers read them.

ST-GCN (Yan et al., AAAI 2018, Sec. 3.3 "spatial configuration partitioning") splits the closed
neighbourhood of every *root* joint ``i`` by distance to the layout's centre joint, ``d(.)`` in bones:

* ``0`` root: ``i`` itself and neighbours as far from the centre as ``i``;
* ``1`` centripetal: neighbours ``j`` closer to the centre, ``d(j) < d(i)``;
* ``2`` centrifugal: neighbours ``j`` farther from the centre, ``d(j) > d(i)``.

Each message is divided by the size of the root's closed neighbourhood ``|N(i)| + 1`` (ST-GCN's
``normalize_digraph``: every column of the summed partitions sums to one).

2s-AGCN (Shi et al., CVPR 2019) instead uses self-loops, inward bones (towards the centre) and outward
bones, each normalised by the in-degree of the partition on its own.

ST-GCN's *distance* partitioning, which EfficientGCN (Song et al., TPAMI 2022) uses with ``max_hop = 2``,
splits the joints within ``max_hop`` bones of the root by their hop distance ``0, 1, ..., max_hop``, each
message divided by the number of joints within ``max_hop`` bones of the root.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..skeleton import Layout

SPATIAL_PARTITIONS: tuple[str, ...] = ("root", "centripetal", "centrifugal")
DIRECTED_PARTITIONS: tuple[str, ...] = ("self", "inward", "outward")
STRATEGIES: tuple[str, ...] = ("spatial", "distance")


def _neighbours(layout: Layout) -> Tensor:
    """``[V, V]`` bool, ``True`` where ``j`` and ``i`` share a bone."""
    v = layout.num_joints
    adj = torch.zeros(v, v, dtype=torch.bool)
    edge_index = layout.edge_index()
    adj[edge_index[0], edge_index[1]] = True
    return adj


def spatial_partitions(layout: Layout) -> Tensor:
    """ST-GCN spatial-configuration partitions, ``[3, V, V]`` float32.

    ``A[k, j, i]`` weighs the message from joint ``j`` to root joint ``i`` in partition ``k``
    (order of :data:`SPATIAL_PARTITIONS`); ``A.sum(0)`` has columns that sum to one.
    """
    v = layout.num_joints
    closed = _neighbours(layout) | torch.eye(v, dtype=torch.bool)
    depth = layout.hop_distance()[:, layout.center]
    d_src, d_dst = depth.view(v, 1), depth.view(1, v)  # d(j) along rows, d(i) along columns
    masks = torch.stack([closed & (d_src == d_dst), closed & (d_src < d_dst), closed & (d_src > d_dst)])
    degree = closed.sum(0).float()  # |N(i)| + 1
    return masks.float() / degree


def directed_partitions(layout: Layout) -> Tensor:
    """2s-AGCN self / inward / outward partitions, ``[3, V, V]`` float32, ``A[k, j, i]`` as above.

    A bone is *inward* from ``j`` to ``i`` when ``d(i) < d(j)``; bones between joints equally far from the
    centre go both ways in both partitions. Each partition is normalised by its own in-degree of ``i``.
    """
    v = layout.num_joints
    bone = _neighbours(layout)
    depth = layout.hop_distance()[:, layout.center]
    d_src, d_dst = depth.view(v, 1), depth.view(1, v)
    masks = torch.stack([torch.eye(v, dtype=torch.bool), bone & (d_dst <= d_src), bone & (d_dst >= d_src)]).float()
    return masks / masks.sum(1, keepdim=True).clamp(min=1)


def distance_partitions(layout: Layout, max_hop: int = 2) -> Tensor:
    """Hop-distance partitions, ``[max_hop + 1, V, V]`` float32, ``A[k, j, i]`` as above.

    ``A[k, j, i] = 1 / |{j' : d(j', i) <= max_hop}|`` where ``d(j, i) = k`` bones, else 0; ``A.sum(0)`` has
    columns that sum to one.
    """
    if max_hop < 0:
        raise ValueError(f"max_hop must be >= 0, got {max_hop}")
    hop = layout.hop_distance()
    masks = torch.stack([hop == k for k in range(max_hop + 1)]).float()
    return masks / (hop <= max_hop).sum(0).float()


def partitions(layout: Layout, strategy: str = "spatial", max_hop: int = 2) -> Tensor:
    """The partitions of one of :data:`STRATEGIES` (``max_hop`` only for ``"distance"``), ``[K, V, V]``."""
    if strategy == "spatial":
        return spatial_partitions(layout)
    if strategy == "distance":
        return distance_partitions(layout, max_hop)
    raise ValueError(f"unknown partition strategy {strategy!r}; expected one of {list(STRATEGIES)}")
