"""The grids hold the paper's rows: settings, occlusions, baselines of the Δ column."""
from __future__ import annotations

import json

import pytest

from pygkd.experiments import GRIDS, build_grid
from pygkd.engine.config import load_config
from pygkd.experiments import available_budgets, load_budget
from pygkd.experiments.budget import budget_overrides
from pygkd.experiments.grids import TABLE3_BACKBONES, protocols, select_rows, table1, table3, table5
from pygkd.nn import build_backbone
from pygkd.skeleton import get_layout


@pytest.mark.parametrize("name", list(GRIDS))
@pytest.mark.parametrize("severities", [(None,), ("mild", "severe")])
def test_keys_unique_and_baselines_exist(name, severities):
    grid = build_grid(name, severities)
    keys = [row.key for row in grid.rows]
    assert len(keys) == len(set(keys))
    for row in grid.rows:
        assert set(row.columns) == set(grid.columns)
        if row.baseline is not None:
            base = grid.row(row.baseline)
            assert base.role == "student" and base.occlusion == row.occlusion and base.severity == row.severity
            assert base.protocol == row.protocol


def test_table1_rows():
    grid = table1(("mild", "severe"))
    assert len(grid.rows) == 1 + 2 * 3 * 2  # teacher, then w/o and w/ KD at 3 OPs per severity
    kd = grid.row("kd-op0.3-severe")
    assert (kd.method, kd.occlusion, kd.severity, kd.settings) == ("Student (w/ KD)", 0.3, "severe", {"student.loss": "pmsc"})
    assert kd.baseline == "student-op0.3-severe"
    assert grid.row("student-op0.3-severe").settings == {"student.loss": "none"}
    assert grid.row("teacher").role == "teacher" and grid.row("teacher").severity is None


def test_protocols_rows():
    grid = protocols(("severe",))
    assert grid.columns == ("Skeleton", "Protocol", "OP") and grid.name == "protocols"
    assert len(grid.rows) == 1 + 4 * 2 * 2  # teacher, then w/o and w/ KD at 2 OPs for 4 protocols
    assert [row.key for row in grid.rows[1:5]] == ["student-clip-op0.3-severe", "kd-clip-op0.3-severe",
                                                   "student-clip-op0.6-severe", "kd-clip-op0.6-severe"]
    kd = grid.row("kd-clip_redraw-op0.3-severe")
    assert (kd.method, kd.occlusion, kd.protocol, kd.severity, kd.settings, kd.baseline) == (
        "Student (w/ KD)", 0.3, "clip_redraw", "severe", {"student.loss": "pmsc"}, "student-clip_redraw-op0.3-severe")
    assert kd.columns == {"Skeleton": "LQ (severe)", "Protocol": "clip_redraw", "OP": 0.3}
    plain = grid.row("student-span-op0.6-severe")
    assert (plain.protocol, plain.occlusion, plain.settings, plain.baseline) == ("span", 0.6, {"student.loss": "none"},
                                                                                 None)
    assert {row.protocol for row in grid.rows[1:]} == {"clip", "clip_redraw", "frame", "span"}
    assert grid.row("teacher").role == "teacher" and grid.row("teacher").occlusion == 0.0
    assert all(row.protocol == "clip" for row in table1().rows)


def test_table4_losses():
    grid = build_grid("table4")
    assert [row.settings["student.loss"] for row in grid.rows] == ["none", "kl", "global_msc", "pmsc"]
    assert all(row.occlusion == 0 for row in grid.rows)


def test_table5_settings():
    grid = table5(fractions=(0.8,))
    rows = {row.key: row for row in grid.rows}
    assert rows["teacher-hq0.8"].settings == {"student.hq_fraction": 0.8}
    assert rows["student-hq0.8"].settings == {"student.hq_fraction": 0.8, "student.loss": "none",
                                              "student.use_solitary": False}
    assert rows["kd-hq0.8-paired"].settings["student.use_solitary"] is False
    assert rows["kd-hq0.8-all"].settings["student.use_solitary"] is True
    assert rows["kd-hq0.8-all"].baseline == "kd-hq0.8-paired"
    assert rows["kd-hq0.8-all"].columns == {"Skeleton": "LQ", "HQ kept": "80%", "LQ used": "100%"}


