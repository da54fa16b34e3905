"""The temporal convolution of ST-GCN: one 1-D convolution along time, shared by every joint."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .capture import is_capturing


class TemporalConv(nn.Module):
    r"""Convolution over frames followed by batch normalisation:

    .. math::
        \mathbf{x}^{\prime}_{t, v} = \mathrm{BN}\Big(\sum_{\tau=0}^{k-1}
        \mathbf{W}_\tau \, \mathbf{x}_{st + \tau - (k-1)/2, \, v}\Big)

    with zero padding at both ends, so that ``T' = floor((T - 1) / s) + 1``.

    Args:
        in_channels: :math:`C_{in}`.
        out_channels: :math:`C_{out}`.
        kernel_size: odd temporal kernel :math:`k` (9 in ST-GCN; 1 gives the strided residual projection).
        stride: temporal stride :math:`s`.

    Shapes:
        - **input:** :math:`(N, C_{in}, T, V)`; ``torch.channels_last`` memory is fastest on CPU
        - **output:** :math:`(N, C_{out}, T', V)`
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"temporal kernel size must be odd, got {kernel_size}")
        # A 1x1 kernel takes every s-th frame first and convolves with stride 1: the same result, and it
        # avoids a oneDNN bug of torch 2.13 on CPU, whose backward of a strided 1x1 convolution on
        # channels_last input with few channels (3, as a first block's residual) crashes the process.
        self.frame_step = stride if kernel_size == 1 else 1
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            (kernel_size, 1),
            stride=(stride // self.frame_step, 1),
            padding=((kernel_size - 1) // 2, 0),
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.frame_step > 1 and is_capturing():
            # While torch.export records, the strided view's channels-last test would fix the parity of T
            # (pygkd.nn.capture); the strided convolution computes the same.
            return self.bn(F.conv2d(x, self.conv.weight, self.conv.bias, (self.frame_step, 1)))
        if self.frame_step > 1:
            x = x[:, :, :: self.frame_step]
        return self.bn(self.conv(x))
