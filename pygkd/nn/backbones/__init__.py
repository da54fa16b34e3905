"""Backbones, registered by name (``model.backbone``)."""
from .efficientgcn import B0_BLOCKS, EfficientGCN, rescale_blocks
from .stgcn import PAPER_CHANNELS, PAPER_STRIDES, STGCN

__all__ = ["B0_BLOCKS", "PAPER_CHANNELS", "PAPER_STRIDES", "STGCN", "EfficientGCN", "rescale_blocks"]
