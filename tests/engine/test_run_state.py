"""How far a run got (checkpoint fields, refusal of unfinished runs), fsynced checkpoints, imports restricted
to trusted modules, and the per-epoch progress line written off a terminal."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from pygkd.data.store import PreparedDataset
from pygkd.engine import checkpoint as ckpt
from pygkd.engine.config import ConfigError
from pygkd.engine.logger import EpochReporter
from pygkd.engine.stages import trusted_modules
from pygkd.experiments.data import prepare_grid_data
from pygkd.nn.registry import UntrustedCodeError, import_object, resolve_layer, restricted_imports


def test_checkpoints_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = ckpt.os.fsync, ckpt.os.replace
    monkeypatch.setattr(ckpt.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(ckpt.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    ckpt.save_checkpoint({"epoch": 1}, tmp_path / "c.pt")
    assert calls == ["fsync", "replace"]


@pytest.mark.parametrize("state, progress", [
    ({"epoch": 3, "epochs_planned": 60, "completed": False}, (3, 60, False)),
    ({"epoch": 60, "epochs_planned": 60, "completed": True}, (60, 60, True)),
    # an older pygkd's checkpoint_last.pt: the plan is its config's
    ({"epoch": 3, "optimizer": {}, "card": {"role": "teacher"}, "config": {"teacher": {"epochs": 60}}}, (3, 60, False)),
    ({"epoch": 60, "optimizer": {}, "card": {"role": "teacher"}, "config": {"teacher": {"epochs": 60}}},
     (60, 60, True)),
    # an older checkpoint_best.pt cannot tell: taken as finished
    ({"epoch": 3, "card": {"role": "student"}, "config": {"student": {"epochs": 60}}}, (3, 60, True)),
])
def test_run_progress(state, progress):
    assert ckpt.run_progress(state) == progress


def test_require_finished_says_how_far_and_how_to_go_on():
    state = {"epoch": 1, "epochs_planned": 60, "completed": False, "card": {"role": "student"}}
    with pytest.raises(ckpt.RunStateError, match=r"^s.pt: unfinished run: the student trained 1 of 60 epochs; finish "
                       r"it with `pygkd student --resume` \(same --config and --out\), or pass --allow-unfinished"):
        ckpt.require_finished(state, "s.pt")
    ckpt.require_finished(state, "s.pt", allow=True)
    ckpt.require_finished({**state, "epoch": 60, "completed": True}, "s.pt")


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    package = tmp_path / "vendor_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nNAME = 'layers'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    for name in ("vendor_pkg", "vendor_pkg.layers"):
        sys.modules.pop(name, None)


def test_restricted_imports_refuse_before_importing(marker_module):
    with restricted_imports(["vendor"], "card.pt"):  # a prefix of the name, not of the package: not allowed
        with pytest.raises(UntrustedCodeError, match=r"^card.pt: names 'vendor_pkg.layers:NAME', code in module "
                           r"'vendor_pkg.layers' that pygkd does not register"):
            import_object("vendor_pkg.layers:NAME")
        with pytest.raises(UntrustedCodeError):  # a refusal is not re-worded as an unknown layer
            resolve_layer("vendor_pkg.layers:NAME")
        assert resolve_layer("pygkd.nn.conv.stgcn_conv:STGCNConv").__name__ == "STGCNConv"
    assert not marker_module.exists()
    with restricted_imports(["vendor_pkg"], "card.pt"):  # a package allows its submodules
        assert import_object("vendor_pkg.layers:NAME") == "layers"
    assert marker_module.read_text() == "ran"
    assert import_object("json:dumps").__name__ == "dumps"  # outside the block: the user's own config


def test_trusted_modules_are_the_allowlist_and_the_config_own_specs():
    cfg = {"allow_modules": ["vendor_pkg"], "model": {
        "teacher": {"backbone": "stgcn", "layer": "my_layers:MeanConv", "channels": [8, 16]},
        "student": {"backbone": "my_models.nets.Net", "layer_args": {"kind": "x.y"}, "dropout": 0.5}}}
    assert trusted_modules(cfg) == ["vendor_pkg", "my_layers", "my_models.nets", "x"]


def test_epoch_line_off_a_terminal():
    stream = io.StringIO()  # not a terminal
    reporter = EpochReporter("teacher", epochs=30, start=2, stream=stream)
    reporter.began -= 20.0  # one epoch took 20 s so far
    record = {"epoch": 3, "train_loss": 1.23456, "train_top1": 0.45, "val_top1": 0.5, "val_top5": 0.9, "time_s": 20.04}
    line = reporter.report(record)
    assert line == ("teacher epoch 3/30: loss 1.2346, train top-1 45.0%, val top-1 50.0% (top-5 90.0%), 20.0 s, "
                    "ETA 9 min 0 s")  # 27 epochs left x 20 s
    assert stream.getvalue() == line + "\n"
    assert reporter.begin("cpu, float32 (amp off), 1 process") == \
        "teacher: epochs 3-30 on cpu, float32 (amp off), 1 process (resumed)"
    silent = io.StringIO()
    EpochReporter("teacher", 30, stream=silent, enabled=False).report(record)
    assert EpochReporter("student", 8, stream=silent, enabled=False).begin("cuda:1") == "student: epochs 1-8 on cuda:1"
    assert silent.getvalue() == ""


def test_a_sliced_grid_reads_an_existing_prepared_dataset(tiny_config, tiny_data, tmp_path):
    cfg = tiny_config("data.reader=null")
    sliced = prepare_grid_data(cfg, tmp_path / "grid" / "data", per_class=1)
    source, got = PreparedDataset(tiny_data), PreparedDataset(sliced)
    counts = np.bincount(got.labels[got.split("train")], minlength=len(source.class_names))
    assert (counts == 1).all() and len(got.split("test")) == len(source.class_names)
    first = int(source.split("train")[source.labels[source.split("train")] == 0][0])
    np.testing.assert_array_equal(got.keypoints("hq", 0), source.keypoints("hq", first))
    assert prepare_grid_data(cfg, tmp_path / "other", per_class=None) == tiny_data
    with pytest.raises(ConfigError, match=r"data.prepared: .*missing does not exist, and data.reader is not set"):
        prepare_grid_data(tiny_config("data.reader=null", f"data.prepared={tmp_path / 'missing'}"),
                          tmp_path / "third", per_class=1)
