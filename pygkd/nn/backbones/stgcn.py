"""ST-GCN backbone: input batch normalisation, a stack of :class:`~pygkd.nn.block.STGCNBlock`, then the
shared global/part pooling and classifier of :class:`~pygkd.nn.base.Backbone`."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from ...skeleton import Layout
from ..base import Backbone
from ..block import STGCNBlock
from ..registry import register_backbone, resolve_layer

# The paper's GCN backbone has nine blocks: the plan of the ST-GCN paper, 64-64-64-128-128-128-256-256-256
# channels with temporal stride 2 at the 4th and 7th block (ST-GCN's released code adds a tenth 64-channel
# block in front).
PAPER_CHANNELS = (64, 64, 64, 128, 128, 128, 256, 256, 256)
PAPER_STRIDES = (1, 1, 1, 2, 1, 1, 2, 1, 1)


@register_backbone("stgcn")
class STGCN(Backbone):
    r"""ST-GCN on ``[N, M, T, V, C]`` skeletons; every person runs through the blocks on its own.

    The input is normalised per joint and channel (``BatchNorm1d(V * C)``, PYSKL's ``data_bn``), the first
    block has no residual connection, and the joint features of the last block are pooled into the global
    and part features (:mod:`pygkd.nn.pool`). Activations and convolution weights are kept in
    ``torch.channels_last`` memory, so that the spatial layers read contiguous ``[N, T, V, C]`` node features
    and the temporal convolutions run on their fastest CPU path.

    Args:
        layout: skeleton layout of the input.
        in_channels: channels :math:`C` of the input.
        num_classes: number of action classes.
        layer: spatial layer: registered name (``"stgcn"``, ``"agcn"``), dotted path
            (``"my_pkg.my_module:MyConv"``) or class.
        layer_args: extra keyword arguments of the spatial layer.
        channels: output channels of each block (its length is the depth).
        strides: temporal stride of each block.
        temporal_kernel: temporal kernel size of every block.
        dropout: dropout probability in every block.
        edge_importance: when given, passed to the spatial layer as ``edge_importance``.

    Shapes:
        - **input:** :math:`(N, M, T, V, C)`
        - **joint features:** :math:`(N, M, T', V, D)`, ``D = channels[-1]``, ``T'`` after the strides
    """

    def __init__(
        self,
        layout: Layout,
        in_channels: int,
        num_classes: int,
        layer: str | type[MessagePassing] = "stgcn",
        layer_args: dict[str, Any] | None = None,
        channels: Sequence[int] = PAPER_CHANNELS,
        strides: Sequence[int] = PAPER_STRIDES,
        temporal_kernel: int = 9,
        dropout: float = 0.0,
        edge_importance: bool | None = None,
    ) -> None:
        if len(channels) == 0 or len(channels) != len(strides):
            raise ValueError(f"model.channels ({len(channels)} blocks) and model.strides ({len(strides)}) must "
                             "have one entry per block")
        super().__init__(layout, in_channels, channels[-1], num_classes)
        layer_cls = resolve_layer(layer)
        layer_args = dict(layer_args or {})
        if edge_importance is not None:
            layer_args["edge_importance"] = edge_importance
        self.data_bn = nn.BatchNorm1d(layout.num_joints * in_channels)
        ins = (in_channels, *channels[:-1])
        self.blocks = nn.ModuleList(
            STGCNBlock(c_in, c_out, layout, layer_cls, stride, temporal_kernel, i > 0, dropout, **layer_args)
            for i, (c_in, c_out, stride) in enumerate(zip(ins, channels, strides))
        )
        self.to(memory_format=torch.channels_last)  # conv weights in the memory format of the activations

    def joint_features(self, x: Tensor) -> Tensor:
        n, m, t, v, c = x.shape
        h = self.data_bn(x.reshape(n * m * t, v * c))
        h = h.view(n * m, t, v, c).permute(0, 3, 1, 2)  # [N*M, C, T, V], channels_last memory
        for block in self.blocks:
            h = block(h)
        return h.permute(0, 2, 3, 1).reshape(n, m, *h.shape[2:], -1)
