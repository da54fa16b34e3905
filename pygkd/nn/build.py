"""Build a backbone from the ``model:`` section of a config."""
from __future__ import annotations

import inspect
from typing import Any, Mapping

from ..skeleton import Layout
from .base import Backbone
from .registry import resolve_backbone


def build_backbone(spec: Mapping[str, Any], layout: Layout, in_channels: int, num_classes: int) -> Backbone:
    """The backbone ``spec["backbone"]`` (default ``"stgcn"``) built with the other keys of ``spec``.

    Example ``model:`` section::

        backbone: stgcn                 # registered name or "my_pkg.my_module:MyBackbone"
        layer: stgcn                    # spatial layer: "stgcn", "agcn" or "my_pkg.my_module:MyConv"
        layer_args: {}                  # extra keyword arguments of the layer
        channels: [64, 64, 64, 128, 128, 128, 256, 256, 256]
        strides: [1, 1, 1, 2, 1, 1, 2, 1, 1]
        dropout: 0.0
        edge_importance: true

    Raises:
        ValueError: unknown backbone or layer, or a key the backbone does not take (named as ``model.key``).
    """
    options = dict(spec)
    cls = resolve_backbone(options.pop("backbone", "stgcn"))
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        fixed = {"self", "layout", "in_channels", "num_classes"}
        unknown = sorted((set(options) - set(params)) | (set(options) & fixed))
        if unknown:
            allowed = sorted(set(params) - fixed)
            raise ValueError(f"model: unknown key(s) {unknown} for backbone {cls.__name__}; expected some of {allowed}")
    return cls(layout=layout, in_channels=in_channels, num_classes=num_classes, **options)
