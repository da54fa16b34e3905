"""Results of a grid: ``rows.jsonl`` (append-only, one record per finished row and seed) and the tables
made from it, ``table.md`` and ``table.csv`` (mean ± sample standard deviation over seeds).

A record holds ``row`` (the row key), ``seed``, ``digest`` (of the row's resolved config), ``method``,
``columns``, ``top1``/``top5`` (percent), ``seconds``, ``config``, ``machine``, ``code`` (version and git
commit), ``finished`` and more; the tables need only the first six.
"""
from __future__ import annotations

import csv
import io
import json
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
                                 [r["top5"] for r in rs], [r["seconds"]["total"] for r in rs], delta))
    return summaries


def _pm(values: Sequence[float], sign: str = "", missing: str = "pending") -> str:
    mean, std = Summary.mean_std(values)
    if mean is None:
        return missing
    mean = round(mean, 2) + 0.0  # no "-0.00"
    return f"{mean:{sign}.2f}" if std is None else f"{mean:{sign}.2f} ± {std:.2f}"


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table(grid: Grid, summaries: Sequence[Summary], num_seeds: int) -> str:
    """The grid as a Markdown table: settings, top-1 and top-5 (mean ± std over seeds), Δ top-1 (mean ± std
    of the per-seed differences to the baseline row), seeds done, minutes per run."""
    header = ["Method", *grid.columns, "Top-1 (%)", "Top-5 (%)", "Δ top-1", "Seeds", "Min/run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        minutes = Summary.mean_std(s.seconds)[0]
        cells = [
            s.method, *(_cell(s.columns.get(c, "")) for c in grid.columns), _pm(s.top1), _pm(s.top5),
            _pm(s.delta, "+", missing=""), f"{len(s.seeds)}/{num_seeds}",
            "" if minutes is None else f"{minutes / 60:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(grid: Grid, summaries: Sequence[Summary]) -> str:
    """The grid as CSV: one line per row, numbers unrounded, empty cells for rows without results."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["grid", "method", *grid.columns, "top1_mean", "top1_std", "top5_mean", "top5_std",
                     "delta_top1_mean", "delta_top1_std", "seeds", "seconds_mean"])
    for s in summaries:
        numbers = [*Summary.mean_std(s.top1), *Summary.mean_std(s.top5), *Summary.mean_std(s.delta),
                   " ".join(map(str, s.seeds)),
                   Summary.mean_std(s.seconds)[0]]
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
