"""The one error path of the command line: every expected failure is one line on stderr with its exit code
(docs/usage.md), ``--debug`` adds the traceback, and nothing is left half-written."""
from __future__ import annotations

import errno
import gc
import io
import json
import os
import shutil
import struct
import sys
import weakref
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from cli.errors import EXIT_BUG, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_RUN_STATE, EXIT_UNTRUSTED, EXIT_USAGE, describe
from cli.main import main
from pygkd.data.raw import DataFormatError
from pygkd.engine import checkpoint as ckpt
from pygkd.engine import trainer
from pygkd.engine.distributed import PeerLost
from tests.data.mat_writer import header as mat_header
from tests.test_cli_pipeline import TINY


def invoke(*args: str | Path, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def fails(result: Result, code: int, *messages: str) -> str:
    """``result`` ended with ``code`` and one ``Error:`` line holding ``messages``, and no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for message in messages:
        assert message in errors[0], errors[0]
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes (``.*.tmp-*``) and prepare's ``*.partial-*`` folders."""
    return sorted(str(p) for p in folder.rglob("*") if ".tmp-" in p.name or ".partial-" in p.name)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> list[str]:
    """Common options of a tiny run whose config prepares its own data on first use."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "tiny.yaml").write_text(TINY)
    return ["--config", str(folder / "tiny.yaml"), "--device", "cpu"]


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory) -> Path:
    """A run folder whose teacher finished its 2 epochs."""
    out = tmp_path_factory.mktemp("finished")
    result = invoke("teacher", *tiny, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


# ------------------------------------------------------------------------------------------ the path


def test_debug_flag_and_environment_variable_show_the_traceback(tmp_path):
    bad = ["teacher", "--set", "teacher.lr=-1", "--out", tmp_path]
    fails(invoke(*bad), EXIT_INPUT, "--set: teacher.lr: expected a number in (0.0, inf], got -1")
    for result in (invoke("--debug", *bad), invoke(*bad, env={"PYGKD_DEBUG": "1"})):
        assert result.exit_code == EXIT_INPUT and "Traceback" in result.stderr and "ConfigError" in result.stderr
        assert "Error: --set: teacher.lr" in result.stderr


def test_a_bug_is_one_line_with_exit_code_70(tmp_path, monkeypatch):
    def bug(self):
        raise KeyError("oops")

    monkeypatch.setattr("pygkd.data.store.PreparedDataset.summary", bug)
    out = tmp_path / "data"
    assert invoke("prepare", "synthetic", "--out", out, "-o", "train_per_class=1", "-o", "test_per_class=1",
                  "-o", "frames=8").exit_code == EXIT_BUG
    fails(invoke("info", out), EXIT_BUG, "internal error (KeyError: 'oops'); rerun with --debug")


def test_ctrl_c_exits_130_without_a_traceback(tiny, tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train_epoch", interrupt)
    result = invoke("teacher", *tiny, "--out", tmp_path)
    assert result.exit_code == EXIT_INTERRUPTED and "interrupted" in result.stderr and "Traceback" not in result.output


def test_a_failed_command_frees_what_its_frames_held(tiny, tmp_path, monkeypatch):
    # under torchrun the failed frames hold the DistributedDataParallel model; kept alive until the process
    # exits, it can deadlock there (cli.errors.user_errors)
    trained = []

    def peer_died(model, *args, **kwargs):
        trained.append(weakref.ref(model))
        raise PeerLost("rank 0 of 2: another process of the run stopped; --resume")

    monkeypatch.setattr(trainer, "train_epoch", peer_died)
    result = invoke("teacher", *tiny, "--out", tmp_path)
    fails(result, EXIT_INPUT, "rank 0 of 2: another process of the run stopped")
    assert result.exc_info is not None  # the error chain is still held here, its frames' locals are not
    gc.collect()
    assert trained and trained[0]() is None


def test_an_error_raised_in_a_dataloader_worker_keeps_its_own_line():
    message = ("Caught DataFormatError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
               '  File "dataset.py", line 60, in load_graph\n    raise _non_finite(...)\n'
               "pygkd.data.raw.DataFormatError: data/x: sample #3 'a3', stream 'hq': non-finite value\n")
    assert describe(DataFormatError(message)) == ("data/x: sample #3 'a3', stream 'hq': non-finite value", EXIT_INPUT)
    assert describe(OSError(errno.EROFS, os.strerror(errno.EROFS), "runs/x")) == (
        "runs/x: Read-only file system; write elsewhere (--out)", EXIT_INPUT)
    assert describe(ZeroDivisionError("bug")) is None


def test_usage_errors_keep_click_exit_code_2(tmp_path):
    result = invoke("prepare", "no_such_reader", "--out", tmp_path / "x")
    assert result.exit_code == EXIT_USAGE and "unknown dataset 'no_such_reader'" in result.output
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------------------------------- config and devices


@pytest.mark.parametrize("setting, message", [
    ("teacher.momentum=1.5", "teacher.momentum: expected a number in [0.0, 1.0], got 1.5"),
    ("teacher.weight_decay=-0.1", "teacher.weight_decay: expected a number in [0.0, inf], got -0.1"),
    ("student.gamma=0", "student.gamma: expected a number in (0.0, 1.0], got 0"),
    ("allow_modules=[os system]", "allow_modules: expected a list of module names"),
])
def test_invalid_optimiser_values_name_the_key(tmp_path, setting, message):
    fails(invoke("teacher", "--set", setting, "--out", tmp_path), EXIT_INPUT, message)


def test_nesterov_without_momentum_is_refused_before_training(tmp_path):
    fails(invoke("teacher", "--set", "teacher.nesterov=true", "--set", "teacher.momentum=0", "--out", tmp_path),
          EXIT_INPUT, "teacher.nesterov: true needs teacher.momentum > 0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_where_there_is_none(tiny, finished):
    fails(invoke("eval", *tiny, "--out", finished, "--role", "teacher", "--device", "cuda"), EXIT_INPUT,
          "device: --device 'cuda': CUDA is not available on this machine")


def test_unknown_stream_and_transform_name_the_key(tiny, finished):
    # matrix reads the config's chain (eval and predict read the checkpoint's)
    fails(invoke("matrix", *tiny, "--out", finished, "--set", "data.hq.stream=mocap"),
          EXIT_INPUT, "data.hq.stream:", "has no stream 'mocap'; its streams: ['hq', 'lq']")
    fails(invoke("matrix", *tiny, "--out", finished, "--set",
                 "data.hq.transforms=[{name: NoSuchTransform}]"), EXIT_INPUT, "transform #0 'NoSuchTransform'")
    fails(invoke("matrix", *tiny, "--out", finished, "--set",
                 "data.hq.transforms=[{name: 'json:dumps'}]"), EXIT_INPUT,
          "transform #0 'json:dumps': not a transform")


def test_undecodable_config_names_the_file(tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("name: caf\xe9\n".encode("latin-1"))
    fails(invoke("teacher", "--config", config, "--out", tmp_path), EXIT_INPUT,
          f"{config}: not a text file (byte 9 is not UTF-8)")


# ------------------------------------------------------------------------------------------ readers


@pytest.fixture
def reader_module(tmp_path, monkeypatch) -> str:
    """A module of reader-like functions on sys.path."""
    (tmp_path / "my_readers.py").write_text(
        "def returns_dict(root=None):\n    return {'samples': []}\n\n"
        "def annotated(root=None) -> int:\n    raise AssertionError('called')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_readers"
    sys.modules.pop("my_readers", None)


def test_a_reader_must_return_a_dataset(tmp_path, reader_module):
    fails(invoke("prepare", f"{reader_module}:returns_dict", "--out", tmp_path / "out"), EXIT_INPUT,
          "the reader 'my_readers:returns_dict' returned a dict, expected a RawDataset")
    result = invoke("prepare", f"{reader_module}:annotated", "--out", tmp_path / "out")  # refused before the call
    assert result.exit_code == EXIT_USAGE
    assert "is not a reader: expected a function returning a RawDataset" in result.output
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_bad_reader_option_value_is_a_usage_error(tmp_path):
    result = invoke("prepare", "synthetic", "--out", tmp_path / "out", "-o", "severity=ultra")
    assert result.exit_code == EXIT_USAGE and "Traceback" not in result.output
    assert "Invalid value for --option: synthetic: unknown severity 'ultra'" in result.stderr
    assert not (tmp_path / "out").exists()


def npz_dataset(path: Path) -> Path:
    keypoints = np.random.default_rng(0).random((4, 1, 2 * 8 * 17 * 2)).astype(np.float32).reshape(4, 1, 16, 17, 2)
    np.savez(path, labels=np.array([0, 1, 0, 1]), hq_layout=np.array("coco17"), hq_keypoints=keypoints,
             split_train=np.array([0, 1, 2, 3]))
    return path


def test_corrupt_npz_member_is_one_line_and_leaves_nothing(tmp_path):
    path = npz_dataset(tmp_path / "mine.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    fails(invoke("prepare", "npz", "--root", path, "--out", tmp_path / "out"), EXIT_INPUT,
          f"{path}: key 'hq_keypoints':", "Bad CRC-32")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_zip_bombs_are_refused_through_prepare(tmp_path):
    """A few KB that declare gigabytes: an npz member and a MAT-file compressed element (Penn Action's format)."""
    npz = npz_dataset(tmp_path / "bomb.npz")
    with zipfile.ZipFile(npz) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (4, 1, 2**28, 17, 2)})
    members["hq_keypoints.npy"] = header.getvalue() + bytes(2**20)
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert npz.stat().st_size < 10_000
    fails(invoke("prepare", "npz", "--root", npz, "--out", tmp_path / "a"), EXIT_INPUT,
          f"{npz}: key 'hq_keypoints': the array float32[4, 1, 268435456, 17, 2] declares 146028888064 bytes, "
          "more than the limit of 1073741824 (reader option max_member_bytes)")

    labels = tmp_path / "penn" / "labels"
    labels.mkdir(parents=True)
    stream = zlib.compress(struct.pack("<II", 14, 3 * 2**30) + bytes(4 * 2**20), 9)  # miMATRIX of 3 GB
    (labels / "0001.mat").write_bytes(mat_header() + struct.pack("<II", 15, len(stream)) + stream)
    fails(invoke("prepare", "penn_action", "--root", tmp_path / "penn", "--out", tmp_path / "b"), EXIT_INPUT,
          f"{labels / '0001.mat'}: variable at byte 128: compressed element declares {8 + 3 * 2**30} bytes, more "
          "than the limit of 268435456")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------- disk and rights


