"""The four stages of the method, each a function of a config (what the ``pygkd`` commands run).

A run directory (``cfg["out"]``, e.g. ``runs/demo``) collects them::

    data/                      the prepared dataset, when the config generates it (data.reader)
    teacher/                   config.yaml, metrics.jsonl, checkpoint_last.pt, checkpoint_best.pt
    matrix/                    part_matrix.npy, part_matrix.csv, heatmap.png
    student/                   as teacher/
    eval/<role>_<split>[_op<OP>].json

1. :func:`train_teacher`: the teacher on the kept HQ training skeletons (cross-entropy, Eq. 2);
2. :func:`compute_part_matrix`: E from the trained teacher and those same skeletons (Eqs. 12-13);
3. :func:`train_student`: the student on LQ training skeletons, ``L_c + alpha * L_kd`` (Eq. 4);
4. :func:`evaluate_model`: a trained network on a split, optionally with test-time joint occlusion.

Each stage runs data-parallel when started by ``torchrun`` (:mod:`.distributed`): every rank trains on its
slice of each global batch, or scores its shard of a split, and rank 0 alone writes the run directory,
which must therefore be one folder that every node sees (a shared file system) for the later stages.
"""
from __future__ import annotations

import importlib.util
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

from ..atomic import write_atomic
from ..data.dataset import SkeletonDataset
from ..data.raw import DataFormatError
from ..data.store import PreparedDataset
from ..kd import DistillationHead, PartMatrix, part_error_rates
from ..nn import Precision, resolve_device, resolve_precision
from ..nn.registry import split_path
from ..nn.sync_batchnorm import convert_sync_batchnorm
from . import distributed
from .build import (
    STREAM_OF_ROLE,
    TrainingSamples,
    batch_sampler,
    describe_transforms,
    eval_dataset,
    eval_loader,
    hq_augmented,
    load_prepared,
    model_card,
    optimizer_and_scheduler,
    pair_dataset,
    skeleton_dataset,
    split_indices,
    stream_transform_specs,
    train_loader,
    train_val_indices,
)
from .checkpoint import (
    BEST,
    LAST,
    ModelCard,
    RunStateError,
    load_checkpoint,
    load_model,
    require_finished,
    run_progress,
)
from .config import ConfigError, dump_config
from .objectives import TEACHER_OUTPUT, Distillation, TrainingObjective
from .seed import deterministic_mode, seed_everything
from .teaching import LiveTeacher, TeacherBank, TeacherCache
from .trainer import dense_input, evaluate, fit


@dataclass(frozen=True)
class RunPaths:
    """Where the stages of a run read and write (see the module docstring)."""

    root: Path

    @classmethod
    def of(cls, cfg: Mapping) -> "RunPaths":
        return cls(Path(cfg["out"]))

    @property
    def teacher(self) -> Path:
        return self.root / "teacher"

    @property
    def matrix(self) -> Path:
        return self.root / "matrix"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    def teacher_checkpoint(self, cfg: Mapping) -> Path:
        return Path(cfg["student"]["teacher"] or self.teacher / BEST)

    def part_matrix(self, cfg: Mapping) -> Path:
        return Path(cfg["student"]["part_matrix"] or self.matrix)


def train_teacher(cfg: Mapping, resume: bool = False, overwrite: bool = False) -> dict:
    """Train the teacher (``teacher.*`` keys); returns the metrics record of its best epoch.

    A folder that already holds a teacher run is continued with ``resume``, replaced with ``overwrite``,
    and else refused (:class:`~.checkpoint.RunStateError`)."""
    seed_everything(cfg["seed"])
    _device(cfg)  # joins the process group under torchrun, before the data are read (or prepared by rank 0)
    prepared = load_prepared(cfg)
    indices, _ = TrainingSamples.of(cfg, prepared).for_role("teacher", use_solitary=False)
    val_set = _val_set(cfg, prepared, "hq")
    card = model_card(cfg, "teacher", val_set, _precision(cfg, _device(cfg)).name)
    train_set = skeleton_dataset(cfg, prepared, indices, "hq", train=True)
    return _fit(cfg, card, card.build(), TrainingObjective("x"), train_set, val_set, resume, overwrite)


