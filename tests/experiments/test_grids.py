"""The grids hold the paper's rows: settings, occlusions, baselines of the Δ column."""
from __future__ import annotations

import pytest

from pygkd.experiments import GRIDS, build_grid
from pygkd.experiments.grids import table1, table5


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


def test_table1_rows():
    grid = table1(("mild", "severe"))
    assert len(grid.rows) == 1 + 2 * 3 * 2  # teacher, then w/o and w/ KD at 3 OPs per severity
    kd = grid.row("kd-op0.3-severe")
    assert (kd.method, kd.occlusion, kd.severity, kd.settings) == ("Student (w/ KD)", 0.3, "severe", {"student.loss": "pmsc"})
    assert kd.baseline == "student-op0.3-severe"
    assert grid.row("student-op0.3-severe").settings == {"student.loss": "none"}
    assert grid.row("teacher").role == "teacher" and grid.row("teacher").severity is None


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


def test_unknown_grid():
    with pytest.raises(KeyError, match="table1"):
        build_grid("table3")