def test_disk_full_while_preparing_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("pygkd.data.store.os.fsync", full)
    out = tmp_path / "data"
    fails(invoke("prepare", "npz", "--root", npz_dataset(tmp_path / "mine.npz"), "--out", out), EXIT_INPUT,
          f"{out}: No space left on device; free disk space or write elsewhere")
    assert not out.exists() and leftovers(tmp_path) == []


def test_disk_full_while_checkpointing_keeps_no_partial_file(tiny, tmp_path, monkeypatch):
    real_save = torch.save

    def half_then_full(obj, file):
        real_save({"half": torch.zeros(3)}, file)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "run"
    assert invoke("teacher", *tiny, "--out", out, "--epochs", "1").exit_code == 0  # prepares the data
    monkeypatch.setattr(ckpt.torch, "save", half_then_full)
    fails(invoke("teacher", *tiny, "--out", out, "--overwrite"), EXIT_INPUT,
          f"{out / 'teacher' / 'checkpoint_best.pt'}: No space left on device")
    assert not (out / "teacher" / "checkpoint_best.pt").exists() and leftovers(out) == []


def test_permission_denied_on_the_report_names_it(tiny, finished, tmp_path, monkeypatch):
    run = copy_run(finished, tmp_path)

    def denied(src, dst):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("pygkd.atomic.os.replace", denied)  # as root, chmod would not stop the write
    fails(invoke("eval", *tiny, "--out", run, "--role", "teacher"), EXIT_INPUT,
          f"{run / 'eval' / 'teacher_test.json'}: Permission denied; check the permissions")
    assert leftovers(run) == [] and not (run / "eval" / "teacher_test.json").exists()


