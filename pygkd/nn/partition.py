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
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..skeleton import Layout

SPATIAL_PARTITIONS: tuple[str, ...] = ("root", "centripetal", "centrifugal")
DIRECTED_PARTITIONS: tuple[str, ...] = ("self", "inward", "outward")


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
