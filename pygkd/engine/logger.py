"""The metrics log of a run: one JSON object per line in ``metrics.jsonl``, mirrored to TensorBoard
when the ``tensorboard`` package is installed.

A resumed run truncates the log to the epochs its checkpoint holds, so that the file always describes
exactly the run that produced the checkpoint (no duplicate or orphan epochs after an interruption).
"""
from __future__ import annotations

import json
import os
from numbers import Real
from pathlib import Path
from typing import Mapping

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
        self._file.write(json.dumps(dict(record)) + "\n")
        self._file.flush()
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


def read_metrics(path: Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
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