# ------------------------------------------------------------------------------- unfinished runs


def test_a_killed_run_is_refused_until_resumed(tiny, tmp_path, monkeypatch):
    real_save = trainer.save_checkpoint

    def killed_after_epoch_1(state, path):
        real_save(state, path)
        if Path(path).name == ckpt.LAST:
            raise KeyboardInterrupt  # kill -INT right after the first epoch's checkpoint

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "save_checkpoint", killed_after_epoch_1)
        assert invoke("teacher", *tiny, "--out", out).exit_code == EXIT_INTERRUPTED
    teacher = out / "teacher"
    state = ckpt.load_checkpoint(teacher / ckpt.LAST)
    assert (state["epoch"], state["epochs_planned"], state["completed"]) == (1, 2, False)

    unfinished = "unfinished run: the teacher trained 1 of 2 epochs; finish it with `pygkd teacher --resume`"
    fails(invoke("matrix", *tiny, "--out", out), EXIT_RUN_STATE, str(teacher / ckpt.BEST), unfinished)
    fails(invoke("eval", *tiny, "--out", out, "--role", "teacher"), EXIT_RUN_STATE, unfinished)
    fails(invoke("student", *tiny, "--out", out), EXIT_RUN_STATE, unfinished)
    fails(invoke("teacher", *tiny, "--out", out), EXIT_RUN_STATE,
          f"{teacher}: already holds a teacher run (unfinished, 1 of 2 epochs); pass --resume")
    assert not (out / "student").exists()
    assert invoke("matrix", *tiny, "--out", out, "--allow-unfinished").exit_code == 0

    assert invoke("teacher", *tiny, "--out", out, "--resume").exit_code == 0
    best = ckpt.load_checkpoint(teacher / ckpt.BEST)
    assert best["completed"] and best["epochs_planned"] == 2
    assert invoke("matrix", *tiny, "--out", out).exit_code == 0
    fails(invoke("teacher", *tiny, "--out", out), EXIT_RUN_STATE, "(finished, 2 epochs)", "--overwrite")


