"""The prepared datasets a grid trains on: prepared once per results folder, optionally sliced to a few
samples per class (smoke budgets), and with a synthesised LQ stream written out once per (severity, seed).

Writing the LQ stream out is an exact shortcut: :class:`~pygkd.data.lq_synthesis.SynthesizeLQ` draws its
degradation from ``(seed, sample index)``, so the stored stream equals what the transform would return
in every epoch, and the samples keep their indices. It takes the synthesis (the costliest transform, about
15 ms per sample on one CPU core) out of the training loop.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from ..data.dataset import load_graph
from ..data.raw import RawDataset, RawSample, StreamInfo
from ..data.readers import read_dataset
from ..data.store import PreparedDataset, prepare
from ..data.transforms import keypoints_of
from ..engine.build import build_transform
from ..engine.config import ConfigError

SYNTHESIS = "SynthesizeLQ"


def first_per_class(raw: RawDataset, per_class: int, splits: tuple[str, ...]) -> RawDataset:
    """``raw`` with, for each split of ``splits``, only the first ``per_class`` samples of every class
    (in reading order); samples in none of ``splits`` are dropped."""

    def samples() -> Iterator[RawSample]:
        counts: dict[tuple[str, int], int] = {}
        for sample in raw.samples():
            wanted = [s for s in sample.splits if s in splits and counts.get((s, sample.label), 0) < per_class]
            if wanted:
                for split in wanted:
                    counts[split, sample.label] = counts.get((split, sample.label), 0) + 1
                yield sample

    notes = {**raw.notes, "slice": f"first {per_class} samples per class of {list(splits)}"}
    return RawDataset(raw.name, raw.class_names, raw.streams, samples, None, raw.skipped, notes)


def prepare_grid_data(cfg: Mapping, path: Path, per_class: int | None) -> Path:
    """The prepared dataset of a grid: ``data.prepared`` (``path`` when it is null), prepared from
    ``data.reader`` unless it exists already. A grid that slices the data to ``per_class`` samples per
    class of the train and test splits writes the slice to ``path``, read from ``data.prepared`` when
    that exists, else from ``data.reader``."""
    data = cfg["data"]
    source = Path(data["prepared"]) if data["prepared"] else None
    if source is not None and per_class is None:
        path = source
    if path.exists():
        return path
    if source is not None and source.exists():
        raw = raw_of_prepared(PreparedDataset(source))
    elif data["reader"]:
        raw = read_dataset(data["reader"], Path(data["root"]) if data["root"] else None, **data["reader_options"])
    else:
        raise ConfigError(f"data.prepared: {source or path} does not exist, and data.reader is not set to prepare it")
    if per_class is not None:
        raw = first_per_class(raw, per_class, (data["train_split"], data["test_split"]))
    return prepare(raw, path, progress=False)


def synthesis_spec(cfg: Mapping) -> dict | None:
    """The ``SynthesizeLQ`` spec that opens ``data.lq``'s transforms (test and training alike), else None."""
    lq = cfg["data"]["lq"]
    lists = [lq["transforms"]] + ([lq["train_transforms"]] if lq["train_transforms"] is not None else [])
    firsts = [specs[0] if specs else None for specs in lists]
    if firsts[0] is None or firsts[0]["name"] != SYNTHESIS or any(f != firsts[0] for f in firsts):
        return None
    return dict(firsts[0])


def with_stored_lq(cfg: Mapping, folder: Path) -> dict:
    """``cfg`` reading its synthesised LQ stream from a prepared copy under ``folder`` (written on first
    use, one per synthesis spec and seed), or ``cfg`` itself when ``data.lq`` does not start with a
    ``SynthesizeLQ`` shared by its test and training transforms."""
    spec = synthesis_spec(cfg)
    if spec is None:
        return dict(cfg)
    cfg = copy.deepcopy(dict(cfg))
    data, seed = cfg["data"], cfg["seed"]
    digest = hashlib.sha256(json.dumps([spec, data["lq"]["stream"], seed], sort_keys=True).encode()).hexdigest()[:10]
    path = folder / f"lq-{spec.get('severity', 'default')}-seed{seed}-{digest}"
    if not path.exists():
        prepare(_synthesised(PreparedDataset(data["prepared"]), data["lq"]["stream"], spec, seed), path,
                progress=False)
    data["prepared"], data["lq"]["stream"] = str(path), "lq"
    for key in ("transforms", "train_transforms"):
        if data["lq"][key] is not None:
            data["lq"][key] = data["lq"][key][1:]
    return cfg


def raw_of_prepared(
    prepared: PreparedDataset, extra: Callable[[int], np.ndarray | None] | None = None,
    extra_info: StreamInfo | None = None, notes: dict | None = None,
) -> RawDataset:
    """A prepared dataset read back as a reader's output (to slice it or add a stream), samples in order.

    Args:
        extra: ``i -> [M, T, V, C]`` keypoints of sample ``i`` in an added stream ``lq`` (None: it lacks it).
        extra_info: that stream's layout and channels.
        notes: replace the dataset's notes.
    """
    membership: list[list[str]] = [[] for _ in range(len(prepared))]
    for name in prepared.split_names:
        for i in prepared.split(name):
            membership[i].append(name)

    def samples() -> Iterator[RawSample]:
        for i in range(len(prepared)):
            streams = {name: prepared.keypoints(name, i) for name in prepared.streams if prepared.has(name, i)}
            added = extra(i) if extra is not None else None
            if added is not None:
                streams["lq"] = added
            yield RawSample(prepared.sample_ids[i], int(prepared.labels[i]), streams, tuple(membership[i]),
                            prepared.meta(i))

    streams = {name: StreamInfo(s.layout, s.channels) for name, s in prepared.streams.items()}
    if extra_info is not None:
        streams["lq"] = extra_info
    return RawDataset(prepared.name, prepared.class_names, streams, samples, len(prepared), prepared.skipped,
                      prepared.notes if notes is None else notes)


def _synthesised(prepared: PreparedDataset, source: str, spec: dict, seed: int) -> RawDataset:
    """``prepared`` with an extra stream ``lq``: ``spec`` (a SynthesizeLQ) applied to stream ``source``."""
    transform = build_transform([spec], seed)
    probe = load_graph(prepared, source, int(np.flatnonzero(prepared.frame_counts(source))[0]), transform)

    def synthesised(i: int) -> np.ndarray | None:
        return keypoints_of(load_graph(prepared, source, i, transform)).numpy() if prepared.has(source, i) else None

    info = StreamInfo(probe.layout, ("x", "y", "score")[: probe.x.size(-1)])
    notes = {**prepared.notes, "lq": f"{spec} of stream {source!r}, seed {seed}"}
    return raw_of_prepared(prepared, synthesised, info, notes)