def train_student(
    cfg: Mapping, resume: bool = False, overwrite: bool = False, allow_unfinished: bool = False
) -> dict:
    """Train the student (``student.*`` keys); returns the metrics record of its best epoch.

    With a distillation loss it reads the teacher checkpoint and, for ``pmsc``, the part matrix of the
    run (``student.teacher``, ``student.part_matrix``); an unfinished teacher is refused unless
    ``allow_unfinished``. ``resume`` and ``overwrite`` as for :func:`train_teacher`. The variants of
    ``pmsc`` (``student.bank``, ``phi_temperature``, ``part_head``, ``occlusion_weight``) are set up here; a
    bank needs the teacher cache.
    """
    seed_everything(cfg["seed"])
    options = cfg["student"]
    device = _device(cfg)
    prepared = load_prepared(cfg)
    indices, paired = TrainingSamples.of(cfg, prepared).for_role("student", options["use_solitary"])
    precision = _precision(cfg, device)
    val_set = _val_set(cfg, prepared, "lq")
    card = model_card(cfg, "student", val_set, precision.name)
    model = card.build()
    if options["loss"] == "none":
        train_set = skeleton_dataset(cfg, prepared, indices, "lq", train=True)
        return _fit(cfg, card, model, TrainingObjective("x"), train_set, val_set, resume, overwrite)
    _check_bank(cfg)

    paths = RunPaths.of(cfg)
    teacher_path = paths.teacher_checkpoint(cfg)
    teacher, teacher_card, teacher_state = load_model(teacher_path, device, trusted_modules(cfg))
    require_finished(teacher_state, teacher_path, allow_unfinished)
    hq_set = skeleton_dataset(cfg, prepared, indices[paired], "hq", train=True)
    _check_card(teacher_card, hq_set, teacher_path)
    _check_features(teacher, model, options["loss"], teacher_path, projected=options["part_head"] != "none")
    E = _load_part_matrix(paths.part_matrix(cfg), card) if options["loss"] == "pmsc" else None
    output = TEACHER_OUTPUT[options["loss"]]
    if use_teacher_cache(cfg):
        hq_loader = eval_loader(hq_set, cfg["eval"]["batch_size"], cfg["num_workers"])
        teacher_source = TeacherCache.build(teacher, hq_loader, output, len(prepared), device, precision)
        if options["bank"] is not None:
            size = None if options["bank"] == "all" else options["bank"]
            teacher_source = TeacherBank(teacher_source, size, cfg["seed"])
        train_set, input_key = skeleton_dataset(cfg, prepared, indices, "lq", train=True), "x"
    else:
        teacher_source = LiveTeacher(teacher, output)
        train_set, input_key = pair_dataset(cfg, prepared, indices, paired), "x_lq"
    head = None
    if options["part_head"] != "none" or options["phi_temperature"] != 1.0:
        head = DistillationHead(model.feature_dim, teacher.feature_dim, options["part_head"], options["phi_temperature"])
    part_index = card.layout.part_index() if options["occlusion_weight"] else None
    distill = Distillation(options["loss"], teacher_source, options["alpha"], options["w"], E, options["temperature"],
                           head, part_index)
    return _fit(cfg, card, model, TrainingObjective(input_key, distill), train_set, val_set, resume, overwrite)


def use_teacher_cache(cfg: Mapping) -> bool:
    """``student.cache_teacher``; ``auto``: cache unless the HQ input is augmented in training."""
    choice = cfg["student"]["cache_teacher"]
    return not hq_augmented(cfg) if choice == "auto" else choice


