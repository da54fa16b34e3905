"""The paper's experiment grids as lists of table rows.

A :class:`Row` is one line of a results table: a network (teacher or student) trained under one setting
and evaluated on the test split, written as config overrides on top of a dataset config and a budget.
A :class:`Grid` is a table: its rows, and the names of the columns that tell the rows apart.

* ``table1`` (paper Table 1): Teacher (HQ), Student w/o KD and Student w/ KD (LQ) at occlusion
  probabilities OP 0, 0.3, 0.6; the LQ skeletons are occluded in training and at test time.
* ``table3`` (Table 3, its GCN-block rows): teacher, Student w/o KD and w/ KD with each GCN block, teacher
  and student alike: ST-GCN, Js-AGCN (2s-AGCN's adaptive layer in the same block plan) and EfficientGCN.
* ``table4`` (Table 4): the student's distillation term: none / KL / global MSC / part MSC (``L_pmsc``).
* ``table5`` (Table 5): HQ kept for 80% and 70% of the training instances: the teacher on those, the
  student without and with KD on their LQ skeletons only, and with KD on all LQ skeletons (``D_sol`` too).
* ``variants`` (beyond the paper, issue 12): teacher, then at OP 0.3 and 0.6 the student w/o KD, w/ the
  paper's ``L_pmsc``, and w/ ``L_pmsc`` plus one variant key each (:data:`PMSC_VARIANTS`).
* ``protocols`` (beyond the paper): Student w/o KD and w/ KD at OP 0.3 and 0.6 under each occlusion protocol
  of :class:`~pygkd.data.transforms.OccludeJoints` (per clip, per clip redrawn every epoch, per frame, in
  spans); the test draw is fixed per sample and seed (``clip_redraw`` rows are tested per clip).

Grids over a synthesised LQ stream may repeat their student rows at several severities of
:data:`pygkd.data.lq_synthesis.SEVERITIES` (a ``Skeleton`` column).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

TABLE1_OCCLUSIONS = (0.0, 0.3, 0.6)
TABLE5_FRACTIONS = (0.8, 0.7)
PROTOCOLS = ("clip", "clip_redraw", "frame", "span")  # OccludeJoints.PROTOCOLS, in the table's order
PROTOCOL_OCCLUSIONS = (0.3, 0.6)
# Table 3's GCN blocks: name -> the backbone spec merged into both networks' specs ({} keeps the config's).
TABLE3_BACKBONES: dict[str, dict[str, Any]] = {
    "ST-GCN": {},
    "Js-AGCN": {"layer": "agcn", "channels": [64, 64, 64, 64, 128, 128, 128, 256, 256, 256],  # 2s-AGCN's plan
                "strides": [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]},
    "EfficientGCN-B4": {"backbone": "efficientgcn", "scale": 4},
}
VARIANT_OCCLUSIONS = (0.3, 0.6)
# The variants grid's rows beyond the paper's loss: key tag -> (Variant column, the one student.* key it sets).
PMSC_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "bank": ("bank = all", {"student.bank": "all"}),
    "tau0.1": ("τ = 0.1", {"student.phi_temperature": 0.1}),
    "taulearned": ("τ learned", {"student.phi_temperature": "learned"}),
    "head-mlp": ("part head mlp", {"student.part_head": "mlp"}),
    "occw": ("occlusion weights", {"student.occlusion_weight": True}),
}
LOSS_NAMES = {"none": "L_c", "kl": "L_c + KL", "global_msc": "L_c + global MSC", "pmsc": "L_c + L_pmsc"}


@dataclass(frozen=True)
class Row:
    """One line of a results table.

    Attributes:
        key: unique within its grid, stable across runs (``rows.jsonl`` and run folders use it).
        method: what the table calls it (``"Student (w/ KD)"``).
        role: the network evaluated: ``"teacher"`` (HQ test skeletons) or ``"student"`` (LQ).
        columns: the row's values of :attr:`Grid.columns` (``{"OP": 0.3}``).
        settings: dotted config keys -> values of this row (``{"student.loss": "none"}``).
        occlusion: OP, the probability that each LQ joint is occluded, in training and at test time.
        severity: the LQ synthesis severity, ``None`` for the config's own LQ stream.
        baseline: key of the row this one is compared to (the ``Δ top-1`` column), or ``None``.
        protocol: how the occlusion is drawn, an ``OccludeJoints`` protocol (``clip``: the paper's tables).
    """

    key: str
    method: str
    role: str
    columns: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    occlusion: float = 0.0
    severity: str | None = None
    baseline: str | None = None
    protocol: str = "clip"


@dataclass(frozen=True)
class Grid:
    """A results table: ``rows`` in display order, told apart by ``columns`` (plus ``Method``)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    def row(self, key: str) -> Row:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(f"grid {self.name} has no row {key!r}")


def _skeleton(severity: str | None) -> str:
    return "LQ" if severity is None else f"LQ ({severity})"


def _suffix(severity: str | None) -> str:
    return "" if severity is None else f"-{severity}"


def table1(severities: Sequence[str | None] = (None,), occlusions: Sequence[float] = TABLE1_OCCLUSIONS) -> Grid:
    """Teacher, then Student w/o KD and w/ KD (``L_pmsc``) at every OP, for every LQ severity."""
    rows = [Row("teacher", "Teacher", "teacher", {"Skeleton": "HQ", "OP": 0.0})]
    for severity in severities:
        for op in occlusions:
            columns = {"Skeleton": _skeleton(severity), "OP": op}
            plain = f"student-op{op:g}{_suffix(severity)}"
            rows.append(Row(plain, "Student (w/o KD)", "student", columns, {"student.loss": "none"}, op, severity))
            rows.append(Row(f"kd-op{op:g}{_suffix(severity)}", "Student (w/ KD)", "student", columns,
                            {"student.loss": "pmsc"}, op, severity, baseline=plain))
    return Grid("table1", "Part-level KD from HQ skeletons (paper Table 1)", ("Skeleton", "OP"), tuple(rows))


def table3(severities: Sequence[str | None] = (None,), backbones: Mapping[str, Mapping] | None = None) -> Grid:
    """For each GCN block of ``backbones`` (default :data:`TABLE3_BACKBONES`): teacher and Student w/o KD
    and w/ KD at OP 0, both networks with that block."""
    rows = []
    for name, spec in (TABLE3_BACKBONES if backbones is None else backbones).items():
        tag = "".join(ch if ch.isalnum() else "-" for ch in name.lower())
        model = {"model.teacher": dict(spec), "model.student": dict(spec)} if spec else {}
        rows.append(Row(f"teacher-{tag}", "Teacher", "teacher", {"GCN blocks": name, "Skeleton": "HQ"}, model))
        for severity in severities:
            columns = {"GCN blocks": name, "Skeleton": _skeleton(severity)}
            plain = f"student-{tag}{_suffix(severity)}"
            rows.append(Row(plain, "Student (w/o KD)", "student", columns, {**model, "student.loss": "none"},
                            severity=severity))
            rows.append(Row(f"kd-{tag}{_suffix(severity)}", "Student (w/ KD)", "student", columns,
                            {**model, "student.loss": "pmsc"}, severity=severity, baseline=plain))
    return Grid("table3", "GCN blocks under part-level KD (paper Table 3)", ("GCN blocks", "Skeleton"), tuple(rows))


def table4(severities: Sequence[str | None] = (None,)) -> Grid:
    """The student with each distillation term of :data:`LOSS_NAMES`, at OP 0."""
    rows = []
    for severity in severities:
        plain = f"loss-none{_suffix(severity)}"
        for loss, formula in LOSS_NAMES.items():
            rows.append(Row(
                f"loss-{loss}{_suffix(severity)}", "Student", "student",
                {"Skeleton": _skeleton(severity), "Loss": formula}, {"student.loss": loss},
                severity=severity, baseline=None if loss == "none" else plain,
            ))
    return Grid("table4", "Distillation losses (paper Table 4)", ("Skeleton", "Loss"), tuple(rows))


def table5(severities: Sequence[str | None] = (None,), fractions: Sequence[float] = TABLE5_FRACTIONS) -> Grid:
    """For each HQ fraction: teacher, student on the paired LQ skeletons w/o and w/ KD, and w/ KD on all."""
    rows = []
    for fraction in fractions:
        kept = {"student.hq_fraction": fraction}
        pct = f"{fraction:.0%}"
        rows.append(Row(f"teacher-hq{fraction:g}", "Teacher", "teacher",
                        {"Skeleton": "HQ", "HQ kept": pct, "LQ used": "—"}, kept))
        for severity in severities:
            plain = f"student-hq{fraction:g}{_suffix(severity)}"
            paired = f"kd-hq{fraction:g}-paired{_suffix(severity)}"
            columns = {"Skeleton": _skeleton(severity), "HQ kept": pct}
            rows += [
                Row(plain, "Student (w/o KD)", "student", {**columns, "LQ used": pct},
                    {**kept, "student.loss": "none", "student.use_solitary": False}, severity=severity),
                Row(paired, "Student (w/ KD)", "student", {**columns, "LQ used": pct},
                    {**kept, "student.loss": "pmsc", "student.use_solitary": False}, severity=severity,
                    baseline=plain),
                Row(f"kd-hq{fraction:g}-all{_suffix(severity)}", "Student (w/ KD)", "student",
                    {**columns, "LQ used": "100%"}, {**kept, "student.loss": "pmsc", "student.use_solitary": True},
                    severity=severity, baseline=paired),
            ]
    return Grid("table5", "Partial HQ and solitary LQ skeletons (paper Table 5)", ("Skeleton", "HQ kept", "LQ used"),
                tuple(rows))


def variants(severities: Sequence[str | None] = (None,), occlusions: Sequence[float] = VARIANT_OCCLUSIONS) -> Grid:
    """Teacher, then at every OP: Student w/o KD, w/ KD (the paper's ``L_pmsc``) and w/ ``L_pmsc`` plus each
    variant of :data:`PMSC_VARIANTS` (Δ against the w/o KD row of the same OP and severity)."""
    rows = [Row("teacher", "Teacher", "teacher", {"Skeleton": "HQ", "Variant": "—", "OP": 0.0})]
    for severity in severities:
        for op in occlusions:
            columns = {"Skeleton": _skeleton(severity), "OP": op}
            plain = f"student-op{op:g}{_suffix(severity)}"
            rows.append(Row(plain, "Student (w/o KD)", "student", {**columns, "Variant": "—"},
                            {"student.loss": "none"}, op, severity))
            rows.append(Row(f"kd-op{op:g}{_suffix(severity)}", "Student (w/ KD)", "student",
                            {**columns, "Variant": "L_pmsc (paper)"}, {"student.loss": "pmsc"}, op, severity,
                            baseline=plain))
            for tag, (name, setting) in PMSC_VARIANTS.items():
                rows.append(Row(f"kd-{tag}-op{op:g}{_suffix(severity)}", "Student (w/ KD)", "student",
                                {**columns, "Variant": name}, {"student.loss": "pmsc", **setting}, op, severity,
                                baseline=plain))
    return Grid("variants", "Variants of L_pmsc beyond the paper (issue 12)", ("Skeleton", "Variant", "OP"),
                tuple(rows))


def protocols(severities: Sequence[str | None] = (None,),
              occlusions: Sequence[float] = PROTOCOL_OCCLUSIONS) -> Grid:
    """Teacher, then Student w/o KD and w/ KD (``L_pmsc``) under every occlusion protocol of
    :data:`PROTOCOLS` at every OP of ``occlusions``, for every LQ severity."""
    rows = [Row("teacher", "Teacher", "teacher", {"Skeleton": "HQ", "Protocol": "—", "OP": 0.0})]
    for severity in severities:
        for protocol in PROTOCOLS:
            for op in occlusions:
                columns = {"Skeleton": _skeleton(severity), "Protocol": protocol, "OP": op}
                tag = f"{protocol}-op{op:g}{_suffix(severity)}"
                rows.append(Row(f"student-{tag}", "Student (w/o KD)", "student", columns, {"student.loss": "none"},
                                op, severity, protocol=protocol))
                rows.append(Row(f"kd-{tag}", "Student (w/ KD)", "student", columns, {"student.loss": "pmsc"},
                                op, severity, baseline=f"student-{tag}", protocol=protocol))
    return Grid("protocols", "Part-level KD under each occlusion protocol", ("Skeleton", "Protocol", "OP"),
                tuple(rows))


def select_rows(grid: Grid, patterns: Sequence[str]) -> Grid:
    """``grid`` with only the rows whose key matches one of the shell-style ``patterns`` (``"*-op0.6*"``),
    and the baseline rows they are compared to.

    Raises:
        KeyError: a pattern that matches no row (names the row keys there are).
    """
    keys = [row.key for row in grid.rows]
    for pattern in patterns:
        if not fnmatch.filter(keys, pattern):
            raise KeyError(f"--rows {pattern!r} matches no row of {grid.name}; its rows: {keys}")
    chosen = {row.key for row in grid.rows if any(fnmatch.fnmatchcase(row.key, p) for p in patterns)}
    chosen |= {row.baseline for row in grid.rows if row.key in chosen and row.baseline}
    return replace(grid, rows=tuple(row for row in grid.rows if row.key in chosen))


GRIDS: dict[str, Callable[..., Grid]] = {"table1": table1, "table3": table3, "table4": table4, "table5": table5,
                                        "variants": variants, "protocols": protocols}
# The grids whose rows repeat at several OPs (``reproduce --occlusion`` chooses them).
OCCLUSION_GRIDS = ("table1", "variants", "protocols")


def build_grid(
    name: str, severities: Sequence[str | None] = (None,), backbones: Mapping[str, Mapping] | None = None,
    occlusions: Sequence[float] = (),
) -> Grid:
    """The grid called ``name`` (a key of :data:`GRIDS`) with its student rows at each severity;
    ``backbones`` (a budget's) replaces :data:`TABLE3_BACKBONES` in ``table3``, ``occlusions`` (when given)
    the OPs of the grids that have several (:data:`OCCLUSION_GRIDS`)."""
    if name not in GRIDS:
        raise KeyError(f"unknown grid {name!r}; expected one of {list(GRIDS)}")
    if name in OCCLUSION_GRIDS and occlusions:
        return GRIDS[name](severities, occlusions)
    return table3(severities, backbones) if name == "table3" else GRIDS[name](severities)
