"""The ST-GCN block: a spatial message-passing layer, a temporal convolution and a residual connection."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from ..skeleton import Layout
from .temporal import TemporalConv


class STGCNBlock(nn.Module):
    r"""One spatial-temporal block of ST-GCN (Yan et al., 2018, Fig. 4 of the paper):

    .. math::
        \mathbf{x}^{\prime} = \mathrm{ReLU}\big(\mathrm{Dropout}(\mathrm{TCN}(\mathrm{ReLU}(
        \mathrm{BN}(\mathrm{GCN}(\mathbf{x}))))) + \mathrm{R}(\mathbf{x})\big)

    where GCN is the spatial layer applied to every frame, TCN a :class:`TemporalConv` with stride
    :math:`s`, and the residual :math:`\mathrm{R}` is zero (``residual=False``), the identity (same
    channels and stride 1), or a strided 1x1 :class:`TemporalConv` projection.

    Args:
        in_channels: :math:`C_{in}`.
        out_channels: :math:`C_{out}`.
        layout: skeleton layout, handed to the spatial layer.
        layer: spatial layer class, built as ``layer(in_channels, out_channels, layout, **layer_args)``
            and called on node features ``[N, T, V, C]`` (see ``docs/extending.md``).
        stride: temporal stride :math:`s`.
        temporal_kernel: temporal kernel size (odd).
        residual: add the residual connection.
        dropout: dropout probability after the temporal convolution.
        **layer_args: extra keyword arguments of ``layer``.

    Shapes:
        - **input:** :math:`(N, C_{in}, T, V)`; ``torch.channels_last`` memory is fastest
        - **output:** :math:`(N, C_{out}, T', V)`, ``T' = floor((T - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layout: Layout,
        layer: type[MessagePassing],
        stride: int = 1,
        temporal_kernel: int = 9,
        residual: bool = True,
        dropout: float = 0.0,
        **layer_args: Any,
    ) -> None:
        super().__init__()
        self.gcn = layer(in_channels, out_channels, layout, **layer_args)
        self.bn = nn.BatchNorm2d(out_channels)
        self.tcn = TemporalConv(out_channels, out_channels, temporal_kernel, stride)
        self.dropout = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConv(in_channels, out_channels, kernel_size=1, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        h = self.gcn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # the layer reads nodes at dim -2: [N, T, V, C]
        h = self.dropout(self.tcn(self.relu(self.bn(h))))
        if self.residual is not None:
            h = h + self.residual(x)
        return self.relu(h)
