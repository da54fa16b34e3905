"""EfficientGCN's temporal layers (Song et al., TPAMI 2022, Fig. 6): the basic residual temporal
convolution of its stems and the separable one (``Sep``) of its EfficientGCN-B blocks."""
from __future__ import annotations

from torch import Tensor, nn

from .temporal import TemporalConv


def temporal_residual(channels: int, stride: int) -> nn.Module:
    """The identity at stride 1, else a strided 1x1 convolution with batch norm."""
    return nn.Identity() if stride == 1 else TemporalConv(channels, channels, kernel_size=1, stride=stride)


class BasicTemporalLayer(nn.Module):
    r"""A residual temporal convolution:
    :math:`\mathbf{x}^{\prime} = \sigma\big(\mathrm{BN}(\mathbf{W}_{k,s} \ast_t \mathbf{x})
    + \mathrm{R}(\mathbf{x})\big)`.

    Args:
        channels: :math:`C` (in and out).
        kernel_size: odd temporal kernel :math:`k`.
        stride: temporal stride :math:`s`.
        activation: :math:`\sigma`.

    Shapes:
        - **input:** :math:`(N, C, T, V)`
        - **output:** :math:`(N, C, T', V)`, ``T' = floor((T - 1) / s) + 1``
    """

    def __init__(self, channels: int, kernel_size: int, stride: int = 1, activation: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = TemporalConv(channels, channels, kernel_size, stride)
        self.residual = temporal_residual(channels, stride)
        self.act = activation if activation is not None else nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x) + self.residual(x))


class SeparableTemporalLayer(nn.Module):
    r"""A MobileNetV2-style separable temporal convolution (EfficientGCN's ``Sep`` layer):

    .. math::
        \mathbf{h} = \sigma\big(\mathrm{BN}(\mathbf{W}_e \mathbf{x})\big), \quad
        \mathbf{x}^{\prime} = \mathrm{BN}\Big(\mathbf{W}_p \, \sigma\big(\mathrm{BN}(
        \mathbf{D}_{k,s} \ast_t \mathbf{h})\big)\Big) + \mathrm{R}(\mathbf{x})

    with :math:`\mathbf{W}_e` a pointwise expansion to :math:`rC` channels (skipped, :math:`\mathbf{h} =
    \mathbf{x}`, when ``expand_ratio`` is 0), :math:`\mathbf{D}_{k,s}` a depthwise temporal convolution
    (one kernel per channel, stride :math:`s`), :math:`\mathbf{W}_p` a pointwise projection back to
    :math:`C` channels, no activation after the sum, and :math:`\mathrm{R}` the identity or a strided 1x1
    convolution.

    Args:
        channels: :math:`C` (in and out).
        kernel_size: odd temporal kernel :math:`k`.
        stride: temporal stride :math:`s`.
        expand_ratio: :math:`r` (0: no expansion).
        activation: :math:`\sigma`.

    Shapes:
        - **input:** :math:`(N, C, T, V)`
        - **output:** :math:`(N, C, T', V)`, ``T' = floor((T - 1) / s) + 1``
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        expand_ratio: int = 0,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"temporal kernel size must be odd, got {kernel_size}")
        act = activation if activation is not None else nn.ReLU()
        inner = channels * expand_ratio if expand_ratio > 0 else channels
        self.expand = (
            nn.Sequential(nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), act) if expand_ratio > 0 else None
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(inner, inner, (kernel_size, 1), (stride, 1), ((kernel_size - 1) // 2, 0), groups=inner),
            nn.BatchNorm2d(inner),
            act,
        )
        self.pointwise = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
        self.residual = temporal_residual(channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.expand is None else self.expand(x)
        return self.pointwise(self.depthwise(h)) + self.residual(x)
