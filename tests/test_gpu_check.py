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
    assert [c[1:3] for c in commands[:2]] == [["-m", "pytest"], ["-m", "cli.main"]]
    pytest_args = commands[0]
    assert pytest_args[pytest_args.index("-m", 2) + 1] == "cuda"
    assert "cuda:" in (ROOT / "pyproject.toml").read_text()  # the marker is registered

    args = commands[1][3:]
    assert args[0] == "reproduce"
    ctx = reproduce.make_context("reproduce", args[1:])  # parses and validates every option, runs nothing
    assert ctx.params["grids"] == ("table1",) and ctx.params["occlusions"] == (0.6,)
    assert ctx.params["seeds"] == "0" and load_budget(ctx.params["budget"]).name == "paper"
    cfg = load_config(ctx.params["config"], ctx.params["overrides"])
    assert cfg["device"] == "cuda" and cfg["data"]["root"] == "gpu_data/penn_action"

    speed = [c for c in commands if c[1] == "benchmarks/backbone_speed.py"]
    assert len(speed) == 2 and {"--compile", "--precisions"} <= {flag for c in speed for flag in c}
    usage = subprocess.run([sys.executable, str(ROOT / speed[0][1]), "--help"], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    for flag in {a for c in speed for a in c if a.startswith("--")}:
        assert flag in usage, flag
