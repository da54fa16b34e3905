import json

import pytest

from pygkd.data.raw import DataFormatError
from pygkd.engine.logger import MetricsLogger, read_metrics


def test_one_json_record_per_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLogger(path, tensorboard=False) as log:
        log.log({"epoch": 1, "loss": 0.5})
        log.log({"epoch": 2, "loss": 0.25, "note": "x"})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "note": "x"}
    ]


def test_resume_truncates_epochs_the_checkpoint_does_not_hold(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLogger(path, tensorboard=False) as log:
        for epoch in (1, 2, 3):
            log.log({"epoch": epoch})
    with MetricsLogger(path, keep_epochs=2, tensorboard=False) as log:
        log.log({"epoch": 3, "again": True})
    assert read_metrics(path) == [{"epoch": 1}, {"epoch": 2}, {"epoch": 3, "again": True}]
    MetricsLogger(path, tensorboard=False).close()  # a fresh run starts an empty log
    assert read_metrics(path) == []


def test_read_metrics_names_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{oops\n')
    with pytest.raises(DataFormatError, match="metrics.jsonl: line 2"):
        read_metrics(path)
