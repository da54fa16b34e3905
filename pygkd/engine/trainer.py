"""The training loop shared by teacher and student, and evaluation.

:func:`fit` trains any :class:`Objective` (a callable ``(model, batch) -> StepOutput``: cross-entropy for
the teacher, cross-entropy plus a distillation term for the student) with SGD-style optimizer and LR
scheduler, validates, logs one JSON record per epoch and writes ``checkpoint_last.pt`` (full resume
state) and ``checkpoint_best.pt`` (best validation top-1) after every epoch.

A resumed run continues bit for bit: the batch order of epoch ``e`` depends only on ``(seed, e)``
(:mod:`.samplers`), sample transforms only on ``(seed, sample)`` (or ``(seed, sample, e)``: the loop tells the
training dataset its epoch, ``set_epoch(e)``), and the checkpoint restores the
weights, optimizer, scheduler, AMP scaler and the global RNG state.

Under ``torchrun`` (:mod:`.distributed`) every rank runs :func:`fit` on its slice of each global batch with
the model wrapped in DistributedDataParallel; the logged metrics are reduced over the ranks, and only
rank 0 writes the log and the checkpoints (all ranks resume from the same ``checkpoint_last.pt``).

An objective may own trained state besides the network (the distillation variants' projection head and
temperature, :attr:`.objectives.TrainingObjective.state`): :func:`fit` trains it with the same optimizer,
stores it as ``distillation`` in both checkpoints (absent when there is none, so the model state and card
load as before) and averages its gradients over the ranks (:func:`average_gradients`), since it is not
inside DistributedDataParallel.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from tqdm import tqdm

from ..data.skeleton_data import to_dense
from ..nn import FLOAT32, Precision
from .checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from .config import ConfigError
from .distributed import all_sum, barrier, data_parallel, share, world
from .logger import EpochReporter, MetricsLogger
from .metrics import ClassificationMeter
from .seed import rng_state, set_rng_state

METRICS_FILE = "metrics.jsonl"


@dataclass
class StepOutput:
    """What an objective returns for one batch.

    Attributes:
        loss: scalar to minimise.
        logits: ``[B, K]`` class scores of the trained network (for the training accuracy).
        y: ``[B]`` labels.
        terms: named scalar parts of the loss, for the log (e.g. ``{"ce": ..., "pmsc": ...}``).
        batch_size: samples of the global batch, over all ranks; ``None``: ``y.numel()`` (one process).
            With several processes ``loss`` and ``terms`` are this rank's shares of the global batch's means
            (:func:`.distributed.share`).
    """

    loss: Tensor
    logits: Tensor
    y: Tensor
    terms: dict[str, Tensor]
    batch_size: int | None = None


class Objective(Protocol):
    def __call__(self, model: nn.Module, batch: Batch) -> StepOutput: ...


def dense_input(x: Tensor, num_graphs: int, num_joints: int) -> Tensor:
    """Node features ``[G * M * V, T, C]`` of ``G`` batched skeleton graphs -> network input ``[G, M, T, V, C]``.

    All graphs must have the same number of persons ``M`` (a ``KeepPersons`` transform).
    """
    persons = x.size(0) // max(num_graphs * num_joints, 1)
    if persons * num_graphs * num_joints != x.size(0):
        raise ConfigError(
            f"{x.size(0)} nodes are not {num_graphs} graphs of M persons x {num_joints} joints: give every "
            "sample the same number of persons (a KeepPersons transform in the data config)"
        )
    return to_dense(x, persons, num_joints)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, num_classes: int, device: torch.device, desc: str = "eval",
    precision: Precision = FLOAT32,
) -> dict:
    """Top-1/top-5, per-class accuracy and confusion matrix of ``model`` over ``loader``'s graphs
    (``SkeletonData`` batches), see :class:`.metrics.ClassificationMeter`; the forward pass runs in
    ``precision``. The model is left in eval mode.

    With several processes each rank's ``loader`` holds its shard of the split and the counts are summed
    over the ranks, so that every rank returns the report of the whole split."""
    model.eval()
    meter = ClassificationMeter(num_classes)
    for batch in tqdm(loader, desc=desc, unit="batch", leave=False, disable=None if world().is_main else True):
        batch = batch.to(device)
        with precision.autocast():
            logits = model(dense_input(batch.x, batch.num_graphs, model.layout.num_joints)).logits
        meter.update(logits.float(), batch.y)
    return meter.add_up(all_sum).compute()


def fit(
    model: nn.Module,
    objective: Objective,
    loader: DataLoader,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    validate: Callable[[nn.Module], dict],
    *,
    epochs: int,
    run_dir: str | Path,
    meta: Mapping[str, Any],
    device: torch.device,
    precision: Precision = FLOAT32,
    resume: bool = False,
    desc: str = "train",
    compile: bool = False,
    state: nn.Module | None = None,
) -> dict:
    """Train for ``epochs`` epochs (in total, counting those a resumed checkpoint already holds).

    Args:
        model: the network, already on ``device``.
        objective: ``(model, batch) -> StepOutput``.
        loader: training batches; its ``batch_sampler`` is re-drawn per epoch by ``set_epoch(e)``, and its
            dataset's epoch-dependent transforms are told ``e`` by its ``set_epoch(e)`` when it has one.
        optimizer, scheduler: stepped per batch and per epoch.
        validate: ``model -> report`` with ``top1`` and ``top5`` (:func:`evaluate` on the validation split).
        run_dir: receives ``checkpoint_last.pt``, ``checkpoint_best.pt`` and ``metrics.jsonl``.
        meta: stored in every checkpoint (``card``: the :class:`~.checkpoint.ModelCard` dict, ``config``).
        precision: the arithmetic of the forward pass (:mod:`pygkd.nn.precision`; float16 adds gradient
            scaling); recorded in every metrics record.
        resume: continue from ``run_dir/checkpoint_last.pt``; its model card must equal ``meta["card"]``.
        compile: train through ``torch.compile`` of the (data-parallel) model; validation runs eager.
        state: the objective's own trained state (see the module docstring), on ``device``, its parameters
            already in ``optimizer``; checkpointed as ``distillation``.

    Returns:
        The metrics record of the best epoch (highest validation top-1, the earliest on ties).

    Every checkpoint records ``epochs_planned`` and ``completed`` (the schedule has ended); the best
    checkpoint is marked completed once the last epoch is done. Off a terminal, one line per epoch goes to
    stderr (:class:`~.logger.EpochReporter`).
    """
    run_dir = Path(run_dir)
    main = world().is_main
    scaler = precision.grad_scaler()
    start, best = 0, {}
    if resume:
        start, best = _restore(run_dir / LAST, meta, model, optimizer, scheduler, scaler, state)
    trained = data_parallel(model, device)
    if compile:
        trained = torch.compile(trained)
    progress = tqdm(range(start, epochs), desc=desc, unit="epoch", initial=start, total=epochs,
                    disable=None if main else True)
    reporter = EpochReporter(desc, epochs, start)
    if main:
        processes = world().size
        reporter.begin(f"{device}, {precision.name} ({precision.reason}), {processes} "
                       f"process{'es' if processes > 1 else ''}")
    log_file = MetricsLogger(run_dir / METRICS_FILE, keep_epochs=start if resume else None) if main else None
    with log_file or contextlib.nullcontext():
        for epoch in progress:
            began = time.perf_counter()
            loader.batch_sampler.set_epoch(epoch)
            if callable(getattr(loader.dataset, "set_epoch", None)):  # epoch-dependent sample draws
                loader.dataset.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            train = train_epoch(trained, objective, loader, optimizer, device, scaler=scaler, precision=precision,
                                desc=f"{desc} epoch {epoch + 1}", state=state)
            scheduler.step()
            val = validate(model)
            record = {"epoch": epoch + 1, "lr": lr, **train, "val_top1": val["top1"], "val_top5": val["top5"],
                      "time_s": round(time.perf_counter() - began, 3), "precision": precision.name}
            progress.set_postfix(loss=f"{train['train_loss']:.3f}", val_top1=f"{val['top1']:.1%}")
            weights = {**meta, "model": model.state_dict(), "epoch": epoch + 1, "metrics": record,
                       "epochs_planned": epochs, "completed": epoch + 1 == epochs}
            if state is not None:
                weights["distillation"] = state.state_dict()
            if not best or record["val_top1"] > best["val_top1"]:
                best = record
                if main:
                    save_checkpoint(weights, run_dir / BEST)
            if main:
                log_file.log(record)
                reporter.report(record)
                save_checkpoint({**weights, "best": best, "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                                 "rng": rng_state()}, run_dir / LAST)
    if main:
        _mark_best_completed(run_dir / BEST, epochs)
    barrier()  # the checkpoints are written before any rank reads them (the next stage, eval)
    return best


def _mark_best_completed(path: Path, epochs: int) -> None:
    """Once the schedule has ended, the best checkpoint (of an earlier epoch) belongs to a finished run."""
    if not path.is_file():
        return
    state = load_checkpoint(path)
    if not state.get("completed") or state.get("epochs_planned") != epochs:
        save_checkpoint({**state, "epochs_planned": epochs, "completed": True}, path)


def train_epoch(
    model: nn.Module,
    objective: Objective,
    loader: DataLoader,
    optimizer: Optimizer,
    device: torch.device,
    *,
    scaler: torch.amp.GradScaler | None = None,
    precision: Precision = FLOAT32,
    desc: str = "train",
    state: nn.Module | None = None,
) -> dict:
    """One pass over ``loader`` (one optimizer step per batch); returns the sample-weighted means
    ``train_loss``, ``train_<term>`` for every term of the objective, and ``train_top1``, over the samples
    of all ranks. The objective runs under ``precision``'s autocast (it computes its losses in float32, see
    :mod:`.objectives`). The gradients of the objective's ``state`` are averaged over the ranks before each
    step."""
    scaler = scaler or precision.grad_scaler()
    model.train()
    totals: dict[str, Tensor] = {}
    count = 0
    for batch in tqdm(loader, desc=desc, unit="batch", leave=False, disable=None if world().is_main else True):
        batch = batch.to(device)
        with precision.autocast():
            out = objective(model, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        if state is not None:
            average_gradients(state)
        scaler.step(optimizer)
        scaler.update()
        n = out.batch_size or out.y.numel()
        hits = (out.logits.argmax(1) == out.y).sum().float()
        sums = {"loss": out.loss.detach(), **out.terms, "top1": share(hits, n)}
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + value.detach().float() * n
        count += n
    # the ranks' shares of a batch mean add up to world size x that mean
    means = {f"train_{key}": float(all_sum(value)) / (count * world().size) for key, value in totals.items()}
    if not math.isfinite(means["train_loss"]):
        raise FloatingPointError(f"{desc}: the training loss is {means['train_loss']}; lower the learning rate")
    return means


def average_gradients(module: nn.Module) -> None:
    """Replace the gradient of each parameter of ``module`` by its mean over the ranks (what
    DistributedDataParallel does for the network); nothing in one process. Every rank must call it at the
    same step; a parameter without gradient counts as a zero gradient."""
    size = world().size
    if size == 1:
        return
    for param in module.parameters():
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        param.grad.copy_(all_sum(param.grad) / size)


def _restore(
    path: Path,
    meta: Mapping[str, Any],
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler,
    state_module: nn.Module | None = None,
) -> tuple[int, dict]:
    """Load a ``checkpoint_last.pt`` into the training objects; returns ``(completed epochs, best record)``.

    The file is read to the CPU (the RNG state must stay there); weights and optimizer state follow the
    model's device when loaded."""
    state = load_checkpoint(path)
    changed = sorted(k for k in state["card"] if state["card"][k] != meta["card"].get(k))  # older cards have fewer keys
    if changed:
        raise ConfigError(f"{path}: cannot resume, the checkpoint's model differs from the config in {changed}")
    if (state_module is None) != ("distillation" not in state):
        has = "has" if "distillation" in state else "has no"
        raise ConfigError(f"{path}: cannot resume, the checkpoint {has} distillation state (a part head, learned "
                          "temperature or random bank: student.part_head, phi_temperature, bank) and the config "
                          f"{'has none' if state_module is None else 'has'}")
    model.load_state_dict(state["model"])
    if state_module is not None:
        try:
            state_module.load_state_dict(state["distillation"])
        except RuntimeError as err:
            detail = "; ".join(line.strip() for line in str(err).splitlines()[1:3])
            raise ConfigError(f"{path}: cannot resume, the checkpoint's distillation state differs from the config's "
                              f"(student.part_head, phi_temperature, bank): {detail}") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state["epoch"], state["best"]
