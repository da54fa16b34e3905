"""Networks: spatial message-passing layers, the ST-GCN and EfficientGCN backbones, global and part pooling.

``build_backbone(spec, layout, in_channels, num_classes)`` returns a :class:`Backbone` whose
``forward(x [N, M, T, V, C])`` gives ``BackboneOutput(logits [N, K], feature [N, D], part [N, 5, D])``.
Spatial layers and backbones are chosen by registered name or by dotted path to the user's own class
(``docs/extending.md``).
"""
from .attention import STJointAttention
from .backbones import STGCN, EfficientGCN
from .base import Backbone, BackboneOutput
from .block import STGCNBlock
from .build import build_backbone
from .conv import AGCNConv, STGCNConv
from .device import resolve_device
from .efficient_temporal import BasicTemporalLayer, SeparableTemporalLayer
from .multi_input import MultiInput
from .partition import directed_partitions, distance_partitions, spatial_partitions
from .pool import global_pool, part_pool, person_mean, scatter_mean, valid_persons
from .precision import FLOAT32, Precision, resolve_precision
from .registry import BACKBONES, LAYERS, register_backbone, register_layer, resolve_backbone, resolve_layer
from .temporal import TemporalConv

__all__ = [
    "AGCNConv",
    "BACKBONES",
    "LAYERS",
    "STGCN",
    "Backbone",
    "FLOAT32",
    "BackboneOutput",
    "BasicTemporalLayer",
    "EfficientGCN",
    "MultiInput",
    "Precision",
    "STJointAttention",
    "SeparableTemporalLayer",
    "STGCNBlock",
    "STGCNConv",
    "TemporalConv",
    "build_backbone",
    "directed_partitions",
    "distance_partitions",
    "global_pool",
    "part_pool",
    "person_mean",
    "register_backbone",
    "register_layer",
    "resolve_backbone",
    "resolve_device",
    "resolve_layer",
    "resolve_precision",
    "scatter_mean",
    "spatial_partitions",
    "valid_persons",
]
