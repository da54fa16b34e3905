"""EfficientGCN's spatial-temporal joint attention (ST-JointAtt; Song et al., TPAMI 2022, Sec. 4.4)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class STJointAttention(nn.Module):
    r"""Reweight every frame and joint, then add back the input:

    .. math::
        [\mathbf{z}_T; \mathbf{z}_V] = \mathrm{HSwish}\big(\mathrm{BN}(\mathbf{W}_r
            [\bar{\mathbf{x}}_{:,t}; \bar{\mathbf{x}}_{:,v}])\big), \quad
        \mathbf{a}_{t,v} = \mathrm{sigmoid}(\mathbf{W}_T \mathbf{z}_{T,t}) \odot
            \mathrm{sigmoid}(\mathbf{W}_V \mathbf{z}_{V,v}), \quad
        \mathbf{x}^{\prime}_{t,v} = \sigma\big(\mathrm{BN}(\mathbf{x}_{t,v} \odot \mathbf{a}_{t,v})
            + \mathbf{x}_{t,v}\big)

    where :math:`\bar{\mathbf{x}}_{:,t}` averages frame :math:`t` over joints and
    :math:`\bar{\mathbf{x}}_{:,v}` joint :math:`v` over frames; :math:`\mathbf{W}_r` (shared by frames and
    joints) reduces :math:`C` to :math:`C / r` channels and :math:`\mathbf{W}_T, \mathbf{W}_V` map back to
    :math:`C`.

    Args:
        channels: :math:`C`.
        reduct_ratio: :math:`r`.
        activation: :math:`\sigma`.

    Shapes:
        - **input:** :math:`(N, C, T, V)`
        - **output:** :math:`(N, C, T, V)`
    """

    def __init__(self, channels: int, reduct_ratio: int = 2, activation: nn.Module | None = None) -> None:
        super().__init__()
        inner = max(channels // reduct_ratio, 1)
        self.reduce = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), nn.Hardswish())
        self.frame = nn.Conv2d(inner, channels, 1)
        self.joint = nn.Conv2d(inner, channels, 1)
        self.bn = nn.BatchNorm2d(channels)
        self.act = activation if activation is not None else nn.ReLU()

    def attention(self, x: Tensor) -> Tensor:
        """The weights :math:`\\mathbf{a}`, ``[N, C, T, V]`` in (0, 1)."""
        t = x.size(2)
        pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], dim=2)  # [N,C,T+V,1]
        z_frame, z_joint = self.reduce(pooled).split([t, x.size(3)], dim=2)
        return self.frame(z_frame).sigmoid() * self.joint(z_joint.transpose(2, 3)).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(x * self.attention(x)) + x)
