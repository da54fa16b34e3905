"""Spatial graph convolutions, one :class:`~torch_geometric.nn.conv.MessagePassing` layer per module."""
from .agcn_conv import AGCNConv
from .stgcn_conv import STGCNConv

__all__ = ["AGCNConv", "STGCNConv"]
