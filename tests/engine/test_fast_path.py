"""The engine's data path (stored LQ, dense batches) trains exactly as the per-sample path."""
import json

import torch

from pygkd.data import dataset as dataset_module
from pygkd.engine import build
from pygkd.engine.checkpoint import LAST, load_checkpoint
from pygkd.engine.logger import read_metrics
from pygkd.engine.stages import train_student, train_teacher
from pygkd.engine.trainer import METRICS_FILE

SYNTHESISED_LQ = {"stream": "hq", "transforms": [
    {"name": "SynthesizeLQ", "target": "coco17", "severity": "moderate", "source_dims": 3},
    {"name": "FixLength", "length": 8, "mode": "uniform", "training": True},
    {"name": "Normalize", "coords": 2},
    {"name": "OccludeJoints", "p": 0.2},
]}


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


def test_fast_path_trains_as_the_per_sample_path(tiny_config, tmp_path, monkeypatch):
    lq = f"data.lq={json.dumps(SYNTHESISED_LQ)}"
    fast = tiny_config(f"out={tmp_path / 'fast'}", lq, "student.loss=none", "student.epochs=1")
    train_teacher(fast)
    train_student(fast)
    assert (tmp_path / "fast").exists() and any(build.prepared_path(fast).parent.glob("*.lq/hq-coco17-moderate-*"))

    monkeypatch.setattr(dataset_module, "dense_steps", lambda transform: None)  # per-sample graphs, PyG collation
    slow = tiny_config(f"out={tmp_path / 'slow'}", lq, "student.loss=none", "student.epochs=1", "data.store_lq=false")
    loader = build.train_loader(build.skeleton_dataset(slow, build.load_prepared(slow), [0, 1], "lq", train=True),
                                build.batch_sampler(slow["student"], [0, 1], 0), 0)
    assert loader.dataset.dataset.stream == "hq"  # synthesised on the fly
    train_teacher(slow)
    train_student(slow)
    for role in ("teacher", "student"):
        a, b = (load_checkpoint(tmp_path / run / role / LAST) for run in ("fast", "slow"))
        for key, value in a["model"].items():
            assert torch.equal(value, b["model"][key]), (role, key)
        assert without_time(read_metrics(tmp_path / "fast" / role / METRICS_FILE)) == without_time(
            read_metrics(tmp_path / "slow" / role / METRICS_FILE))
