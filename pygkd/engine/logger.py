"""The metrics log of a run: one JSON object per line in ``metrics.jsonl``, mirrored to TensorBoard
when the ``tensorboard`` package is installed.

A resumed run truncates the log to the epochs its checkpoint holds, so that the file always describes
exactly the run that produced the checkpoint (no duplicate or orphan epochs after an interruption).

Off a terminal (nohup, CI, a log file), where tqdm hides its bars, :class:`EpochReporter` prints one line
per epoch instead, so a long run is never silent.
"""
from __future__ import annotations

import json
import os
import sys
import time
from numbers import Real
from pathlib import Path
from typing import Mapping, TextIO

from ..data.raw import DataFormatError


class MetricsLogger:
    """Append-only JSONL metrics log (+ optional TensorBoard scalars).

    Args:
        path: the ``.jsonl`` file; its folder also receives the TensorBoard event files.
        keep_epochs: when resuming, the number of completed epochs; records of later epochs are dropped.
            ``None`` starts a fresh log.
        tensorboard: mirror numeric entries to TensorBoard when it is importable.
    """

    def __init__(self, path: Path, keep_epochs: int | None = None, tensorboard: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(self.path) if r.get("epoch", 0) <= keep_epochs] if keep_epochs else []
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)
        self._file = self.path.open("a")
        self._writer = _tensorboard_writer(self.path.parent) if tensorboard else None

    def log(self, record: Mapping) -> None:
        """Write one record (JSON-able values); numeric ones also go to TensorBoard at step ``record["epoch"]``."""
        try:
            self._file.write(json.dumps(dict(record)) + "\n")
            self._file.flush()
        except OSError as err:  # a failed write() names no file
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        if self._writer is not None:
            step = int(record.get("epoch", 0))
            for key, value in record.items():
                if isinstance(value, Real) and not isinstance(value, bool) and key != "epoch":
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> "MetricsLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EpochReporter:
    """One line per finished epoch on ``stream`` when it is not a terminal (tqdm shows progress there), after
    one that says what trains where (:meth:`begin`)::

        teacher epoch 3/30: loss 1.2345, train top-1 45.0%, val top-1 50.0% (top-5 90.0%), 12.3 s, ETA 5 min 32 s

    Args:
        desc: what trains (``teacher``, ``student``).
        epochs: the planned epochs; ``start``: those done before (a resumed run), not counted in the ETA.
        stream: default ``sys.stderr``; ``enabled``: default ``not stream.isatty()``.
    """

    def __init__(self, desc: str, epochs: int, start: int = 0, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.desc, self.epochs, self.start = desc, epochs, start
        self.stream = stream or sys.stderr
        self.enabled = not _is_terminal(self.stream) if enabled is None else enabled
        self.began = time.perf_counter()

    def begin(self, setting: str) -> str:
        """Print (when enabled) and return the line that opens the run, ``setting`` saying where and in what
        arithmetic it trains::

            teacher: epochs 3-30 on cpu, float32 (amp auto: ...), 2 processes (resumed)
        """
        line = f"{self.desc}: epochs {self.start + 1}-{self.epochs} on {setting}" + (" (resumed)" if self.start else "")
        if self.enabled:
            print(line, file=self.stream, flush=True)
        return line

    def report(self, record: Mapping) -> str:
        """Print (when enabled) and return the line of ``record`` (keys ``epoch``, ``train_loss``,
        ``train_top1``, ``val_top1``, ``val_top5``, ``time_s``)."""
        epoch = int(record["epoch"])
        per_epoch = (time.perf_counter() - self.began) / max(epoch - self.start, 1)
        line = (f"{self.desc} epoch {epoch}/{self.epochs}: loss {record['train_loss']:.4f}, "
                f"train top-1 {100 * record['train_top1']:.1f}%, val top-1 {100 * record['val_top1']:.1f}% "
                f"(top-5 {100 * record['val_top5']:.1f}%), {record['time_s']:.1f} s, "
                f"ETA {_duration(per_epoch * (self.epochs - epoch))}")
        if self.enabled:
            print(line, file=self.stream, flush=True)
        return line


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def _duration(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``; ``4000`` -> ``"1 h 6 min"``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def read_metrics(path: Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None
    for line_no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}: line {line_no}: not a JSON record ({err.msg})") from None
    return records


def _tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(log_dir))