def test_table3_gives_both_networks_each_block():
    grid = table3(("severe",))
    assert [row.columns["GCN blocks"] for row in grid.rows] == [name for name in TABLE3_BACKBONES for _ in range(3)]
    assert grid.row("teacher-st-gcn").settings == {}  # the config's own ST-GCN: shared with table1
    kd = grid.row("kd-efficientgcn-b4-severe")
    assert kd.settings == {"model.teacher": {"backbone": "efficientgcn", "scale": 4},
                           "model.student": {"backbone": "efficientgcn", "scale": 4}, "student.loss": "pmsc"}
    assert kd.baseline == "student-efficientgcn-b4-severe" and kd.severity == "severe"
    custom = build_grid("table3", backbones={"Mine": {"layer": "my.module:Conv"}})
    assert [row.key for row in custom.rows] == ["teacher-mine", "student-mine", "kd-mine"]


@pytest.mark.parametrize("budget", available_budgets())
def test_every_budgets_table3_builds_valid_networks(budget):
    chosen = load_budget(budget)
    base = load_config("demo")
    for row in build_grid("table3", backbones=chosen.backbones).rows:
        overrides = [*budget_overrides(chosen, base), *(f"{k}={json.dumps(v)}" for k, v in row.settings.items())]
        cfg = load_config("demo", overrides)
        teacher = build_backbone(cfg["model"]["teacher"], get_layout("ntu25"), 3, 4)
        student = build_backbone(cfg["model"]["student"], get_layout("coco17"), 3, 4)
        assert type(teacher) is type(student) and teacher.feature_dim == student.feature_dim


def test_unknown_grid():
    with pytest.raises(KeyError, match="table1"):
        build_grid("table2")


def test_select_rows_keeps_the_matches_and_their_baselines():
    grid = table1(("severe",))
    chosen = select_rows(grid, ["teacher", "kd-op0.6*"])
    assert [r.key for r in chosen.rows] == ["teacher", "student-op0.6-severe", "kd-op0.6-severe"]
    assert [r.key for r in select_rows(grid, ["*-op0-*"]).rows] == ["student-op0-severe", "kd-op0-severe"]
    with pytest.raises(KeyError, match="'op9' matches no row of table1"):
        select_rows(grid, ["op9"])


def test_table1_at_chosen_occlusions_only():
    grid = build_grid("table1", occlusions=(0.6,))
    assert [row.key for row in grid.rows] == ["teacher", "student-op0.6", "kd-op0.6"]
    assert build_grid("table4", occlusions=(0.6,)).rows == build_grid("table4").rows  # other grids ignore it


def test_variants_grid_rows():
    from pygkd.engine.config import PMSC_VARIANTS as VARIANT_KEYS
    from pygkd.experiments.grids import variants

    grid = variants(("severe",))
    assert grid.columns == ("Skeleton", "Variant", "OP") and grid.name in GRIDS
    assert len(grid.rows) == 1 + 2 * 7  # teacher, then w/o KD, paper L_pmsc and 5 variants at OP 0.3 and 0.6
    bank = grid.row("kd-bank-op0.3-severe")
    assert bank.settings == {"student.loss": "pmsc", "student.bank": "all"}
    assert (bank.occlusion, bank.severity, bank.baseline) == (0.3, "severe", "student-op0.3-severe")
    assert grid.row("kd-taulearned-op0.6-severe").settings["student.phi_temperature"] == "learned"
    assert grid.row("kd-op0.6-severe").settings == {"student.loss": "pmsc"}
    assert grid.row("student-op0.6-severe").settings == {"student.loss": "none"}
    for row in grid.rows[1:]:  # one variant key at most, each a real key set away from its off value
        extra = {k: v for k, v in row.settings.items() if k != "student.loss"}
        assert len(extra) <= 1 and all(VARIANT_KEYS[k.split(".")[1]] != v for k, v in extra.items())
        load_config("demo", [f"{k}={json.dumps(v)}" for k, v in row.settings.items()])  # valid settings
    assert [r.key for r in build_grid("variants").rows][:4] == ["teacher", "student-op0.3", "kd-op0.3",
                                                                 "kd-bank-op0.3"]


def test_reproduce_occlusions_choose_the_ops_of_table1_and_variants():
    assert {row.occlusion for row in build_grid("variants", occlusions=(0.6,)).rows} == {0.0, 0.6}
    assert {row.occlusion for row in build_grid("table1", occlusions=(0.3,)).rows} == {0.0, 0.3}
    assert build_grid("table4", occlusions=(0.3,)) == build_grid("table4")  # a grid without OPs ignores them
