"""Results of a grid: ``rows.jsonl`` (append-only, one record per finished row and seed) and the tables
made from it, ``table.md`` and ``table.csv`` (mean ± sample standard deviation over seeds).

A row's Δ top-1 against its baseline row is the mean of the per-seed paired differences, with a 95 %
confidence interval from Student's t over the seeds (:func:`t_interval`): ``+3.40 [+1.70, +5.20]*``, the
``*`` marking an interval that excludes 0. Pairing by seed removes what a seed does to both rows alike (the
teacher, the occlusion draw, the batch order), so the interval is narrower than one built from the two
rows' spreads. The tables also say which checkpoint the numbers are of (``checkpoint`` of the records).

A record holds ``row`` (the row key), ``seed``, ``digest`` (of the row's resolved config), ``method``,
``columns``, ``top1``/``top5`` (percent), ``seconds``, ``config``, ``machine``, ``code`` (version and git
commit), ``finished`` and more; the tables need only the first six.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..atomic import write_atomic
from ..data.raw import DataFormatError
from .grids import Grid

ROWS_FILE = "rows.jsonl"
REQUIRED = ("row", "seed", "digest", "top1", "top5")
# Two-sided 95 % quantiles t_{0.975, df} of Student's t for df = 1..30 (any statistics table, e.g. NIST/SEMATECH
# e-Handbook 1.3.6.7.2); beyond 30 the normal quantile 1.96 is within 2 % of them.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
LAST_CHECKPOINT = "last"  # a record without ``checkpoint`` was evaluated at its last epoch
BEST_ON_VAL = "best-val"


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    r"""The 95 % confidence interval :math:`\bar d \pm t_{0.975,\,n-1}\, s / \sqrt n` of the mean of
    ``values`` (paired differences over seeds); ``None`` for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean, std = statistics.fmean(values), statistics.stdev(values)
    half = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * std / math.sqrt(n)
    return mean - half, mean + half


def read_records(path: Path) -> list[dict]:
    """The records of a ``rows.jsonl``; ``[]`` when there is none. A last line cut off by a crash
    mid-write is ignored; any other bad line raises :class:`DataFormatError` naming the line."""
    if not path.is_file():
        return []
    lines = path.read_text().split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # no newline after it: an append that did not finish
                break
            raise DataFormatError(f"{path}: line {number}: not a JSON record") from None
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            raise DataFormatError(f"{path}: line {number}: record lacks {missing}")
        records.append(record)
    return records


def recorded_severities(path: Path) -> list[str | None]:
    """The LQ severities of the student records of a ``rows.jsonl``, in order of first appearance."""
    return list(dict.fromkeys(r["severity"] for r in read_records(path) if r["role"] == "student"))


def append_record(path: Path, record: Mapping) -> None:
    """Append one record as a line of JSON and flush it to disk; a failed write (disk full) is cut off
    again, so the file never ends in half a record, and raised as an OSError naming ``path``."""
    with open(path, "a") as f:
        size = f.tell()
        try:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        except OSError as err:
            f.truncate(size)
            raise OSError(err.errno, err.strerror, str(path)) from None


@dataclass
class Summary:
    """One table line: a row's records over seeds."""

    method: str
    columns: dict
    seeds: list[int]
    top1: list[float]
    top5: list[float]
    seconds: list[float]
    delta: list[float]  # per seed run by both: top-1 minus the baseline row's top-1
    checkpoints: list[str]  # which checkpoint each seed's numbers are of (``last``, ``best-val``)
    val_top1: list[float]  # top-1 of the reported epoch on the held-out validation split (``best-val`` records)

    @staticmethod
    def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(grid: Grid, records: Iterable[Mapping]) -> list[Summary]:
    """One :class:`Summary` per row of ``grid``, in its order (rows without records have empty lists)."""
    by_row: dict[str, list[Mapping]] = {}
    for record in records:
        by_row.setdefault(record["row"], []).append(record)
    top1 = {key: {r["seed"]: r["top1"] for r in rs} for key, rs in by_row.items()}
    summaries = []
    for row in grid.rows:
        rs = sorted(by_row.get(row.key, []), key=lambda r: r["seed"])
        base = top1.get(row.baseline, {}) if row.baseline else {}
        delta = [r["top1"] - base[r["seed"]] for r in rs if r["seed"] in base]
        summaries.append(Summary(row.method, row.columns, [r["seed"] for r in rs], [r["top1"] for r in rs],
                                 [r["top5"] for r in rs], [r["seconds"]["total"] for r in rs], delta,
                                 [r.get("checkpoint", LAST_CHECKPOINT) for r in rs],
                                 [r["best_epoch_val_top1"] for r in rs if r.get("checkpoint") == BEST_ON_VAL]))
    return summaries


