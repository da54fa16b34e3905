"""Name -> class registries for spatial layers and backbones, and dotted-path imports.

A config names a layer or a backbone either by its registered name (``"stgcn"``) or by a dotted path to a
class in the user's own module (``"my_pkg.my_module:MyConv"`` or ``"my_pkg.my_module.MyConv"``), so that
users plug in their own :class:`~torch_geometric.nn.conv.MessagePassing` layer without editing pygkd
(see ``docs/extending.md``).

Importing a module runs its code, so a dotted path that comes from data (a checkpoint's model card) must
not be imported blindly: inside :func:`restricted_imports` only pygkd's own modules and the allowlisted
ones (``--allow-module``, config key ``allow_modules``) are imported; any other raises
:class:`UntrustedCodeError` before the import.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
from typing import Callable, Iterable, Iterator, TypeVar

from torch_geometric.nn.conv import MessagePassing

from .base import Backbone

T = TypeVar("T", bound=type)

LAYERS: dict[str, type[MessagePassing]] = {}
BACKBONES: dict[str, type[Backbone]] = {}

# None: any module may be imported (a path from the user's own config); else (allowed prefixes, file)
_RESTRICTION: contextvars.ContextVar[tuple[tuple[str, ...], str] | None] = contextvars.ContextVar(
    "pygkd_import_restriction", default=None
)


class UntrustedCodeError(Exception):
    """A file (a checkpoint) names code in a module that pygkd does not register and the user did not allow.

    Not a ValueError, so that no handler of bad values turns the refusal into another message."""


@contextlib.contextmanager
def restricted_imports(allowed: Iterable[str], source: str) -> Iterator[None]:
    """Within the block, :func:`import_object` imports only ``pygkd`` and the modules ``allowed`` (each
    with its submodules: ``"pkg"`` allows ``"pkg.mod"``); the refusal names ``source`` (the file)."""
    token = _RESTRICTION.set((("pygkd", *allowed), source))
    try:
        yield
    finally:
        _RESTRICTION.reset(token)


def _check_allowed(module_name: str, path: str) -> None:
    restriction = _RESTRICTION.get()
    if restriction is None:
        return
    allowed, source = restriction
    if any(module_name == m or module_name.startswith(f"{m}.") for m in allowed):
        return
    raise UntrustedCodeError(
        f"{source}: names {path!r}, code in module {module_name!r} that pygkd does not register; importing it "
        f"would run that module's code. If you trust the file, allow the module with --allow-module {module_name} "
        "(or the config key allow_modules)"
    )


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


def split_path(path: str) -> tuple[str, str]:
    """``"package.module:Name"`` or ``"package.module.Name"`` -> ``("package.module", "Name")``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{path!r} is not a dotted path 'package.module:Name'")
    return module_name, attr


def import_object(path: str) -> object:
    """The object at ``"package.module:Name"`` or ``"package.module.Name"`` (within
    :func:`restricted_imports`, only from an allowed module)."""
    module_name, attr = split_path(path)
    _check_allowed(module_name, path)
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
