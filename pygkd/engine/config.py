"""Run configurations: YAML files with inheritance, dotted command-line overrides and validation.

A config file may name the files it builds on with ``defaults: base`` (or a list, merged left to right,
the file itself last); names are looked up next to the file, then in the shipped ``configs/`` folder.
Mappings merge key by key, everything else (lists included) is replaced; a network spec that names another
``backbone`` replaces the spec it overrides (the old backbone's options would not fit the new one).
``configs/base.yaml`` lists every key a config may set: a key it lacks is a typo, and a value of the wrong type or outside its
choices is rejected here, naming the file (or ``--set``) that set it, instead of deep inside a run.
Sub-trees handed verbatim to another module (network specs, reader options) are free-form.

Example::

    cfg = load_config("demo", ["student.alpha=2", "teacher.epochs=3"])
    cfg["student"]["alpha"]  # 2
"""
from __future__ import annotations

import copy
import re
import sysconfig
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from ..atomic import write_atomic
from ..nn.precision import AMP_CHOICES

BASE_CONFIG = "base"
DEFAULT_CONFIG = "demo"

# Sub-trees passed verbatim to other modules: any keys allowed, merged but not checked here.
FREE_FORM = ("model.teacher", "model.student", "data.reader_options")
# Keys whose default is null, and the type they take when set.
OPTIONAL: dict[str, type] = {
    "name": str, "out": str, "data.prepared": str, "data.reader": str, "data.root": str, "data.val_split": str,
    "data.hq.train_transforms": list, "data.lq.train_transforms": list, "student.teacher": str,
    "student.part_matrix": str, "eval.split": str,
}


class ConfigError(ValueError):
    """A config file or override is invalid. The message names the file (or ``--set``) and the key."""


def config_dir() -> Path:
    """The ``configs/`` folder shipped with pygkd.

    In a clone or an editable install it sits next to the package; a wheel installs a copy under
    ``<prefix>/share/pygkd/configs``.
    """
    beside_package = Path(__file__).resolve().parents[2] / "configs"
    if beside_package.is_dir():
        return beside_package
    return Path(sysconfig.get_path("data")) / "share" / "pygkd" / "configs"


