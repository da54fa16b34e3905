"""Run a grid end to end — teachers, part matrices, students, evaluations — resumably.

Everything of one dataset config and budget lives in one results folder::

    <root>/data/                     the prepared dataset (and stored synthesised LQ copies, lq-*)
    <root>/runs/teacher-<digest>/    teacher/, matrix/, eval/, summary.json  (one per seed and HQ fraction)
    <root>/runs/student-<digest>/    student/, eval/, summary.json           (one per distinct student config)
    <root>/<grid>/rows.jsonl         one record per finished row and seed (append-only)
    <root>/<grid>/table.md, table.csv

A training run is named by the digest of the part of the config it depends on (:func:`config_digest`),
so rows that share a teacher (same data, seed, HQ fraction and budget) share one trained teacher and one
part matrix, and a student that two grids both list (table1's OP 0 students are table4's ``none`` and
``pmsc``) is trained once. A run writes ``summary.json`` last; an unfinished one resumes from its
``checkpoint_last.pt``. Rows run seed by seed, so the first seed's table is complete first.

The digests cover the resolved config, defaults included, except :data:`LOCATION_KEYS` (where files are,
how fast it runs): a key that ``configs/base.yaml`` gains later changes them, and the results folder then
refuses its older rows rather than mix two configs in one table.

Which checkpoint a row reports (:func:`reported_checkpoint`, recorded as ``checkpoint``): with
``data.val_fraction > 0`` the best epoch on the validation split held out of the training split, validated
with the row's own occlusion (``best-val``); otherwise the **last** epoch, as the engine's
``checkpoint_best.pt`` is then picked on the test split, which would flatter the table. A student
distils the same checkpoint of its teacher, and the part matrix is computed from it.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..data.lq_synthesis import SEVERITIES
from ..engine.checkpoint import BEST, LAST
from ..engine.config import ConfigError, load_config
from ..engine.stages import RunPaths, compute_part_matrix, evaluate_model, train_student, train_teacher
from ..nn import resolve_device
from .budget import Budget, budget_overrides
from .data import SYNTHESIS, prepare_grid_data, with_stored_lq
from .grids import Grid, Row
from .results import BEST_ON_VAL, LAST_CHECKPOINT, ROWS_FILE, Summary, append_record, read_records, write_tables

# Keys that say where things are or how fast they run, not what is computed.
LOCATION_KEYS = ("name", "out", "device", "threads", "num_workers", "data.prepared", "student.teacher",
                 "student.part_matrix")
# What a teacher and its part matrix depend on.
TEACHER_KEYS = ("seed", "amp", "data.reader", "data.root", "data.reader_options", "data.train_split",
                "data.test_split", "data.val_split", "data.val_fraction", "data.hq", "model.teacher", "teacher", "student.hq_fraction",
                "matrix")


def _get(cfg: Mapping, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def _digest(tree: Any) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_digest(cfg: Mapping, role: str = "student") -> str:
    """A short hash of what ``role``'s network depends on: for the teacher the keys of
    :data:`TEACHER_KEYS`, for the student the whole config but :data:`LOCATION_KEYS`."""
    if role == "teacher":
        return _digest({key: _get(cfg, key) for key in TEACHER_KEYS})
    tree = copy.deepcopy(dict(cfg))
    for dotted in LOCATION_KEYS:
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node[part]
        node.pop(leaf, None)
    return _digest(tree)


def code_version() -> dict:
    """The pygkd version, and in a git checkout its commit and whether ``pygkd/``, ``cli/`` or ``configs/``
    differ from it (``dirty``)."""
    version = {"pygkd": importlib.metadata.version("pygkd"), "commit": None, "dirty": None}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        changed = subprocess.run(["git", "status", "--porcelain", "--", "pygkd", "cli", "configs"], cwd=root,
                                 capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return version
    return {**version, "commit": commit.stdout.strip(), "dirty": bool(changed.stdout.strip())}


def machine(cfg: Mapping) -> dict:
    """Where a row ran: platform, Python, torch, CPU count and threads, and the device."""
    device = resolve_device(cfg["device"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
        "device_name": name,
    }


def reported_checkpoint(cfg: Mapping) -> tuple[str, str]:
    """``(file name, record name)`` of the checkpoint a row of ``cfg`` reports: ``checkpoint_best.pt``
    (``best-val``) when it is picked on a validation split held out of the training split, else
    ``checkpoint_last.pt`` (``last``)."""
    return (BEST, BEST_ON_VAL) if cfg["data"]["val_fraction"] > 0 else (LAST, LAST_CHECKPOINT)


def _json(value: Any) -> str:
    return json.dumps(value)


def _severity_overrides(cfg: Mapping, severity: str) -> list[str]:
    if severity not in SEVERITIES:
        raise ConfigError(f"unknown severity {severity!r}; expected one of {list(SEVERITIES)}")
    lq = cfg["data"]["lq"]
    overrides = []
    for key in ("transforms", "train_transforms"):
        specs = lq[key]
        if specs is None:
            continue
        if not any(spec["name"] == SYNTHESIS for spec in specs):
            raise ConfigError(
                f"severity {severity!r}: data.lq.{key} has no {SYNTHESIS} transform; a severity applies to a "
                "synthesised LQ stream only"
            )
        edited = [{**spec, "severity": severity} if spec["name"] == SYNTHESIS else spec for spec in specs]
        overrides.append(f"data.lq.{key}={_json(edited)}")
    return overrides


def _occlusion_overrides(cfg: Mapping, occlusion: float, protocol: str = "clip") -> list[str]:
    """OP in the LQ stream: occluded joints in the training transform and at test time (paper Sec. 4.4.1),
    drawn by ``protocol`` (an ``OccludeJoints`` protocol; ``clip_redraw`` is tested as ``clip``). The default
    ``clip`` adds no option, so a ``clip`` row's config is the one of runs from before the protocols."""
    lq = cfg["data"]["lq"]
    train = lq["train_transforms"] if lq["train_transforms"] is not None else lq["transforms"]
    occlude = {"name": "OccludeJoints", "p": occlusion, **({"protocol": protocol} if protocol != "clip" else {})}
    overrides = [f"data.lq.train_transforms={_json([*train, occlude])}", f"eval.occlusion={occlusion}"]
    if protocol not in ("clip", "clip_redraw"):
        overrides.append(f"eval.occlusion_protocol={protocol}")
    return overrides


