"""Budgets: how much compute every row of a grid gets, so that one grid runs as a smoke test in minutes
or at the paper's size for hours on a GPU.

A budget file (``configs/budgets/<name>.yaml``)::

    seeds: [0, 1, 2]      # every row is trained once per seed
    epochs: 30            # teacher and student epochs; the config's LR milestones are scaled to it
    frames: 32            # every FixLength transform of both streams samples this many frames uniformly
    per_class: null       # keep only the first N training and N test samples of each class (a tiny slice)
    set:                  # further config keys (dotted) and their values
      model.teacher: {backbone: stgcn, channels: [32, 64, 128], strides: [1, 2, 2]}
    backbones:            # table3's GCN blocks at this budget: name -> spec merged into both networks'
      ST-GCN: {}          # (default: the paper's ST-GCN, Js-AGCN and EfficientGCN-B4)
      Js-AGCN: {layer: agcn}

``epochs``, ``frames`` and ``per_class`` may be null (the config's own). A budget turns into a list of
``key=value`` overrides (:func:`budget_overrides`), so the engine validates the result like any config.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..engine.config import ConfigError, config_dir

BUDGET_KEYS = ("seeds", "epochs", "frames", "per_class", "set", "backbones")
STAGES = ("teacher", "student")
ROLE_SECTIONS = ("hq", "lq")


@dataclass(frozen=True)
class Budget:
    """Compute per grid row (see the module docstring)."""

    name: str
    seeds: tuple[int, ...]
    epochs: int | None = None
    frames: int | None = None
    per_class: int | None = None
    overrides: tuple[str, ...] = ()  # the ``set`` mapping as ``key=value`` overrides
    backbones: dict[str, dict] | None = None  # table3's GCN blocks, None: the paper's


def budget_dir() -> Path:
    """The shipped ``configs/budgets/`` folder."""
    return config_dir() / "budgets"


def available_budgets() -> list[str]:
    return sorted(p.stem for p in budget_dir().glob("*.yaml"))


def load_budget(name_or_path: str | Path) -> Budget:
    """A budget from a YAML file, or by name from ``configs/budgets/``.

    Raises:
        ConfigError: no such budget, an unknown key, or a value of the wrong type (naming the file).
    """
    path = Path(name_or_path)
    if not path.is_file():
        path = budget_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"no budget {str(name_or_path)!r}; shipped budgets: {available_budgets()}")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {list(BUDGET_KEYS)}")
    unknown = sorted(set(tree) - set(BUDGET_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; a budget has {list(BUDGET_KEYS)}")
    seeds = tree.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds)):
        raise ConfigError(f"{path}: seeds: expected a non-empty list of integers >= 0, got {seeds!r}")
    for key in ("epochs", "frames", "per_class"):
        value = tree.get(key)
        if value is not None and not (_is_int(value) and value > 0):
            raise ConfigError(f"{path}: {key}: expected a positive integer or null, got {value!r}")
    settings = tree.get("set") or {}
    if not (isinstance(settings, dict) and all(isinstance(k, str) for k in settings)):
        raise ConfigError(f"{path}: set: expected a mapping of dotted config keys to values, got {settings!r}")
    overrides = tuple(f"{key}={json.dumps(value)}" for key, value in settings.items())
    backbones = tree.get("backbones")
    if backbones is not None and not (
        isinstance(backbones, dict) and backbones
        and all(isinstance(k, str) and isinstance(v, dict) for k, v in backbones.items())
    ):
        raise ConfigError(f"{path}: backbones: expected a mapping of names to backbone specs, got {backbones!r}")
    return Budget(path.stem, tuple(seeds), tree.get("epochs"), tree.get("frames"), tree.get("per_class"), overrides,
                  backbones)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def scale_milestones(milestones: list[int], epochs: int, new_epochs: int) -> list[int]:
    """Learning-rate milestones of an ``epochs`` schedule at the same fractions of ``new_epochs``.

    ``[30, 40, 50]`` of 60 -> ``[15, 20, 25]`` of 30; milestones that fall on or after the last epoch, or
    onto an earlier one, are dropped.
    """
    scaled = []
    for m in milestones:
        s = max(1, round(m * new_epochs / epochs))
        if s < new_epochs and (not scaled or s > scaled[-1]):
            scaled.append(s)
    return scaled


def with_frames(specs: list[Mapping], frames: int) -> list[dict]:
    """A transform list whose ``FixLength`` transforms sample ``frames`` frames uniformly over the clip (a
    shorter zero-padded window would keep only the clip's start)."""
    return [{**spec, "length": frames, "mode": "uniform"} if spec["name"] == "FixLength" else dict(spec)
            for spec in specs]


def budget_overrides(budget: Budget, cfg: Mapping) -> list[str]:
    """``key=value`` overrides that give ``cfg`` (a loaded config) the budget's epochs and frames, then
    the budget's own ``set`` list."""
    overrides = []
    if budget.epochs is not None:
        for stage in STAGES:
            milestones = scale_milestones(cfg[stage]["milestones"], cfg[stage]["epochs"], budget.epochs)
            overrides += [f"{stage}.epochs={budget.epochs}", f"{stage}.milestones={json.dumps(milestones)}"]
    if budget.frames is not None:
        for role in ROLE_SECTIONS:
            section = cfg["data"][role]
            if not any(spec["name"] == "FixLength" for spec in section["transforms"]):
                raise ConfigError(
                    f"budget {budget.name}: frames={budget.frames}, but data.{role}.transforms has no FixLength "
                    "transform to set it on"
                )
            for key in ("transforms", "train_transforms"):
                if section[key] is not None:
                    overrides.append(f"data.{role}.{key}={json.dumps(with_frames(section[key], budget.frames))}")
    return overrides + list(budget.overrides)