def compute_part_matrix(
    cfg: Mapping, checkpoint: str | Path | None = None, allow_unfinished: bool = False
) -> PartMatrix:
    """E (Eqs. 12-13) of the run's teacher (or ``checkpoint``) on its HQ training skeletons, with the test
    transform; saved to ``<out>/matrix`` (the heatmap only when matplotlib is installed). An unfinished
    teacher is refused unless ``allow_unfinished``."""
    paths = RunPaths.of(cfg)
    device = _device(cfg)
    model, card, state = load_model(checkpoint or paths.teacher_checkpoint(cfg), device, trusted_modules(cfg))
    require_finished(state, checkpoint or paths.teacher_checkpoint(cfg), allow_unfinished)
    prepared = load_prepared(cfg)
    indices, _ = TrainingSamples.of(cfg, prepared).for_role("teacher", use_solitary=False)
    dataset = skeleton_dataset(cfg, prepared, indices, "hq", train=False)
    _check_card(card, dataset, checkpoint or paths.teacher_checkpoint(cfg))
    loader = eval_loader(dataset, cfg["matrix"]["batch_size"], cfg["num_workers"], distributed.world())
    batches = ((dense_input(b.x, b.num_graphs, card.layout.num_joints), b.y) for b in loader)
    errors, counts = part_error_rates(model, batches, card.layout.part_index(), device, _precision(cfg, device))
    matrix = PartMatrix.from_errors(distributed.all_sum(errors), distributed.all_sum(counts), card.class_names)
    if distributed.world().is_main:
        heatmap = importlib.util.find_spec("matplotlib") is not None
        if not heatmap:
            warnings.warn("matplotlib is not installed: no heatmap.png (pip install matplotlib)", stacklevel=2)
        matrix.save(paths.matrix, heatmap=heatmap)
    distributed.barrier()
    return matrix


def evaluate_model(
    cfg: Mapping,
    role: str = "student",
    checkpoint: str | Path | None = None,
    split: str | None = None,
    occlusion: float | None = None,
    allow_unfinished: bool = False,
) -> dict:
    """Evaluate a trained network on a split and write the report to ``<out>/eval/`` (``<role>_<split>.json``,
    ``_op<OP>`` added under occlusion and ``_<protocol>`` for a protocol other than ``clip``).

    Args:
        role: which network of the run (``<out>/<role>/checkpoint_best.pt``), when ``checkpoint`` is None.
        checkpoint: a checkpoint file instead; the role is then the checkpoint's.
        split: default ``eval.split``, else ``data.test_split``.
        occlusion: test-time occlusion probability OP; default ``eval.occlusion``.
        allow_unfinished: evaluate the checkpoint of a run that has not finished its schedule.

    Returns:
        The report: ``role``, ``checkpoint``, ``epoch``, ``split``, ``occlusion``, ``occlusion_protocol``
        (``eval.occlusion_protocol``, None without occlusion), ``preprocessing`` (whose
        input chain was used: ``checkpoint``, or ``config`` for an older checkpoint), ``top1``, ``top5``,
        ``per_class`` (class name -> accuracy, None for a class absent from the split), ``confusion``
        (rows: true class, columns: predicted), ``class_names``, ``num_samples``.
    """
    paths = RunPaths.of(cfg)
    device = _device(cfg)
    path = Path(checkpoint or getattr(paths, role) / BEST)
    model, card, state = load_model(path, device, trusted_modules(cfg))
    require_finished(state, path, allow_unfinished)
    key = "eval.split" if split or cfg["eval"]["split"] else "data.test_split"
    split = split or cfg["eval"]["split"] or cfg["data"]["test_split"]
    occlusion = cfg["eval"]["occlusion"] if occlusion is None else occlusion
    protocol = cfg["eval"]["occlusion_protocol"] if occlusion else None
    prepared = load_prepared(cfg)
    indices = split_indices(prepared, split, key)
    _say_preprocessing(cfg, card, path)
    dataset = eval_dataset(cfg, card, prepared, indices, occlusion)
    _check_card(card, dataset, path)
    loader = eval_loader(dataset, cfg["eval"]["batch_size"], cfg["num_workers"], world=distributed.world())
    precision = _precision(cfg, device)
    metrics = evaluate(model, loader, card.num_classes, device, desc=f"eval {card.role}", precision=precision)
    report = {
        "role": card.role, "checkpoint": str(path), "epoch": state.get("epoch"), "split": split,
        "occlusion": occlusion, "occlusion_protocol": protocol, "seed": cfg["seed"], "precision": precision.name,
        "preprocessing": "checkpoint" if card.has_preprocessing else "config", **metrics,
        "per_class": dict(zip(card.class_names, metrics["per_class"])), "class_names": card.class_names,
        "unit": "fraction",
    }
    if distributed.world().is_main:
        paths.eval.mkdir(parents=True, exist_ok=True)
        suffix = f"_op{occlusion:g}" if occlusion else ""
        suffix += f"_{protocol}" if protocol not in (None, "clip") else ""
        write_atomic(paths.eval / f"{card.role}_{split}{suffix}.json", json.dumps(report, indent=1))
    distributed.barrier()
    return report


