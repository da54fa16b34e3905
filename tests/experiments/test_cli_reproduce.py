"""``pygkd reproduce`` end to end: every grid on a slice of the synthetic data and of each public dataset
(skipped without ../shared/data), and its usage errors."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from pygkd.experiments import build_grid, load_budget, read_records
from tests.conftest import shared_data

GRIDS = ("table1", "table3", "table4", "table5")
SYNTHETIC_LQ = ("data.lq={stream: hq, transforms: [{name: SynthesizeLQ, target: coco17}, "
                "{name: FixLength, length: 16}, {name: Normalize, coords: 2}]}")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["reproduce", *map(str, args)])


def check_grids(root: Path, severities=(None,)) -> None:
    for name in GRIDS:
        records = read_records(root / name / "rows.jsonl")
        grid = build_grid(name, severities, load_budget("smoke").backbones)
        assert [r["row"] for r in records] == [row.key for row in grid.rows]
        assert all(0 <= r["top1"] <= 100 and r["seconds"]["total"] >= 0 for r in records)
        assert "pending" not in (root / name / "table.md").read_text()


@pytest.mark.slow
def test_every_grid_on_synthetic_data(tmp_path):
    result = run(*GRIDS, "-c", "demo", "-b", "smoke", "--results", tmp_path, "--severity", "severe",
                 "--set", SYNTHETIC_LQ)
    assert result.exit_code == 0, result.output
    check_grids(tmp_path / "demo" / "smoke", ("severe",))
    assert "| Student (w/ KD) | LQ (severe) | 0.6 |" in result.output

    again = run("table1", "-c", "demo", "-b", "smoke", "--results", tmp_path, "--severity", "severe", "--set",
                SYNTHETIC_LQ)
    assert again.exit_code == 0 and again.output.count("done before") == len(build_grid("table1", ("severe",)).rows)

    mild = run("table1", "-c", "demo", "-b", "smoke", "--results", tmp_path, "--severity", "mild", "--set",
               SYNTHETIC_LQ)
    assert mild.exit_code == 0 and mild.output.count("done before") == 1  # the shared teacher
    table = (tmp_path / "demo" / "smoke" / "table1" / "table.md").read_text()
    assert "| Student (w/ KD) | LQ (mild) | 0.6 |" in table and "| Student (w/ KD) | LQ (severe) | 0.6 |" in table


@pytest.mark.slow
def test_protocols_grid_on_synthetic_data(tmp_path):
    """One OP of each protocol (the other OP runs the same code): every row's training and test occlusion."""
    result = run("protocols", "-c", "demo", "-b", "smoke", "--results", tmp_path, "--rows", "teacher",
                 "--rows", "kd-*-op0.6")
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "demo" / "smoke" / "protocols" / "rows.jsonl")
    grid = build_grid("protocols")
    assert [r["row"] for r in records] == [row.key for row in grid.rows if row.key == "teacher" or "op0.6" in row.key]
    for record in records[1:]:
        row = grid.row(record["row"])
        occlude = record["config"]["data"]["lq"]["train_transforms"][-1]
        assert occlude == {"name": "OccludeJoints", "p": 0.6, **({} if row.protocol == "clip" else
                                                                  {"protocol": row.protocol})}
        tested = "clip" if row.protocol == "clip_redraw" else row.protocol
        assert record["config"]["eval"]["occlusion_protocol"] == tested and 0 <= record["top1"] <= 100
    assert "| Student (w/ KD) | LQ | span | 0.6 |" in result.output


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("config, folder", [("penn_action", "penn_action"), ("ui_prmd", "ui_prmd"),
                                            ("msr_action3d", "msr_action3d")])
def test_every_grid_on_a_slice_of_real_data(tmp_path, config, folder):
    root = shared_data(folder)
    result = run(*GRIDS, "-c", config, "-b", "smoke", "--results", tmp_path, "--set", f"data.root={root}")
    assert result.exit_code == 0, result.output
    check_grids(tmp_path / config / "smoke")
    first = read_records(tmp_path / config / "smoke" / "table1" / "rows.jsonl")[0]
    assert first["config"]["data"]["prepared"] == str(tmp_path / config / "smoke" / "data")  # the slice


@pytest.mark.parametrize(
    "args, message",
    [
        (["table9"], "'table9' is not one of"),
        (["table1", "--seeds", "0,x"], "expected comma-separated integers"),
        (["table1", "--budget", "nope"], "no budget 'nope'"),
        (["table1", "--set", "student.loss=hinge"], "student.loss: expected one of"),
        (["table1", "--severity", "extreme"], "unknown severity 'extreme'"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    result = run(*args, "-c", "demo", "--results", tmp_path)
    assert result.exit_code != 0 and message in result.output, result.output


@pytest.mark.slow
def test_variants_grid_on_synthetic_data(tmp_path):
    """Every variant row of the grid trains and is tabled (one OP, to keep it short)."""
    result = run("variants", "-c", "demo", "-b", "smoke", "--results", tmp_path, "--severity", "severe",
                 "--rows", "*-op0.6-severe", "--set", SYNTHETIC_LQ)
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "demo" / "smoke" / "variants" / "rows.jsonl")
    expected = [row.key for row in build_grid("variants", ("severe",)).rows if row.key.endswith("-op0.6-severe")]
    assert [r["row"] for r in records] == expected and len(expected) == 7
    table = (tmp_path / "demo" / "smoke" / "variants" / "table.md").read_text()
    assert "| Student (w/ KD) | LQ (severe) | τ learned | 0.6 |" in table
    assert "| Student (w/ KD) | LQ (severe) | bank = all | 0.6 |" in table
