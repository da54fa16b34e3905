"""EfficientGCN's three input branches, computed from raw keypoints inside the network: joint positions,
velocities and bones (Song et al., TPAMI 2022, Sec. 3.1)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..skeleton import Layout

INPUTS: tuple[str, ...] = ("joint", "velocity", "bone")
BONE_EPS = 1e-4  # added to a bone's length before its direction cosines are taken (EfficientGCN's value)


def parent_joints(layout: Layout) -> Tensor:
    """``[V]`` long: every joint's neighbour one bone closer to the centre joint (the lowest index when several
    are); the centre joint is its own parent."""
    depth = layout.hop_distance()[:, layout.center]
    parent = list(range(layout.num_joints))
    for i, j in sorted(layout.bones):
        for child, candidate in ((i, j), (j, i)):
            if depth[candidate] == depth[child] - 1 and (parent[child] == child or candidate < parent[child]):
                parent[child] = candidate
    return torch.tensor(parent, dtype=torch.long)


class MultiInput(nn.Module):
    r"""Split ``C``-channel keypoints into EfficientGCN's input branches of ``2C`` channels each:

    .. math::
        \text{joint}_{t,v} &= \big[\mathbf{x}_{t,v},\; \mathbf{x}_{t,v} - \mathbf{x}_{t,c}\big] \\
        \text{velocity}_{t,v} &= \big[\mathbf{x}_{t+1,v} - \mathbf{x}_{t,v},\;
            \mathbf{x}_{t+2,v} - \mathbf{x}_{t,v}\big] \\
        \text{bone}_{t,v} &= \big[\mathbf{b}_{t,v},\; \arccos\big(\mathbf{b}_{t,v} /
            (\lVert\mathbf{b}_{t,v}\rVert + \epsilon)\big)\big], \quad
            \mathbf{b}_{t,v} = \mathbf{x}_{t,v} - \mathbf{x}_{t,p(v)}

    with :math:`c` the layout's centre joint, velocities zero where :math:`t + 1` or :math:`t + 2` is past
    the last frame, :math:`p(v)` the parent of :func:`parent_joints` (the centre's bone is zero), the
    arccos taken channel by channel (the bone's angle to every axis) and :math:`\epsilon = 10^{-4}`.
    Missing joints (zeros) enter as they are, as in EfficientGCN.

    Args:
        layout: skeleton layout of the input.
        inputs: which branches, in this order (a subset of :data:`INPUTS`).

    Shapes:
        - **input:** :math:`(*, T, V, C)`
        - **output:** :math:`(I, *, T, V, 2C)`, ``I = len(inputs)``
    """

    def __init__(self, layout: Layout, inputs: Sequence[str] = INPUTS) -> None:
        super().__init__()
        unknown = [name for name in inputs if name not in INPUTS]
        if unknown or not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(f"inputs must be distinct names of {list(INPUTS)}, got {list(inputs)}")
        self.inputs = tuple(inputs)
        self.center = layout.center
        self.register_buffer("parent", parent_joints(layout), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([getattr(self, name)(x) for name in self.inputs])

    def joint(self, x: Tensor) -> Tensor:
        return torch.cat([x, x - x[..., self.center : self.center + 1, :]], dim=-1)

    def velocity(self, x: Tensor) -> Tensor:
        step1, step2 = torch.zeros_like(x), torch.zeros_like(x)
        step1[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
        step2[..., :-2, :, :] = x[..., 2:, :, :] - x[..., :-2, :, :]
        return torch.cat([step1, step2], dim=-1)

    def bone(self, x: Tensor) -> Tensor:
        bone = x - x[..., self.parent, :]
        length = bone.norm(dim=-1, keepdim=True) + BONE_EPS
        return torch.cat([bone, torch.arccos(bone / length)], dim=-1)

    def extra_repr(self) -> str:
        return f"inputs={list(self.inputs)}"