def _say_preprocessing(cfg: Mapping, card: ModelCard, path: Path) -> None:
    """Warn, in one line, when the checkpoint's stored input chain differs from the config's (the
    checkpoint's is used)."""
    section = STREAM_OF_ROLE[card.role]
    stream, specs = cfg["data"][section]["stream"], stream_transform_specs(cfg, section, train=False)
    if card.has_preprocessing and (stream, specs) != (card.stream, card.transforms):
        warnings.warn(
            f"{path}: using the checkpoint's preprocessing ({card.stream}: {describe_transforms(card.transforms)}),"
            f" not the config's data.{section} ({stream}: {describe_transforms(specs)})", stacklevel=3,
        )


def trusted_modules(cfg: Mapping) -> list[str]:
    """The modules a checkpoint's card may name: ``allow_modules``, and those the config's own network
    specs name by dotted path (the user's layers and backbones, trusted since the user wrote them)."""
    named = []
    stack = [cfg["model"]]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and re.fullmatch(r"\w+(\.\w+)*[.:]\w+", node):
            named.append(split_path(node)[0])
    return [*cfg["allow_modules"], *sorted(set(named))]


def _device(cfg: Mapping) -> torch.device:
    """The config's ``device`` (under torchrun: this rank's, after joining the process group); sets torch's
    CPU ``threads`` first when the config gives a number."""
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    deterministic_mode(cfg["deterministic"])
    try:
        return distributed.init(resolve_device(cfg["device"]), cfg["dist_timeout_s"])
    except ValueError as err:
        raise ConfigError(f"device: {err}") from None


def _precision(cfg: Mapping, device: torch.device) -> Precision:
    """The config's ``amp`` on ``device`` (:func:`pygkd.nn.resolve_precision`)."""
    try:
        return resolve_precision(cfg["amp"], device)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _val_set(cfg: Mapping, prepared: PreparedDataset, stream: str) -> SkeletonDataset:
    """The validation graphs of ``stream`` (:func:`~.build.train_val_indices`) with the test transform; the
    LQ stream with the test-time occlusion ``eval.occlusion``, so that the best checkpoint is the best
    under the occlusion it is evaluated with."""
    _, indices = train_val_indices(cfg, prepared)
    occlusion = cfg["eval"]["occlusion"] if stream == "lq" else 0.0
    return skeleton_dataset(cfg, prepared, indices, stream, train=False, occlusion=occlusion)


def _check_bank(cfg: Mapping) -> None:
    """``student.bank`` draws from the teacher cache: refuse it where the cache is not used."""
    if cfg["student"]["bank"] is None or use_teacher_cache(cfg):
        return
    why = ("student.cache_teacher is false" if cfg["student"]["cache_teacher"] is False else
           "student.cache_teacher is auto and data.hq.train_transforms augments the HQ input (set "
           "student.cache_teacher: true if its random draws are fixed per sample)")
    raise ConfigError(f"student.bank: {cfg['student']['bank']} draws from the cached teacher outputs, but {why}")


