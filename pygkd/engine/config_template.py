"""A commented starting config for a prepared dataset (``pygkd init-config --prepared DIR``).

:func:`config_template` reads the dataset's manifest and writes a config that ``pygkd pipeline --config FILE``
runs as it is: the dataset's train/test (and validation) splits, its HQ and LQ streams, and for each a
test-time chain that fits the stream:

* ``KeepPersons`` with the stream's persons (at most 2, the paper's), ``FixLength`` (uniform sampling, at
  most 64 frames, at most the stream's median length) and ``Normalize`` with the stream's coordinates (3 for
  ``x, y, z``, 2 for ``x, y[, score]``);
* a dataset without an LQ stream gives the student the HQ stream degraded by ``SynthesizeLQ`` into
  ``coco17`` when :data:`~pygkd.data.lq_synthesis.LAYOUT_MAPS` has a table for the HQ layout, first in the
  chain so that the steps after it are what a pose estimator's COCO-17 output needs
  (:attr:`~.checkpoint.ModelCard.layout_transforms`);
* a dataset without an HQ stream lets the teacher read the LQ stream.

The networks are the demo's small ST-GCN; the comments say what to change for the paper's.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ..data.lq_synthesis import LAYOUT_MAPS
from ..data.store import PreparedDataset, StoredStream
from ..skeleton import get_layout
from .config import ConfigError

MAX_PERSONS = 2
MAX_FRAMES = 64
LQ_TARGET = "coco17"
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _value(value: Any) -> str:
    """A YAML flow value: a plain word as it is, anything else as JSON (which YAML reads)."""
    plain = isinstance(value, str) and _PLAIN.fullmatch(value) and value not in ("null", "true", "false")
    return value if plain else json.dumps(value)


def _validation_lines(val: str | None) -> list[str]:
    """The split that picks ``checkpoint_best.pt``: the dataset's own validation split, or else a held-out
    share of the training split (picking it on the test split would flatter the test top-1)."""
    if val:
        return [f"  val_split: {_value(val)}   # picks checkpoint_best.pt"]
    return ["  val_split: null",
            "  val_fraction: 0.1   # held out of every class of train_split to pick checkpoint_best.pt (0: the",
            "                      # test split picks it, which flatters the test top-1)"]


def _chain_lines(specs: list[dict]) -> list[str]:
    """``transforms`` items, one flow mapping a line."""
    return ["      - {" + ", ".join(f"{k}: {_value(v)}" for k, v in spec.items()) + "}" for spec in specs]


def coordinates(channels: tuple[str, ...]) -> int | None:
    """The leading coordinate channels of a stream: 3 for ``x, y, z, ...``, 2 for ``x, y, ...``, else None."""
    if channels[:3] == ("x", "y", "z"):
        return 3
    return 2 if channels[:2] == ("x", "y") else None


def stream_chain(num_persons: int, median_frames: float, coords: int | None) -> list[dict]:
    """``KeepPersons``, ``FixLength`` and (with known coordinates) ``Normalize`` (module docstring)."""
    chain: list[dict] = [
        {"name": "KeepPersons", "num_persons": min(num_persons, MAX_PERSONS)},
        {"name": "FixLength", "length": int(max(1, min(MAX_FRAMES, median_frames))), "mode": "uniform"},
    ]
    if coords is not None:
        chain.append({"name": "Normalize", "coords": coords})
    return chain


def _pick_split(names: list[str], word: str, what: str, root: str) -> str:
    if word in names:
        return word
    matches = [n for n in names if word in n.lower()]
    if not matches:
        raise ConfigError(f"{root}: no {what} split (a split named like {word!r}); its splits: {names}")
    return matches[0]


def config_template(prepared: PreparedDataset) -> str:
    """The text of a commented config for ``prepared`` (module docstring)."""
    summary = prepared.summary()
    root = str(prepared.root.resolve())
    splits = sorted(prepared.split_names)
    train = _pick_split(splits, "train", "training", root)
    test = _pick_split([s for s in splits if s != train], "test", "test", root)
    val = next((s for s in splits if s in ("val", "validation", "valid")), None)
    streams = prepared.streams
    if not streams.keys() & {"hq", "lq"}:
        raise ConfigError(f"{root}: no hq or lq stream")

    def describe(name: str) -> str:
        s, f = streams[name], summary["streams"][name]["frames"]
        return (f"    # stored stream {name}: layout {get_layout(s.layout).name} ({s.num_joints} joints), channels "
                f"{', '.join(s.channels)}, up to {s.num_persons} person(s), {f['min']}-{f['max']} frames "
                f"(median {f['median']:g})")

    def chain_of(name: str) -> list[dict]:
        s = streams[name]
        return stream_chain(s.num_persons, summary["streams"][name]["frames"]["median"], coordinates(s.channels))

    hq = "hq" if "hq" in streams else "lq"
    lines = [
        f"# pygkd config for the prepared dataset {prepared.name!r} ({len(prepared)} samples, "
        f"{len(prepared.class_names)} classes), written by `pygkd init-config`.",
        "# Run it with `pygkd pipeline --config THIS_FILE`. Every key is explained in configs/base.yaml, the way from",
        "# pose-estimator output to a prediction in docs/own_data.md. A list (transforms, channels, milestones)",
        "# replaces the inherited list as a whole: repeat every item you keep.",
        "defaults: base",
        "",
        "data:",
        f"  prepared: {_value(root)}",
        "  # the dataset's splits: " + ", ".join(f"{s} ({summary['splits'][s]['samples']})" for s in splits),
        "  # (these names must be among them)",
        f"  train_split: {_value(train)}",
        f"  test_split: {_value(test)}",
        *_validation_lines(val),
        "  hq:                # the teacher's input",
        describe(hq),
    ]
    if hq != "hq":
        lines += ["    # no HQ stream: the teacher reads the LQ skeletons too (distillation then adds little;",
                  "    # `pygkd student --config THIS_FILE --set student.loss=none` trains the student alone)"]
    lines += [f"    stream: {hq}", "    transforms:", *_chain_lines(chain_of(hq))]
    lines.append("  lq:                # the student's input")
    if "lq" in streams:
        lines += [describe("lq"), "    stream: lq", "    transforms:", *_chain_lines(chain_of("lq"))]
    else:
        lines += _synthesized_lq(streams["hq"], summary["streams"]["hq"]["frames"]["median"])
    lines += [
        "",
        "# The demo's small networks; the paper's ST-GCN is {backbone: stgcn} (configs/base.yaml), other specs in",
        "# docs/usage.md.",
        "model:",
        "  teacher: {backbone: stgcn, channels: [16, 32, 64], strides: [1, 2, 2]}",
        "  student: {backbone: stgcn, channels: [16, 32, 64], strides: [1, 2, 2]}",
        "",
        "teacher: {epochs: 30, batch_size: 16, milestones: [20, 26]}",
        "student: {epochs: 30, batch_size: 16, milestones: [20, 26]}",
        "",
    ]
    return "\n".join(lines)


def _synthesized_lq(hq: StoredStream, median_frames: float) -> list[str]:
    """The ``data.lq`` lines of a dataset without an LQ stream."""
    layout = get_layout(hq.layout).name
    coords = coordinates(hq.channels)
    has_table = (layout, LQ_TARGET) in LAYOUT_MAPS or layout == LQ_TARGET
    if not has_table or coords is None:
        return [
            f"    # no LQ stream, and no SynthesizeLQ from {layout} ({', '.join(hq.channels)}) to {LQ_TARGET} "
            "(pygkd.data.lq_synthesis.LAYOUT_MAPS):",
            "    # the student reads the HQ skeletons; prepare an LQ stream (docs/own_data.md) to train on LQ.",
            "    stream: hq", "    transforms:", *_chain_lines(stream_chain(hq.num_persons, median_frames, coords)),
        ]
    units = ("3D camera-frame metres (x right, y up, z > 0 away from the camera)" if coords == 3
             else "2D pixels")
    synthesis = {"name": "SynthesizeLQ", "target": LQ_TARGET, "severity": "moderate", "source_dims": coords}
    after = stream_chain(hq.num_persons, median_frames, coords=2)  # the synthesized skeleton is x, y, score
    return [
        f"    # no LQ stream: the HQ skeletons degraded into {LQ_TARGET} (x, y, score) by SynthesizeLQ, which needs",
        f"    # {units}; severity none | mild | moderate | severe (docs/lq_synthesis.md).",
        "    stream: hq", "    transforms:", *_chain_lines([synthesis, *after]),
    ]
