"""Backbones, registered by name (``model.backbone``)."""
from .stgcn import PAPER_CHANNELS, PAPER_STRIDES, STGCN

__all__ = ["PAPER_CHANNELS", "PAPER_STRIDES", "STGCN"]
