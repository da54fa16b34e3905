"""Skeleton layouts: joints, bones, centre, mirror pairs and the five-part index (see :mod:`.layout`), and
the joint mappings between them (:mod:`.mapping`)."""
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
from .mapping import JointMapping, joint_mapping, map_keypoints

__all__ = [
    "NUM_PARTS", "PARTS", "JointMapping", "Layout", "LayoutError", "get_layout", "joint_mapping",
    "layout_from_dict", "layout_names", "load_layout_file", "map_keypoints", "register_layout",
]