def available_configs() -> list[str]:
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """A config file from its path, or from its name (``"demo"``) looked up in ``relative_to``, then ``configs/``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix not in (".yaml", ".yml") and path.parent == Path("."):
        for folder in (relative_to, config_dir()):
            if folder is not None and (folder / f"{path.name}.yaml").is_file():
                return folder / f"{path.name}.yaml"
    raise ConfigError(f"no config {str(name_or_path)!r}; shipped configs: {available_configs()}")


def load_config(name_or_path: str | Path = DEFAULT_CONFIG, overrides: Iterable[str] = ()) -> dict:
    """Read a config, merge its ``defaults``, apply ``key=value`` overrides and validate the result.

    Override values are parsed as YAML (``3`` is an int, ``[8, 16]`` a list, ``null`` None).
    ``name`` defaults to the file's stem and ``out`` to ``runs/<name>``.

    Raises:
        ConfigError: unknown key, wrong type or value, bad override, missing or cyclic ``defaults``.
    """
    path = resolve_config_path(name_or_path)
    sources: dict[str, str] = {}
    cfg = _load_tree(path, sources, chain=())
    for item in overrides:
        _apply_override(cfg, item, sources)
    schema = _load_tree(resolve_config_path(BASE_CONFIG), {}, chain=())
    _validate(cfg, schema, sources, prefix="")
    for stage in ("teacher", "student"):  # torch's SGD refuses Nesterov without momentum
        if cfg[stage]["nesterov"] and cfg[stage]["momentum"] == 0:
            where = _source_of(f"{stage}.nesterov", sources)
            raise ConfigError(f"{where}: {stage}.nesterov: true needs {stage}.momentum > 0, got momentum 0")
    loss = cfg["student"]["loss"]
    for key, off in PMSC_VARIANTS.items():  # ignored without distillation (loss none), like alpha and w
        if loss in ("kl", "global_msc") and cfg["student"][key] != off:
            where = _source_of(f"student.{key}", sources)
            raise ConfigError(f"{where}: student.{key}: a variant of the pmsc loss (off: {off!r}), but student.loss "
                              f"is {loss}")
    cfg["name"] = cfg["name"] or path.stem
    cfg["out"] = cfg["out"] or str(Path("runs") / cfg["name"])
    return cfg


def dump_config(cfg: Mapping, path: Path) -> None:
    """Write a resolved config as YAML (what a run was trained with)."""
    write_atomic(path, yaml.safe_dump(dict(cfg), sort_keys=False))


def _load_tree(path: Path, sources: dict[str, str], chain: tuple[Path, ...]) -> dict:
    if path.resolve() in chain:
        raise ConfigError(f"{path}: 'defaults' cycle through {[str(p) for p in chain]}")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{path}: {line}invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(tree).__name__}")
    parents = tree.pop("defaults", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        parent_path = path.parent / str(parent)
        if not parent_path.is_file():
            parent_path = resolve_config_path(str(parent), relative_to=path.parent)
        _merge(merged, _load_tree(parent_path, sources, (*chain, path.resolve())), {}, "", str(parent_path))
    _merge(merged, tree, sources, "", str(path))
    return merged


def _merge(dst: dict, src: Mapping, sources: dict[str, str], prefix: str, origin: str) -> None:
    """Deep-merge ``src`` into ``dst``, recording which file set each leaf key."""
    for key, value in src.items():
        dotted = f"{prefix}{key}"
        if _merges_into(value, dst.get(key)):
            _merge(dst[key], value, sources, f"{dotted}.", origin)
        else:
            dst[key] = copy.deepcopy(value)
            sources[dotted] = origin


def _merges_into(value: Any, old: Any) -> bool:
    """``value`` merges into ``old``: both are mappings and ``value`` names no other backbone."""
    if not (isinstance(value, Mapping) and isinstance(old, dict)):
        return False
    return "backbone" not in value or value["backbone"] == old.get("backbone", value["backbone"])


def _apply_override(cfg: dict, item: str, sources: dict[str, str]) -> None:
    """Set one dotted key; a mapping value merges into a mapping, as in a config file."""
    key, eq, text = item.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. student.alpha=2")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    *parents, leaf = key.split(".")
    node = cfg
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: {'.'.join(parents[: i + 1])} is not a mapping")
        node = child
    if _merges_into(value, node.get(leaf)):
        _merge(node[leaf], value, sources, f"{key}.", "--set")
    else:
        node[leaf] = value
        sources[key] = "--set"


def _validate(cfg: Mapping, schema: Mapping, sources: dict[str, str], prefix: str) -> None:
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        where = f"{_source_of(dotted, sources)}: {dotted}"
        if key not in schema:
            raise ConfigError(f"{where}: unknown key; known keys here: {sorted(schema)}")
        default = schema[key]
        if dotted in FREE_FORM:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        elif isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a mapping, got {value!r}")
            _validate(value, default, sources, f"{dotted}.")
        else:
            problem = _check_value(dotted, value, default)
            if problem:
                raise ConfigError(f"{where}: {problem}")


def _source_of(dotted: str, sources: Mapping[str, str]) -> str:
    """The file (or ``--set``) that set ``dotted`` or its closest parent."""
    key = dotted
    while key not in sources and "." in key:
        key = key.rsplit(".", 1)[0]
    return sources.get(key, "<config>")


def _check_value(key: str, value: Any, default: Any) -> str | None:
    """What is wrong with ``value`` for ``key`` (given the base default), or None."""
    if value is None and key in OPTIONAL:
        return None
    if key in CHECKS:
        return CHECKS[key](value)
    if key in OPTIONAL:
        expected = OPTIONAL[key]
        return None if isinstance(value, expected) else f"expected {expected.__name__} or null, got {value!r}"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else f"expected an integer, got {value!r}"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    if isinstance(default, list):
        return None if isinstance(value, list) else f"expected a list, got {value!r}"
    return None


def _one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = any(value == c and type(value) is type(c) for c in choices)
        return None if ok else f"expected one of {list(choices)}, got {value!r}"

    return check


def _number_in(low: float, high: float, low_open: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (low < value if low_open else low <= value) and value <= high
        return None if ok else f"expected a number in {'(' if low_open else '['}{low}, {high}], got {value!r}"

    return check


def _non_negative_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else f"expected an integer >= 0, got {value!r}"


def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else f"expected a positive integer, got {value!r}"


def _device(value: Any) -> str | None:
    ok = isinstance(value, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", value)
    return None if ok else f"expected auto, cpu, cuda or cuda:N, got {value!r}"


def _milestones(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(m, int) and m > 0 for m in value) and value == sorted(value)
    return None if ok else f"expected increasing positive epochs, e.g. [30, 40, 50], got {value!r}"


def _module_names(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(m, str) and re.fullmatch(r"\w+(\.\w+)*", m) for m in value)
    return None if ok else f"expected a list of module names, e.g. [my_pkg.layers], got {value!r}"


def _transforms(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(t, Mapping) and isinstance(t.get("name"), str) for t in value)
    return None if ok else f"expected a list of {{name: TransformClass, ...arguments}}, got {value!r}"


def _amp(value: Any) -> str | None:
    ok = value is False or (isinstance(value, str) and value in AMP_CHOICES)
    return None if ok else f"expected one of {list(AMP_CHOICES)}, got {value!r}"


def _bank(value: Any) -> str | None:
    ok = value is None or value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
    return None if ok else f"expected null (the batch's HQ rows), all or a positive number of rows, got {value!r}"


def _phi_temperature(value: Any) -> str | None:
    ok = value == "learned" or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)
    return None if ok else f"expected a number > 0 or learned, got {value!r}"


# The variants of L_pmsc (student.*) and their off values; they apply to student.loss pmsc only.
PMSC_VARIANTS: dict[str, Any] = {"bank": None, "phi_temperature": 1.0, "part_head": "none", "occlusion_weight": False}


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "device": _device,
    "amp": _amp,
    "threads": _non_negative_int,
    "num_workers": _non_negative_int,
    "dist_timeout_s": _number_in(0.0, float("inf"), low_open=True),
    "student.loss": _one_of("none", "kl", "global_msc", "pmsc"),
    "student.sampler": _one_of("class_aware", "random"),
    "student.cache_teacher": _one_of("auto", True, False),
    "student.hq_fraction": _number_in(0.0, 1.0, low_open=True),
    "student.w": _number_in(0.0, 1.0),
    "student.alpha": _number_in(0.0, float("inf")),
    "student.samples_per_class": _positive_int,
    "eval.occlusion": _number_in(0.0, 1.0),
    "data.val_fraction": _number_in(0.0, 0.5),
    "eval.occlusion_protocol": _one_of("clip", "frame", "span"),
    "eval.occlusion_span": _number_in(1.0, float("inf")),
    "allow_modules": _module_names,
    "student.temperature": _number_in(0.0, float("inf"), low_open=True),
    "student.bank": _bank,
    "student.phi_temperature": _phi_temperature,
    "student.part_head": _one_of("none", "linear", "mlp"),
    "student.occlusion_weight": _one_of(False, True),
    **{f"{stage}.lr": _number_in(0.0, float("inf"), low_open=True) for stage in ("teacher", "student")},
    **{f"{stage}.momentum": _number_in(0.0, 1.0) for stage in ("teacher", "student")},
    **{f"{stage}.weight_decay": _number_in(0.0, float("inf")) for stage in ("teacher", "student")},
    **{f"{stage}.gamma": _number_in(0.0, 1.0, low_open=True) for stage in ("teacher", "student")},
    **{f"{stage}.{key}": _positive_int for stage in ("teacher", "student") for key in ("epochs", "batch_size")},
    **{f"{stage}.milestones": _milestones for stage in ("teacher", "student")},
    **{f"data.{role}.{key}": _transforms for role in ("hq", "lq") for key in ("transforms", "train_transforms")},
}
