"""Skeleton layouts as plain data: joints, bones, centre joint, mirror pairs and the five-part index.

A :class:`Layout` is the one description of a skeleton topology that every other module reads: the
readers check joint counts against it, the GCN layers derive their adjacency from its bones and centre,
the part pooling reads its part index, and the LQ synthesis maps one layout onto another by joint name.

The five parts are those of the paper (Sec. 3.3.1): ``head``, ``left_arm``, ``right_arm``, ``left_leg``,
``right_leg``. Every joint belongs to exactly one part. The paper does not say where trunk joints go; pygkd
puts the *axial skeleton* (head, neck, spine, pelvis centre) into part 0, so that part 0 reads "head and
trunk", shoulders and collar bones into the arms, and hip joints into the legs. This keeps the five parts a
partition of the body for every layout, including COCO-17 which has no trunk joints at all.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from torch import Tensor

PARTS: tuple[str, ...] = ("head", "left_arm", "right_arm", "left_leg", "right_leg")
NUM_PARTS = len(PARTS)


class LayoutError(ValueError):
    """A layout definition is inconsistent, or a layout name is unknown."""


@dataclass(frozen=True)
class Layout:
    """One skeleton topology.

    Args:
        name: registry name, e.g. ``"ntu25"``.
        joints: joint names, in the order of the joint axis of the data.
        bones: undirected bones as pairs of joint indices.
        center: index of the centre joint (root of the ST-GCN spatial partitions).
        part: part index (0..4, see :data:`PARTS`) of every joint.
        mirror: left/right joint pairs ``(left, right)`` used for flipping.
        description: one line saying where the layout comes from.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    center: int
    part: tuple[int, ...]
    mirror: tuple[tuple[int, int], ...] = ()
    description: str = ""
    _edge_cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        v = len(self.joints)
        where = f"layout {self.name!r}"
        if v == 0:
            raise LayoutError(f"{where}: no joints")
        if len(set(self.joints)) != v:
            raise LayoutError(f"{where}: duplicate joint names")
        if len(self.part) != v:
            raise LayoutError(f"{where}: {len(self.part)} part entries for {v} joints")
        bad = [p for p in self.part if not 0 <= p < NUM_PARTS]
        if bad:
            raise LayoutError(f"{where}: part index {bad[0]} outside 0..{NUM_PARTS - 1}")
        if not 0 <= self.center < v:
            raise LayoutError(f"{where}: centre joint {self.center} outside 0..{v - 1}")
        for i, j in (*self.bones, *self.mirror):
            if not (0 <= i < v and 0 <= j < v) or i == j:
                raise LayoutError(f"{where}: pair ({i}, {j}) is not two distinct joints of 0..{v - 1}")
        missing = set(range(NUM_PARTS)) - set(self.part)
        if missing:
            raise LayoutError(f"{where}: parts {sorted(PARTS[p] for p in missing)} have no joint")
        if not _is_connected(v, self.bones):
            raise LayoutError(f"{where}: the bones do not connect all joints")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def edge_index(self) -> Tensor:
        """Both directions of every bone, ``[2, 2 * len(bones)]`` (long)."""
        if "edge_index" not in self._edge_cache:
            b = torch.tensor(self.bones, dtype=torch.long).t()
            self._edge_cache["edge_index"] = torch.cat([b, b.flip(0)], dim=1)
        return self._edge_cache["edge_index"]

    def part_index(self) -> Tensor:
        """Part of each joint, ``[V]`` (long)."""
        return torch.tensor(self.part, dtype=torch.long)

    def part_joints(self, part: int) -> list[int]:
        """Joint indices belonging to ``part``."""
        return [j for j, p in enumerate(self.part) if p == part]

    def mirror_permutation(self) -> list[int]:
        """Joint permutation that swaps every left/right pair (identity elsewhere)."""
        perm = list(range(self.num_joints))
        for left, right in self.mirror:
            perm[left], perm[right] = right, left
        return perm

    def hop_distance(self) -> Tensor:
        """Shortest path length in bones from every joint to every joint, ``[V, V]`` (long)."""
        v = self.num_joints
        inf = v + 1
        dist = torch.full((v, v), inf, dtype=torch.long)
        dist.fill_diagonal_(0)
        for i, j in self.bones:
            dist[i, j] = dist[j, i] = 1
        for k in range(v):  # Floyd-Warshall; V <= a few dozen
            dist = torch.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
        return dist

    def index(self, joint: str) -> int:
        """Index of a joint by name."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise LayoutError(f"layout {self.name!r} has no joint {joint!r}") from None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "joints": list(self.joints),
            "bones": [list(b) for b in self.bones],
            "center": self.center,
            "part": [PARTS[p] for p in self.part],
            "mirror": [list(m) for m in self.mirror],
        }


def _is_connected(v: int, bones: Iterable[tuple[int, int]]) -> bool:
    parent = list(range(v))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in bones:
        parent[find(i)] = find(j)
    return len({find(a) for a in range(v)}) == 1


def layout_from_dict(spec: Mapping, source: str = "<dict>") -> Layout:
    """Build a layout from a mapping as written by :meth:`Layout.to_dict`.

    Joints may be referred to by index or by name in ``bones``, ``center`` and ``mirror``; ``part`` is a
    list with one entry per joint, each a part name (``"left_arm"``) or index.
    """
    try:
        joints = tuple(str(j) for j in spec["joints"])
        names = {n: i for i, n in enumerate(joints)}

        def idx(j) -> int:
            if isinstance(j, str):
                if j not in names:
                    raise LayoutError(f"{source}: unknown joint {j!r}")
                return names[j]
            return int(j)

        def part(p) -> int:
            if isinstance(p, str):
                if p not in PARTS:
                    raise LayoutError(f"{source}: unknown part {p!r}; expected one of {PARTS}")
                return PARTS.index(p)
            return int(p)

        return Layout(
            name=str(spec["name"]),
            joints=joints,
            bones=tuple((idx(a), idx(b)) for a, b in spec["bones"]),
            center=idx(spec["center"]),
            part=tuple(part(p) for p in spec["part"]),
            mirror=tuple((idx(a), idx(b)) for a, b in spec.get("mirror", ())),
            description=str(spec.get("description", "")),
        )
    except KeyError as err:
        raise LayoutError(f"{source}: missing key {err.args[0]!r}") from None
    except LayoutError as err:
        if str(err).startswith(source):
            raise
        raise LayoutError(f"{source}: {err}") from None


def load_layout_file(path: str | Path) -> Layout:
    """Read a layout from a ``.json`` or ``.yaml``/``.yml`` file (see ``docs/extending.md``)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        spec = yaml.safe_load(text)
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as err:
            raise LayoutError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(spec, Mapping):
        raise LayoutError(f"{path}: expected a mapping with keys name, joints, bones, center, part")
    return layout_from_dict(spec, source=str(path))


_REGISTRY: dict[str, Layout] = {}


def register_layout(layout: Layout, overwrite: bool = False) -> Layout:
    """Add a layout to the registry so that configs and prepared datasets can name it."""
    if layout.name in _REGISTRY and not overwrite and _REGISTRY[layout.name] != layout:
        raise LayoutError(f"a different layout named {layout.name!r} is already registered")
    _REGISTRY[layout.name] = layout
    return layout


def get_layout(name_or_path: str | Layout) -> Layout:
    """A registered layout by name, or a layout file by path (registered on first use)."""
    if isinstance(name_or_path, Layout):
        return name_or_path
    if name_or_path in _REGISTRY:
        return _REGISTRY[name_or_path]
    if Path(name_or_path).suffix.lower() in (".json", ".yaml", ".yml") and Path(name_or_path).exists():
        return register_layout(load_layout_file(name_or_path), overwrite=True)
    raise LayoutError(f"unknown layout {name_or_path!r}; registered: {sorted(_REGISTRY)}")


def layout_names() -> list[str]:
    return sorted(_REGISTRY)


def parts_of(names: Sequence[str]) -> tuple[int, ...]:
    """Part indices for a sequence of part names (helper for layout definitions)."""
    return tuple(PARTS.index(n) for n in names)