class GridRunner:
    """Runs the rows of grids on one dataset config and budget, into one results folder; creating it
    prepares the dataset there (once) unless the config names an existing ``data.prepared``.

    Args:
        config: dataset config (name in ``configs/`` or path).
        budget: epochs, frames, seeds and slice (:class:`~.budget.Budget`).
        root: the results folder (see the module docstring).
        overrides: ``key=value`` config overrides, applied after the budget's.
        log: receives one line per finished or skipped row.
    """

    def __init__(
        self,
        config: str | Path,
        budget: Budget,
        root: str | Path,
        overrides: Sequence[str] = (),
        log: Callable[[str], None] = print,
    ) -> None:
        self.config, self.budget, self.root, self.log = config, budget, Path(root), log
        base = load_config(config, overrides)
        common = [*budget_overrides(budget, base), *overrides]
        data = prepare_grid_data(load_config(config, common), self.root / "data", budget.per_class)
        self.common = [*common, f"data.prepared={_json(str(data))}"]

    # ------------------------------------------------------------------------------------------ configs

    def row_config(self, row: Row, seed: int) -> dict:
        """The resolved config of ``row`` at ``seed``: budget, user overrides, the row's settings, its LQ
        severity and occlusion (by its protocol)."""
        overrides = [*self.common, *(f"{k}={_json(v)}" for k, v in row.settings.items()), f"seed={seed}"]
        if row.role == "student":
            if row.severity is not None:
                overrides += _severity_overrides(load_config(self.config, overrides), row.severity)
            if row.occlusion > 0:
                overrides += _occlusion_overrides(load_config(self.config, overrides), row.occlusion, row.protocol)
        return load_config(self.config, overrides)

    # ------------------------------------------------------------------------------------------- runs

    def _run_dir(self, cfg: Mapping, role: str) -> Path:
        return self.root / "runs" / f"{role}-{config_digest(cfg, role)}"

    def teacher(self, cfg: Mapping) -> tuple[dict, Path]:
        """Train, or reuse, the teacher of ``cfg`` with its part matrix; ``(summary, run folder)``."""
        folder = self._run_dir(cfg, "teacher")
        done = folder / "summary.json"
        if done.is_file():
            return {**json.loads(done.read_text()), "reused": True}, folder
        cfg = {**copy.deepcopy(dict(cfg)), "out": str(folder)}
        paths = RunPaths.of(cfg)
        reported, name = reported_checkpoint(cfg)
        began = time.perf_counter()
        best = train_teacher(cfg, resume=(paths.teacher / LAST).is_file())
        trained = time.perf_counter()
        compute_part_matrix(cfg, checkpoint=paths.teacher / reported)
        matrix = time.perf_counter()
        report = evaluate_model(cfg, "teacher", checkpoint=paths.teacher / reported, occlusion=0.0)
        seconds = {"train": trained - began, "matrix": matrix - trained, "eval": time.perf_counter() - matrix}
        return self._finish(folder, report, best, seconds, name), folder

    def student(self, cfg: Mapping) -> dict:
        """Train, or reuse, the student of ``cfg`` (after its teacher, for a distillation loss)."""
        folder = self._run_dir(cfg, "student")
        done = folder / "summary.json"
        if done.is_file():
            return {**json.loads(done.read_text()), "reused": True}
        cfg = copy.deepcopy(dict(cfg))
        reported, name = reported_checkpoint(cfg)
        if cfg["student"]["loss"] != "none":
            _, teacher = self.teacher(cfg)
            cfg["student"]["teacher"] = str(RunPaths(teacher).teacher / reported)
            cfg["student"]["part_matrix"] = str(RunPaths(teacher).matrix)
        cfg = {**with_stored_lq(cfg, self.root / "data"), "out": str(folder)}
        student = RunPaths.of(cfg).student
        began = time.perf_counter()
        best = train_student(cfg, resume=(student / LAST).is_file())
        trained = time.perf_counter()
        report = evaluate_model(cfg, "student", checkpoint=student / reported)
        seconds = {"train": trained - began, "eval": time.perf_counter() - trained}
        return self._finish(folder, report, best, seconds, name)

    @staticmethod
    def _finish(folder: Path, report: Mapping, best: Mapping, seconds: dict, checkpoint: str) -> dict:
        seconds["total"] = sum(seconds.values())
        summary = {
            "top1": 100 * report["top1"], "top5": 100 * report["top5"], "epoch": report["epoch"],
            "checkpoint": checkpoint,
            "occlusion": report["occlusion"], "num_samples": report["num_samples"],
            "best_epoch_val_top1": 100 * best["val_top1"] if best else None, "seconds": seconds, "folder": str(folder),
        }
        tmp = folder / ".summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, folder / "summary.json")
        return {**summary, "reused": False}

    # ------------------------------------------------------------------------------------------- grid

    def run(self, grid: Grid, seeds: Sequence[int] | None = None, max_rows: int | None = None,
            command: str | None = None, table_grid: Grid | None = None) -> list[Summary]:
        """Run every row of ``grid`` at every seed (the budget's by default) that ``rows.jsonl`` lacks,
        appending a record and rewriting the tables after each; stop after ``max_rows`` new rows. The
        tables show the rows of ``table_grid`` (default ``grid``): a larger grid keeps the rows that other
        runs of the folder recorded (e.g. at other severities) in the table.

        Raises:
            ConfigError: a row's config is invalid (checked for all rows before any trains), or
                ``rows.jsonl`` holds a row of this grid run with another config.
        """
        seeds = list(self.budget.seeds if seeds is None else seeds)
        folder = self.root / grid.name
        folder.mkdir(parents=True, exist_ok=True)
        rows_file = folder / ROWS_FILE
        finished = {(r["row"], r["seed"]): r["digest"] for r in read_records(rows_file)}
        plan = []  # every row's config first, so that a bad one fails before anything trains
        for seed in seeds:
            for row in grid.rows:
                cfg = self.row_config(row, seed)
                digest = config_digest(cfg, row.role)
                if finished.get((row.key, seed), digest) != digest:
                    raise ConfigError(
                        f"{rows_file}: row {row.key!r} seed {seed} was run with another config (digest "
                        f"{finished[row.key, seed]}, now {digest}); use another results folder, or delete this one"
                    )
                plan.append((seed, row, cfg, digest))
        ran = 0
        for number, (seed, row, cfg, digest) in enumerate(plan, 1):
            where = f"[{number}/{len(plan)}] {grid.name} {row.key} seed {seed}"
            if (row.key, seed) in finished:
                self.log(f"{where}: done before")
                continue
            if max_rows is not None and ran >= max_rows:
                break
            result = self.teacher(cfg)[0] if row.role == "teacher" else self.student(cfg)
            record = {
                "grid": grid.name, "row": row.key, "method": row.method, "columns": row.columns, "seed": seed,
                "digest": digest, "role": row.role, "severity": row.severity, "occlusion": row.occlusion,
                **result, "budget": self.budget.name, "dataset_config": str(self.config), "config": cfg,
                "machine": machine(cfg), "code": code_version(), "command": command or " ".join(sys.argv),
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            append_record(rows_file, record)
            write_tables(table_grid or grid, folder, len(seeds))
            ran += 1
            reused = " (trained before)" if result["reused"] else ""
            self.log(f"{where}: top-1 {result['top1']:.2f}, top-5 {result['top5']:.2f}, "
                     f"{result['seconds']['total'] / 60:.1f} min{reused}")
        return write_tables(table_grid or grid, folder, len(seeds))
