"""Skeleton layouts: joints, bones, centre, mirror pairs and the five-part index (see :mod:`.layout`)."""
from . import builtin as _builtin  # noqa: F401  (registers the built-in layouts)
from .layout import (
    NUM_PARTS,
    PARTS,
    Layout,
    LayoutError,
    get_layout,
    layout_from_dict,
    layout_names,
    load_layout_file,
    register_layout,
)

__all__ = [
    "NUM_PARTS", "PARTS", "Layout", "LayoutError", "get_layout", "layout_from_dict", "layout_names",
    "load_layout_file", "register_layout",
]
