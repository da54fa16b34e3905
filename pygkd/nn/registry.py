"""Name -> class registries for spatial layers and backbones, and dotted-path imports.

A config names a layer or a backbone either by its registered name (``"stgcn"``) or by a dotted path to a
class in the user's own module (``"my_pkg.my_module:MyConv"`` or ``"my_pkg.my_module.MyConv"``), so that
users plug in their own :class:`~torch_geometric.nn.conv.MessagePassing` layer without editing pygkd
(see ``docs/extending.md``).
"""
from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from torch_geometric.nn.conv import MessagePassing

from .base import Backbone

T = TypeVar("T", bound=type)

LAYERS: dict[str, type[MessagePassing]] = {}
BACKBONES: dict[str, type[Backbone]] = {}


def _register(registry: dict[str, type], base: type, name: str) -> Callable[[T], T]:
    def add(cls: T) -> T:
        if not issubclass(cls, base):
            raise TypeError(f"{cls.__qualname__} is not a subclass of {base.__qualname__}")
        if registry.get(name, cls) is not cls:
            raise ValueError(f"{name!r} is already registered for {registry[name].__qualname__}")
        registry[name] = cls
        return cls

    return add


def register_layer(name: str) -> Callable[[T], T]:
    """Class decorator: make a spatial :class:`MessagePassing` layer available as ``model.layer: name``."""
    return _register(LAYERS, MessagePassing, name)


def register_backbone(name: str) -> Callable[[T], T]:
    """Class decorator: make a backbone available as ``model.backbone: name``."""
    return _register(BACKBONES, Backbone, name)


def import_object(path: str) -> object:
    """The object at ``"package.module:Name"`` or ``"package.module.Name"``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{path!r} is not a dotted path 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} of {path!r}: {err}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from None


def _resolve(name_or_class: str | type, registry: dict[str, type], base: type, key: str) -> type:
    if isinstance(name_or_class, str):
        if name_or_class in registry:
            return registry[name_or_class]
        if "." not in name_or_class and ":" not in name_or_class:
            raise ValueError(
                f"{key}: unknown name {name_or_class!r}; registered: {sorted(registry)}, "
                "or give a dotted path 'package.module:Class'"
            )
        try:
            cls = import_object(name_or_class)
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from None
    else:
        cls = name_or_class
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{key}: {name_or_class!r} is not a subclass of {base.__module__}.{base.__qualname__}")
    return cls


def resolve_layer(name_or_class: str | type) -> type[MessagePassing]:
    """A spatial layer class by registered name, dotted path, or the class itself."""
    return _resolve(name_or_class, LAYERS, MessagePassing, "model.layer")


def resolve_backbone(name_or_class: str | type) -> type[Backbone]:
    """A backbone class by registered name, dotted path, or the class itself."""
    return _resolve(name_or_class, BACKBONES, Backbone, "model.backbone")
