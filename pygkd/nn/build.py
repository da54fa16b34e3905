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
    params = inspect.signature(cls).parameters
    reserved = {"layout", "in_channels", "num_classes"}  # given by pygkd, not by the config
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = sorted(key for key in options if key in reserved or not (takes_any or key in params))
    if unknown:
        expected = sorted(set(params) - reserved)
        raise ValueError(f"model: unknown key(s) {unknown} for backbone {cls.__name__}; expected some of {expected}")
    return cls(layout=layout, in_channels=in_channels, num_classes=num_classes, **options)