def test_overwrite_starts_again(tiny, finished, tmp_path):
    run = copy_run(finished, tmp_path)
    result = invoke("teacher", *tiny, "--out", run, "--overwrite", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert [json.loads(r)["epoch"] for r in (run / "teacher" / "metrics.jsonl").read_text().splitlines()] == [1]
    assert ckpt.load_checkpoint(run / "teacher" / ckpt.BEST)["epochs_planned"] == 1


def test_training_prints_a_line_per_epoch_off_a_terminal(finished, tiny, tmp_path):
    result = invoke("teacher", *tiny, "--out", copy_run(finished, tmp_path), "--overwrite")
    lines = [line for line in result.stderr.splitlines() if line.startswith("teacher")]
    assert lines[0] == "teacher: epochs 1-2 on cpu, float32 (amp off), 1 process"
    lines = lines[1:]
    assert [line.split(":")[0] for line in lines] == ["teacher epoch 1/2", "teacher epoch 2/2"]
    assert "loss " in lines[0] and "val top-1 " in lines[0] and "ETA" in lines[0]


# --------------------------------------------------------------------------------- checkpoints


def edited_checkpoint(run: Path, edit) -> Path:
    path = run / "teacher" / ckpt.BEST
    state = ckpt.load_checkpoint(path)
    edit(state)
    ckpt.save_checkpoint(state, path)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["card"].pop("in_channels"), "model card: missing field 'in_channels'"),
    (lambda s: s["card"].update(in_channels="3"), "model card: field 'in_channels' must be int, got str"),
    (lambda s: s["card"].update(class_names=s["card"]["class_names"][:-1]),
     "the weights do not fit the model card (Error(s) in loading state_dict"),
    (lambda s: s["model"].popitem(), "the weights do not fit the model card"),
    (lambda s: s.pop("card"), "no model card"),
])
def test_malformed_checkpoints_are_one_line(tiny, finished, tmp_path, edit, message):
    path = edited_checkpoint(copy_run(finished, tmp_path), edit)
    fails(invoke("eval", *tiny, "--checkpoint", path, "--out", tmp_path / "run"), EXIT_INPUT, str(path), message)


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """A module that, when imported, writes a marker file (what a malicious checkpoint would run)."""
    marker = tmp_path / "imported"
    (tmp_path / "evil_layers.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("evil_layers", None)


@pytest.mark.parametrize("target", ["evil_layers:Evil", "os:system"])
@pytest.mark.parametrize("key", ["backbone", "layer"])
def test_a_checkpoint_naming_a_foreign_module_is_refused_before_importing_it(
    tiny, finished, tmp_path, marker_module, target, key
):
    path = edited_checkpoint(copy_run(finished, tmp_path), lambda s: s["card"]["spec"].update({key: target}))
    module = target.split(":")[0]
    fails(invoke("eval", *tiny, "--checkpoint", path, "--out", tmp_path / "run"), EXIT_UNTRUSTED,
          f"{path}: names {target!r}, code in module {module!r} that pygkd does not register",
          f"--allow-module {module}")
    assert not marker_module.exists()


def test_an_allowed_module_is_imported(tiny, finished, tmp_path, marker_module):
    path = edited_checkpoint(copy_run(finished, tmp_path), lambda s: s["card"]["spec"].update(layer="evil_layers:Evil"))
    fails(invoke("eval", *tiny, "--checkpoint", path, "--out", tmp_path / "run", "--allow-module", "evil_layers"),
          EXIT_INPUT, "is not a subclass of torch_geometric.nn.conv.message_passing.MessagePassing")
    assert marker_module.read_text() == "ran"


# ------------------------------------------------------------------------------------ part matrix


@pytest.mark.parametrize("array, message", [
    (np.full((11, 4), 0.25, np.float32), "expected E as floats [K, 5], got float32[11, 4]"),
    (np.full((11, 5), 1, np.int64), "expected E as floats [K, 5], got int64[11, 5]"),
    (np.where(np.eye(11, 5, dtype=bool), np.nan, 0.2).astype(np.float32), "non-finite value nan at class 0, part 0"),
])
def test_bad_part_matrix_files_are_one_line(tiny, finished, tmp_path, array, message):
    run = copy_run(finished, tmp_path)
    assert invoke("matrix", *tiny, "--out", run).exit_code == 0
    np.save(run / "matrix" / "part_matrix.npy", array)
    fails(invoke("student", *tiny, "--out", run), EXIT_INPUT, str(run / "matrix" / "part_matrix.npy"), message)
    assert not (run / "student" / ckpt.LAST).exists()


def test_non_finite_prepared_data_is_refused_naming_the_sample(tiny, finished, tmp_path):
    run = copy_run(finished, tmp_path)
    frames = np.load(run / "data" / "hq.frames.npy", mmap_mode="r+")
    frames[0, 0, 3, 1] = np.inf
    frames.flush()
    del frames
    fails(invoke("teacher", *tiny, "--out", run, "--overwrite"), EXIT_INPUT,
          f"{run / 'data'}: sample #0", "stream 'hq': non-finite value in the stored keypoints (person 0, frame 0, "
          "joint 3, channel 1)")