def _fit(
    cfg: Mapping, card: ModelCard, model: nn.Module, objective: TrainingObjective, train_set: Dataset,
    val_set: SkeletonDataset, resume: bool, overwrite: bool = False,
) -> dict:
    """Train ``model`` for ``cfg[card.role]`` into ``<out>/<role>/``, with the objective's own trained state
    (:attr:`~.objectives.TrainingObjective.state`) in the same optimizer."""
    stage = cfg[card.role]
    device = _device(cfg)
    precision = _precision(cfg, device)
    world = distributed.world()
    model = model.to(device)
    if cfg["sync_batchnorm"] and world.size > 1:
        model = convert_sync_batchnorm(model, device)
    state = objective.state
    if state is not None:
        state.to(device)
    optimizer, scheduler = optimizer_and_scheduler(model if state is None else nn.ModuleList([model, state]), stage)
    pin = device.type == "cuda"  # page-locked batches copy to the GPU asynchronously
    loader = train_loader(train_set, batch_sampler(stage, train_set.labels, cfg["seed"], world), cfg["num_workers"],
                          pin)
    val_loader = eval_loader(val_set, cfg["eval"]["batch_size"], cfg["num_workers"], pin, world)
    run_dir = getattr(RunPaths.of(cfg), card.role)
    _claim_run_dir(run_dir, card.role, resume, overwrite)
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "config.yaml")
    return fit(
        model, objective, loader, optimizer, scheduler,
        lambda m: evaluate(m, val_loader, card.num_classes, device, desc="validate", precision=precision),
        epochs=stage["epochs"], run_dir=run_dir, meta={"card": card.to_dict(), "config": dict(cfg)},
        device=device, precision=precision, resume=resume, desc=card.role, compile=cfg["compile"], state=state,
    )


def _claim_run_dir(run_dir: Path, role: str, resume: bool, overwrite: bool) -> None:
    """A fresh run may start in ``run_dir`` only when it holds no run yet, or with ``overwrite`` (which
    deletes the old checkpoints first, so that none of the old run outlives the new one)."""
    checkpoints = [run_dir / LAST, run_dir / BEST]
    if resume or not any(p.is_file() for p in checkpoints):
        return
    if overwrite:
        for path in checkpoints:
            path.unlink(missing_ok=True)
        return
    try:
        epoch, planned, finished = run_progress(load_checkpoint(next(p for p in checkpoints if p.is_file())))
        state = f"finished, {epoch} epochs" if finished else f"unfinished, {epoch} of {planned} epochs"
    except (DataFormatError, OSError):
        state = "unreadable checkpoint"
    raise RunStateError(
        f"{run_dir}: already holds a {role} run ({state}); pass --resume to continue it, --overwrite to "
        "replace it, or choose another --out"
    )


def _check_card(card: ModelCard, dataset: SkeletonDataset, path: Path | str) -> None:
    """The network of ``card`` must read the graphs of ``dataset`` (layout, channels, classes)."""
    probe = dataset[0]
    given = (probe.layout, probe.x.size(-1), dataset.prepared.class_names)
    expected = (card.layout.name, card.in_channels, card.class_names)
    if given != expected:
        same_count = len(given[2]) == len(expected[2]) and given[2] != expected[2]
        raise ConfigError(
            f"{path}: the {card.role} reads {expected[0]} skeletons with {expected[1]} channels and "
            f"{len(expected[2])} classes, but the config's data give {given[0]} with {given[1]} channels and "
            f"{len(given[2])} classes" + (" (other class names)" if same_count else "")
        )


def _check_features(teacher: nn.Module, student: nn.Module, loss: str, path: Path, projected: bool = False) -> None:
    """The contrastive losses compare features: teacher and student must give the same feature size ``D``,
    unless a part head (``projected``) maps the student's to the teacher's."""
    if loss != "kl" and not projected and teacher.feature_dim != student.feature_dim:
        raise ConfigError(
            f"student.loss {loss} compares features: the student's feature size {student.feature_dim} "
            f"(model.student) must equal the teacher's {teacher.feature_dim} ({path})"
        )


def _load_part_matrix(directory: Path, card: ModelCard) -> torch.Tensor:
    try:
        matrix = PartMatrix.load(directory)
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory}: no part matrix; run `pygkd matrix` first") from None
    if matrix.class_names != card.class_names:
        raise ConfigError(f"{directory}: the part matrix was computed for other classes than the student's data")
    return matrix.E
