"""benchmarks/gpu_check.sh, checked on a CPU: valid bash, and every command it runs exists with those options."""
import os
import shlex
import subprocess
import sys
from pathlib import Path

from cli.reproduce import command as reproduce
from pygkd.engine.config import load_config
from pygkd.experiments.budget import load_budget

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def dry_run() -> list[list[str]]:
    env = {**os.environ, "GPU_CHECK_DRY_RUN": "1"}
    done = subprocess.run(["bash", str(SCRIPT), "out_dir"], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


def test_the_script_is_valid_bash_and_fails_loudly():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text and "timeout" in text and "cp -r ../shared/data/penn_action gpu_data/" in text
    assert "gpu_data/" in (ROOT / ".gitignore").read_text().split()
    done = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT / "tests", capture_output=True, text=True)  # no data here
    assert done.returncode == 1 and "gpu_data/penn_action/labels" in done.stderr


def test_its_commands_exist_with_those_options():
    commands = dry_run()
    assert [c[1] for c in commands] == ["-m", "benchmarks/backbone_speed.py", "-m", "benchmarks/backbone_speed.py"]
    assert [c[2] for c in commands[::2]] == ["pytest", "cli.main"]  # tests first, compiling last
    pytest_args = commands[0]
    assert pytest_args[pytest_args.index("-m", 2) + 1] == "cuda"
    assert "cuda:" in (ROOT / "pyproject.toml").read_text()  # the marker is registered

    args = commands[2][3:]
    assert args[0] == "reproduce"
    ctx = reproduce.make_context("reproduce", args[1:])  # parses and validates every option, runs nothing
    assert ctx.params["grids"] == ("table1",) and ctx.params["occlusions"] == (0.6,)
    assert ctx.params["seeds"] == "0" and load_budget(ctx.params["budget"]).name == "paper"
    cfg = load_config(ctx.params["config"], ctx.params["overrides"])
    assert cfg["device"] == "cuda" and cfg["data"]["root"] == "gpu_data/penn_action"

    speed = [c for c in commands if c[1] == "benchmarks/backbone_speed.py"]
    assert len(speed) == 2 and {"--compile", "--precisions"} <= set(speed[1]) - set(speed[0])
    usage = subprocess.run([sys.executable, str(ROOT / speed[0][1]), "--help"], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    for flag in {a for c in speed for a in c if a.startswith("--")}:
        assert flag in usage, flag


STUB_PYTHON = """#!/usr/bin/env bash
# stands in for the GPU machine's python: every step prints what it would, reproduce writes a table and fails
echo "$*" >> calls.txt
case "$*" in
  -) cat > /dev/null; echo "torch stub, CUDA stub";;
  "-m pytest "*) echo "3 passed";;
  benchmarks/backbone_speed.py*) echo "# backbone speed $*"; echo "| ntu25 | row |"; echo "not a table line";;
  "-m cli.main reproduce "*)
    mkdir -p "$OUT_DIR/results/penn_action-paper/table1"
    echo "| teacher | 90.0 |" > "$OUT_DIR/results/penn_action-paper/table1/table.md"
    echo "CUDA error: out of memory" >&2; exit 3;;
esac
"""


def test_a_failed_step_costs_only_its_own_results(tmp_path):
    (tmp_path / "gpu_data" / "penn_action" / "labels").mkdir(parents=True)
    stub = tmp_path / "python"
    stub.write_text(STUB_PYTHON)
    stub.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": str(stub), "OUT_DIR": str(out)}
    env.pop("GPU_CHECK_DRY_RUN", None)
    done = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert done.returncode == 1
    assert "failed: table1" in done.stderr and "see " + str(out / "table1.log") in done.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(calls) == 5 and "--compile" in calls[-1]  # env, tests, eager speed, table1, then compile still
    assert "out of memory" in (out / "table1.log").read_text()
    assert (out / "tables" / "table1.md").read_text() == "| teacher | 90.0 |\n"
    eager = (out / "tables" / "backbone_speed_eager.md").read_text().splitlines()
    assert eager[1] == "| ntu25 | row |" and eager[0].startswith("# backbone speed") and len(eager) == 2
    assert (out / "env.txt").read_text() == "torch stub, CUDA stub\n"
