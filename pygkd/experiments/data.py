"""The prepared datasets a grid trains on: prepared once per results folder, optionally sliced to a few
samples per class (smoke budgets), and with a synthesised LQ stream written out once per (severity, seed).

Writing the LQ stream out (:func:`pygkd.data.stored_lq.stored_lq`) is an exact shortcut; here the config
itself is rewritten to read the stored stream, so that a grid's run folders record it.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator, Mapping

from ..data.raw import RawDataset, RawSample
from ..data.readers import read_dataset
from ..data.store import PreparedDataset, prepare, raw_of_prepared
from ..data.stored_lq import STORED_LQ, stored_lq
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
    data = cfg["data"]
    synthesis = build_transform([spec], cfg["seed"]).transforms[0]
    stored = stored_lq(PreparedDataset(data["prepared"]), data["lq"]["stream"], synthesis, folder)
    data["prepared"], data["lq"]["stream"] = str(stored.root), STORED_LQ
    for key in ("transforms", "train_transforms"):
        if data["lq"][key] is not None:
            data["lq"][key] = data["lq"][key][1:]
    return cfg