def _pm(values: Sequence[float]) -> str:
    mean, std = Summary.mean_std(values)
    if mean is None:
        return "pending"
    mean = round(mean, 2) + 0.0  # no "-0.00"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _delta(values: Sequence[float]) -> str:
    """Δ cell: mean of the paired differences and its 95 % t interval, ``*`` when it excludes 0."""
    if not values:
        return ""
    interval = t_interval(values)
    mean = round(statistics.fmean(values), 2) + 0.0
    if interval is None:
        return f"{mean:+.2f}"
    lo, hi = (round(v, 2) + 0.0 for v in interval)
    return f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]" + ("*" if interval[0] > 0 or interval[1] < 0 else "")


def checkpoint_note(summaries: Sequence[Summary]) -> str:
    """Which checkpoints the table's numbers are of, in one sentence."""
    names = sorted({c for s in summaries for c in s.checkpoints})
    said = {LAST_CHECKPOINT: "the last epoch", BEST_ON_VAL: "the best epoch on the validation split (carved from the "
            "training split, with the row's own occlusion)"}
    return "Checkpoint: " + "; ".join(said.get(n, n) for n in names) + "." if names else ""


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table(grid: Grid, summaries: Sequence[Summary], num_seeds: int) -> str:
    """The grid as a Markdown table: settings, the validation top-1 of the reported epoch (when a row was
    picked on a held-out validation split: the number to choose a setting by), top-1 and top-5 on the test
    split (mean ± std over seeds), Δ top-1 (mean of the per-seed differences to the baseline row and its
    95 % interval, see the module docstring), seeds done, minutes per run; then which checkpoint the numbers
    are of."""
    validated = any(s.val_top1 for s in summaries)  # the column to choose settings by, not the test one
    header = ["Method", *grid.columns, *(["Val top-1 (%)"] if validated else []), "Top-1 (%)", "Top-5 (%)",
              "Δ top-1 [95 % CI]", "Seeds", "Min/run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        minutes = Summary.mean_std(s.seconds)[0]
        cells = [
            s.method, *(_cell(s.columns.get(c, "")) for c in grid.columns),
            *([_pm(s.val_top1) if s.val_top1 else ""] if validated else []), _pm(s.top1), _pm(s.top5),
            _delta(s.delta), f"{len(s.seeds)}/{num_seeds}",
            "" if minutes is None else f"{minutes / 60:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = checkpoint_note(summaries)
    return "\n".join(lines) + "\n" + (f"\n{note}\n" if note else "")


def csv_table(grid: Grid, summaries: Sequence[Summary]) -> str:
    """The grid as CSV: one line per row, numbers unrounded, empty cells for rows without results."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["grid", "method", *grid.columns, "top1_mean", "top1_std", "top5_mean", "top5_std",
                     "delta_top1_mean", "delta_top1_std", "delta_top1_ci_low", "delta_top1_ci_high", "seeds",
                     "seconds_mean", "checkpoint", "val_top1_mean", "val_top1_std"])
    for s in summaries:
        numbers = [*Summary.mean_std(s.top1), *Summary.mean_std(s.top5), *Summary.mean_std(s.delta),
                   *(t_interval(s.delta) or (None, None)), " ".join(map(str, s.seeds)),
                   Summary.mean_std(s.seconds)[0], " ".join(sorted(set(s.checkpoints))), *Summary.mean_std(s.val_top1)]
        writer.writerow([grid.name, s.method, *(s.columns.get(c, "") for c in grid.columns),
                         *("" if v is None else v for v in numbers)])
    return out.getvalue()


def write_tables(grid: Grid, folder: Path, num_seeds: int) -> list[Summary]:
    """Regenerate ``table.md`` and ``table.csv`` in ``folder`` from its ``rows.jsonl`` (atomic writes)."""
    summaries = summarize(grid, read_records(folder / ROWS_FILE))
    for name, text in (("table.md", f"## {grid.title}\n\n" + markdown_table(grid, summaries, num_seeds)),
                       ("table.csv", csv_table(grid, summaries))):
        write_atomic(folder / name, text)
    return summaries
