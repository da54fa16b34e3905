import os
import random

import numpy as np
import pytest
import torch

from pygkd.data.raw import DataFormatError
from pygkd.engine import checkpoint as ckpt
from pygkd.engine.seed import deterministic_mode, rng_state, seed_everything, set_rng_state
from pygkd.skeleton import get_layout


def test_save_then_load_roundtrip_without_leftovers(tmp_path):
    path = tmp_path / "run" / "checkpoint_last.pt"
    ckpt.save_checkpoint({"epoch": 3, "weights": torch.arange(4.0)}, path)
    state = ckpt.load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    assert state["format"] == ckpt.FORMAT
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint_last.pt"
    ckpt.save_checkpoint({"epoch": 1}, path)
    real_save = torch.save

    def crash_midway(obj, f):
        real_save(obj, f)
        raise KeyboardInterrupt  # killed after the bytes, before the rename

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint({"epoch": 2}, path)
    assert ckpt.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_load_names_the_file_on_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(DataFormatError, match="garbage.pt: not a readable"):
        ckpt.load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(DataFormatError, match="foreign.pt: not a pygkd checkpoint"):
        ckpt.load_checkpoint(foreign)
    future = tmp_path / "future.pt"
    torch.save({"format": ckpt.FORMAT, "version": ckpt.VERSION + 1}, future)
    with pytest.raises(DataFormatError, match="future.pt: checkpoint version"):
        ckpt.load_checkpoint(future)


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    seed_everything(7)
    ckpt.save_checkpoint({"rng": rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2).tolist())
    set_rng_state(ckpt.load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(2).tolist()) == expected


def test_model_card_roundtrip_keeps_the_layout():
    card = ckpt.ModelCard("student", {"name": "stgcn"}, get_layout("coco17"), 3, ["a", "b"])
    back = ckpt.ModelCard.from_dict(card.to_dict())
    assert back == card and back.layout is get_layout("coco17") and back.num_classes == 2


def test_deterministic_mode_sets_torch_and_cudnn_flags(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        deterministic_mode(True)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        deterministic_mode(False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
