"""``torchrun --nproc_per_node 2 -m cli.main ...`` on the CPU (gloo, one thread per process): the runs finish,
rank 0 alone writes, a killed run resumes, and the metrics are those of one process with the same global batch."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pygkd.engine.checkpoint import BEST, LAST, load_checkpoint
from pygkd.engine.config import load_config
from pygkd.engine.logger import read_metrics
from pygkd.engine.stages import compute_part_matrix, evaluate_model, train_student, train_teacher

ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = {"config.yaml", "metrics.jsonl", LAST, BEST}


def run_files(folder: Path) -> set[str]:
    """The files of a run folder, TensorBoard's event files aside (temporary files would show)."""
    return {p.name for p in folder.iterdir() if not p.name.startswith("events.out.tfevents")}


def torchrun(*args: str, launch: tuple[str, ...] = ("--standalone", "--nproc_per_node", "2")) -> subprocess.Popen:
    """``torchrun LAUNCH -m cli.main ARGS`` (by default 2 processes on this node) in its own process group."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    command = [sys.executable, "-m", "torch.distributed.run", *launch, "-m", "cli.main", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 120) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def overrides(cfg_sets: list[str]) -> list[str]:
    return [arg for item in cfg_sets for arg in ("--set", item)]


def assert_same_metrics(path_a: Path, path_b: Path) -> None:
    """Same epochs and learning rates; losses equal to fp tolerance (the gradient averaging and synchronised
    batch norm reorder float sums; a few SGD steps spread that to ~1e-4), accuracies to one sample."""
    a, b = read_metrics(path_a), read_metrics(path_b)
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == list(range(1, len(a) + 1))
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for key in ra:
            if key.endswith(("top1", "top5")):  # a count: one sample at a near-tie may flip (1/44 of the tiny split)
                assert abs(ra[key] - rb[key]) <= 0.03, (ra["epoch"], key)
            elif isinstance(ra[key], str):  # precision: pytest 9.2 refuses approx of a string
                assert ra[key] == rb[key], (ra["epoch"], key)
            elif key != "time_s":
                assert ra[key] == pytest.approx(rb[key], rel=2e-3, abs=1e-4), (ra["epoch"], key)


@pytest.fixture
def sets(tiny_overrides):
    return [*tiny_overrides, "threads=1"]


def test_a_killed_two_process_teacher_resumes_and_matches_one_process(sets, tmp_path):
    run = ["teacher", "-c", "base", *overrides(sets), "--set", "teacher.epochs=3", "--out", str(tmp_path / "ddp")]
    checkpoint = tmp_path / "ddp" / "teacher" / LAST
    process = torchrun(*run)
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGTERM)  # torchrun stops its workers
    process.communicate(timeout=60)
    killed_at = load_checkpoint(checkpoint)["epoch"]
    assert 1 <= killed_at < 3

    finish(torchrun(*run, "--resume"))
    assert run_files(checkpoint.parent) == RUN_FILES
    single = tmp_path / "single"
    train_teacher(_config(sets, "teacher.epochs=3", f"out={single}"))
    assert_same_metrics(checkpoint.parent / "metrics.jsonl", single / "teacher" / "metrics.jsonl")


def test_when_a_node_dies_the_other_ends_with_one_line_and_the_run_resumes(sets, tmp_path):
    # two nodes of one process each (c10d rendezvous on this machine); node 1, its worker and then its
    # launcher, is killed mid-run: node 0's worker must not hang but end with the one-line error, and the run
    # resumes from its last checkpoint in one process
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    launch = ("--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
              "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "node-dies")
    run = ["teacher", "-c", "base", *overrides(sets), "--set", "teacher.epochs=400", "--out", str(tmp_path)]
    node0 = torchrun(*run, launch=launch)  # first, so that it hosts the rendezvous store
    time.sleep(1)
    node1 = torchrun(*run, launch=launch)
    checkpoint = tmp_path / "teacher" / LAST
    try:
        while not checkpoint.exists() and node0.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        _kill_node(node1)
        killed = time.monotonic()
        output, _ = node0.communicate(timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        for node in (node0, node1):
            if node.poll() is None:
                _kill_node(node)
        node1.communicate()
    assert node0.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert errors and errors[0].startswith("Error: rank 0 of 2: another process of the run stopped"), output[-3000:]
    assert "--resume" in errors[0]
    done = load_checkpoint(checkpoint)["epoch"]
    assert 1 <= done < 400
    resumed = load_config("base", [*sets, "teacher.epochs=" + str(done + 1), f"out={tmp_path}"])
    train_teacher(resumed, resume=True)
    assert load_checkpoint(checkpoint)["epoch"] == done + 1


def _kill_node(launcher: subprocess.Popen) -> None:
    """SIGKILL a node: its workers (torchrun starts each in a session of its own), then the launcher's group."""
    for worker in _children(launcher.pid):
        os.kill(worker, signal.SIGKILL)
    os.killpg(launcher.pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux's /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path("/proc", entry, "stat").read_text() if entry.isdigit() else ""
        except OSError:  # gone meanwhile
            continue
        if stat and int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def test_a_two_process_pipeline_with_pmsc_matches_one_process(sets, tmp_path):
    # the live teacher (cache_teacher false) on the pair dataset: each rank distils from the teacher rows of
    # the whole global batch
    sets = [*sets, "teacher.epochs=1", "student.cache_teacher=false"]
    output = finish(torchrun("pipeline", "-c", "base", *overrides(sets), "--no-baseline", "--out",
                             str(tmp_path / "ddp")))
    assert "Part matrix" in output
    single = _config(sets, f"out={tmp_path / 'single'}")
    train_teacher(single)
    matrix = compute_part_matrix(single)
    train_student(single)
    reports = {role: evaluate_model(single, role) for role in ("teacher", "student")}

    ddp = tmp_path / "ddp"
    for role in ("teacher", "student"):
        assert run_files(ddp / role) == RUN_FILES
        assert_same_metrics(ddp / role / "metrics.jsonl", tmp_path / "single" / role / "metrics.jsonl")
        report = json.loads((ddp / "eval" / f"{role}_test.json").read_text())
        assert report["num_samples"] == reports[role]["num_samples"]  # the shards are summed, each sample once
        assert report["confusion"] == reports[role]["confusion"]
    assert "train_pmsc" in read_metrics(ddp / "student" / "metrics.jsonl")[0]
    E = torch.from_numpy(np.load(ddp / "matrix" / "part_matrix.npy"))
    torch.testing.assert_close(E, matrix.E, rtol=0, atol=1e-6)


def _config(sets: list[str], *more: str) -> dict:
    return load_config("base", [*sets, *more])
