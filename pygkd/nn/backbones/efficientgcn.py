"""EfficientGCN (Song et al., "Constructing Stronger and Faster Baselines for Skeleton-based Action
Recognition", TPAMI 2022), whose B4 variant is one of the paper's GCN backbones (Table 3): early-fused
input branches of joint, velocity and bone features, blocks of a spatial message-passing layer, separable
temporal layers and ST-JointAtt, scaled in width and depth by one compound coefficient."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from ...skeleton import Layout
from ..attention import STJointAttention
from ..base import Backbone
from ..conv import STGCNConv
from ..efficient_temporal import BasicTemporalLayer, SeparableTemporalLayer
from ..multi_input import INPUTS, MultiInput
from ..registry import register_backbone, resolve_layer
from ..temporal import TemporalConv

# EfficientGCN-B0: [channels, temporal stride, depth] of each block; the first FUSION_STAGE blocks run in
# every input branch, the rest in the main stream after the branches are concatenated.
B0_BLOCKS: tuple[tuple[int, int, float], ...] = ((48, 1, 0.5), (24, 1, 0.5), (64, 2, 1), (128, 2, 1))
SCALE_ARGS = (1.2, 1.35)  # width and depth multipliers per unit of the compound coefficient
ACTIVATIONS = {"relu": nn.ReLU, "swish": nn.SiLU, "hardswish": nn.Hardswish}
TEMPORAL_LAYERS = ("sep", "basic")


def rescale_blocks(
    blocks: Sequence[Sequence[float]], scale: float, scale_args: Sequence[float] = SCALE_ARGS
) -> list[tuple[int, int, int]]:
    """EfficientGCN-B``scale`` from B0's blocks: channels times ``width ** scale``, rounded to a multiple of
    16 (at least 16), depth times ``depth ** scale``, rounded with Python's ``round`` (half to even, as the
    released code: B0's 0.5-deep blocks get no temporal layer).

    Example: ``rescale_blocks(B0_BLOCKS, 4)`` is ``[(96, 1, 2), (48, 1, 2), (128, 2, 3), (272, 2, 3)]`` (B4).
    """
    width, depth = (math.pow(factor, scale) for factor in scale_args)
    return [
        (max(int(round(channels * width / 16)) * 16, 16), int(stride), int(round(layers * depth)))
        for channels, stride, layers in blocks
    ]


class GraphLayer(nn.Module):
    r"""A spatial message-passing layer with batch norm and residual:
    :math:`\mathbf{x}^{\prime} = \sigma\big(\mathrm{BN}(\mathrm{GCN}(\mathbf{x})) + \mathrm{R}(\mathbf{x})\big)`,
    :math:`\mathrm{R}` the identity or a 1x1 convolution with batch norm when the channels change.

    Shapes:
        - **input:** :math:`(N, C_{in}, T, V)`
        - **output:** :math:`(N, C_{out}, T, V)`
    """

    def __init__(
        self, in_channels: int, out_channels: int, layout: Layout, layer: type[MessagePassing],
        activation: nn.Module, **layer_args: Any,
    ) -> None:
        super().__init__()
        self.gcn = layer(in_channels, out_channels, layout, **layer_args)
        self.bn = nn.BatchNorm2d(out_channels)
        self.residual = nn.Identity() if in_channels == out_channels else TemporalConv(in_channels, out_channels, 1)
        self.act = activation

    def forward(self, x: Tensor) -> Tensor:
        h = self.gcn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # the layer reads nodes at dim -2: [N, T, V, C]
        return self.act(self.bn(h) + self.residual(x))


class EfficientStage(nn.Sequential):
    """An input branch (with a stem: input batch norm, a graph layer and a basic temporal layer) or the main
    stream (no stem): for every ``(channels, stride, depth)`` block a :class:`GraphLayer`, ``depth``
    temporal layers (the first with the stride) and :class:`~pygkd.nn.attention.STJointAttention`.

    Shapes:
        - **input:** :math:`(N, C_{in}, T, V)`
        - **output:** :math:`(N, C_{out}, T', V)`, ``C_out`` the last block's channels
    """

    def __init__(
        self,
        in_channels: int,
        blocks: Sequence[tuple[int, int, int]],
        layout: Layout,
        layer: type[MessagePassing],
        layer_args: dict[str, Any],
        stem_channels: int | None,
        temporal: str,
        temporal_kernel: int,
        expand_ratio: int,
        reduct_ratio: int,
        activation: nn.Module,
    ) -> None:
        super().__init__()
        last = in_channels
        if stem_channels is not None:
            self.add_module("input_bn", nn.BatchNorm2d(in_channels))
            self.add_module("stem_gcn", GraphLayer(in_channels, stem_channels, layout, layer, activation, **layer_args))
            self.add_module("stem_tcn", BasicTemporalLayer(stem_channels, temporal_kernel, 1, activation))
            last = stem_channels
        for b, (channels, stride, depth) in enumerate(blocks):
            self.add_module(f"block{b}_gcn", GraphLayer(last, channels, layout, layer, activation, **layer_args))
            for d in range(depth):
                s = stride if d == 0 else 1
                tcn = (
                    SeparableTemporalLayer(channels, temporal_kernel, s, expand_ratio, activation)
                    if temporal == "sep"
                    else BasicTemporalLayer(channels, temporal_kernel, s, activation)
                )
                self.add_module(f"block{b}_tcn{d}", tcn)
            self.add_module(f"block{b}_att", STJointAttention(channels, reduct_ratio, activation))
            last = channels
        self.out_channels = last


@register_backbone("efficientgcn")
class EfficientGCN(Backbone):
    r"""EfficientGCN-B\ ``scale`` on ``[N, M, T, V, C]`` skeletons; every person runs through it on its own.

    :class:`~pygkd.nn.multi_input.MultiInput` turns the keypoints into joint, velocity and bone features
    (``2C`` channels each); each runs through its own input branch (stem and the first ``fusion_stage``
    blocks), the branches are concatenated along channels, and the main stream's remaining blocks give
    the joint features that the shared global and part pooling read. The spatial layer is any registered
    or user message-passing layer; the default is :class:`~pygkd.nn.conv.STGCNConv` on hop-distance
    partitions up to two bones (EfficientGCN's graph convolution). Differences to the released code:
    the graph convolution's partitions are normalised over the joints within ``max_hop`` bones (the
    released graph normalises over ten hops), its edge importance covers the graph's edges only, and
    its bias is added after aggregation.

    Args:
        layout: skeleton layout of the input.
        in_channels: channels :math:`C` of the input.
        num_classes: number of action classes.
        scale: compound coefficient (EfficientGCN-B0 is 0, the paper's B4 is 4), see :func:`rescale_blocks`.
        blocks: B0's ``[channels, stride, depth]`` per block, before scaling.
        fusion_stage: how many blocks run in each input branch.
        stem_channels: channels of every branch's stem.
        inputs: input branches, a subset of ``("joint", "velocity", "bone")``.
        layer: spatial layer: registered name, dotted path or class.
        layer_args: keyword arguments of the spatial layer (default for ``"stgcn"``: distance partitions
            up to two hops).
        temporal: ``"sep"`` (separable, the B models) or ``"basic"`` temporal layers.
        temporal_kernel: temporal kernel size.
        expand_ratio: expansion of the separable layers (0: none, as the B models).
        reduct_ratio: channel reduction of the attention.
        activation: ``"swish"`` (the B models), ``"relu"`` or ``"hardswish"``.
        dropout: dropout before the classifier.
        edge_importance: when given, passed to the spatial layer as ``edge_importance``.

    Shapes:
        - **input:** :math:`(N, M, T, V, C)`
        - **joint features:** :math:`(N, M, T', V, D)`, ``D`` the last block's channels, ``T'`` after the strides
    """

    def __init__(
        self,
        layout: Layout,
        in_channels: int,
        num_classes: int,
        scale: float = 4,
        blocks: Sequence[Sequence[float]] = B0_BLOCKS,
        fusion_stage: int = 2,
        stem_channels: int = 64,
        inputs: Sequence[str] = INPUTS,
        layer: str | type[MessagePassing] = "stgcn",
        layer_args: dict[str, Any] | None = None,
        temporal: str = "sep",
        temporal_kernel: int = 5,
        expand_ratio: int = 0,
        reduct_ratio: int = 2,
        activation: str = "swish",
        dropout: float = 0.25,
        edge_importance: bool | None = None,
    ) -> None:
        scaled = rescale_blocks(blocks, scale)
        if not 0 < fusion_stage < len(scaled):
            raise ValueError(f"model.fusion_stage must be between 1 and {len(scaled) - 1} (blocks: {len(scaled)}), "
                             f"got {fusion_stage}")
        if temporal not in TEMPORAL_LAYERS:
            raise ValueError(f"model.temporal must be one of {list(TEMPORAL_LAYERS)}, got {temporal!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        super().__init__(layout, in_channels, scaled[-1][0], num_classes, dropout)
        self.blocks = scaled
        layer_cls = resolve_layer(layer)
        if layer_args is None:
            layer_args = {"partition": "distance", "max_hop": 2} if layer_cls is STGCNConv else {}
        layer_args = dict(layer_args)
        if edge_importance is not None:
            layer_args["edge_importance"] = edge_importance
        stage = dict(layout=layout, layer=layer_cls, layer_args=layer_args, temporal=temporal,
                     temporal_kernel=temporal_kernel, expand_ratio=expand_ratio, reduct_ratio=reduct_ratio,
                     activation=ACTIVATIONS[activation]())
        self.multi_input = MultiInput(layout, inputs)
        self.branches = nn.ModuleList(
            EfficientStage(2 * in_channels, scaled[:fusion_stage], stem_channels=stem_channels, **stage)
            for _ in inputs
        )
        fused = len(inputs) * self.branches[0].out_channels
        self.main = EfficientStage(fused, scaled[fusion_stage:], stem_channels=None, **stage)
        self.to(memory_format=torch.channels_last)  # conv weights in the memory format of the activations

    def joint_features(self, x: Tensor) -> Tensor:
        n, m, t, v, _ = x.shape
        streams = self.multi_input(x.reshape(n * m, t, v, -1)).permute(0, 1, 4, 2, 3)  # [I, N*M, 2C, T, V]
        h = torch.cat([branch(s) for branch, s in zip(self.branches, streams)], dim=1)
        h = self.main(h)
        return h.permute(0, 2, 3, 1).reshape(n, m, *h.shape[2:], -1)
