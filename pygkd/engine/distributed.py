"""Several processes: the ``torch.distributed`` process group that ``torchrun`` sets up, and the few
collectives the training loop needs.

``torchrun --nproc_per_node N -m cli.main teacher ...`` starts ``N`` copies of the command and gives each the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (on one
node or, with ``--nnodes`` and a rendezvous, on several). :func:`init` joins that process group: NCCL when
the run's device is CUDA (each process on ``cuda:LOCAL_RANK``), gloo on the CPU. Without ``WORLD_SIZE`` it
does nothing, and every helper here is the identity of a single process.

How the training loop uses them (see :mod:`.trainer`, :mod:`.objectives`):

* the model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, which *averages* the
  gradients over the ranks. Each rank's loss is therefore its :func:`share` of the global batch's mean,
  ``W * (sum of its samples' losses) / (samples of the global batch)``: the average over the ranks of
  the shares is the mean over the global batch, and so is the averaged gradient;
* counts (samples, hits, confusion matrices) are summed over the ranks with :func:`all_sum`;
* the distillation loss gathers the teacher rows of the whole global batch with :func:`all_gather_rows`.

A process that dies makes the collectives of the others fail: gloo at once (its peer's socket closes),
NCCL through its watchdog; a peer that hangs is given up after ``timeout_s``. :func:`peer_errors` turns
that failure into one line, :class:`PeerLost`.
"""
from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from ..nn.sync_batchnorm import GlooSyncBatchNorm

_DDP_ARGUMENTS = inspect.signature(DistributedDataParallel.__init__).parameters


@dataclass(frozen=True)
class World:
    """The processes of a run: this one is ``rank`` of ``size`` (``local_rank`` on its node)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and reports."""
        return self.rank == 0


class PeerLost(RuntimeError):
    """Another process of the run stopped (or stopped answering), so this one cannot go on."""


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (which sets ``WORLD_SIZE``)."""
    return "WORLD_SIZE" in os.environ


def world() -> World:
    """The current process group's ranks; ``World()`` (rank 0 of 1) without one."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def init(device: torch.device, timeout_s: float) -> torch.device:
    """Join torchrun's process group (once per process) and return the device this rank trains on.

    Args:
        device: the run's device (``resolve_device(cfg["device"])``); under torchrun a CUDA device becomes
            ``cuda:LOCAL_RANK``, one GPU per process.
        timeout_s: how long a collective waits for a silent peer before the run gives up.

    Raises:
        ValueError: a CUDA device other than this rank's, or more processes on the node than GPUs.
    """
    if not launched():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        if device.index not in (None, local_rank):
            raise ValueError(f"device {device}: under torchrun each process uses cuda:LOCAL_RANK; set device=cuda")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank}: this node has only {torch.cuda.device_count()} CUDA device(s)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s),
                                device_id=device if device.type == "cuda" else None)
        atexit.register(_leave)
    return device


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` when there are several processes, else ``model``.

    DistributedDataParallel copies rank 0's buffers to the other ranks before every forward pass; when every
    batch-norm layer is synchronised their running statistics are already equal on all ranks (the other
    buffers are constants), so that collective is skipped."""
    if world().size == 1:
        return model
    unsynced = any(isinstance(m, _BatchNorm) and not isinstance(m, (GlooSyncBatchNorm, nn.SyncBatchNorm))
                   for m in model.modules())
    # torch 2.13 renamed the switch (the old name warns); older releases know only the old one
    switch = "forward_sync_buffers" if "forward_sync_buffers" in _DDP_ARGUMENTS else "broadcast_buffers"
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                   **{switch: unsynced})


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside ``torch.compile`` and ``DistributedDataParallel`` wrappers (the model itself otherwise)."""
    model = getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule
    return model.module if isinstance(model, DistributedDataParallel) else model


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_sum(value: Tensor) -> Tensor:
    """``value`` summed over the ranks (a new tensor on ``value``'s device; ``value`` itself in one process)."""
    if world().size == 1:
        return value
    total = value.detach().to(_collective_device(), copy=True)
    dist.all_reduce(total)
    return total.to(value.device)


def total(count: int | Tensor) -> int:
    """A count summed over the ranks, e.g. the samples of the global batch from each rank's shard."""
    if world().size == 1:
        return int(count)
    return int(all_sum(torch.as_tensor(count, dtype=torch.long)))


def share(local_sum: Tensor, global_count: int) -> Tensor:
    """This rank's share of a mean over all ranks' samples: ``W * local_sum / global_count``.

    The average over the ``W`` ranks of the shares is ``sum / global_count``, the mean over the global
    batch, and so is the average of their gradients (what DistributedDataParallel computes). In one
    process the share is the mean itself.
    """
    return local_sum * (world().size / max(global_count, 1))


def mean_share(mean: Tensor, count: int | Tensor) -> Tensor:
    """:func:`share` of a loss that a rank computed as the ``mean`` over its ``count`` samples (those over
    which the loss is defined); ``mean`` itself in one process."""
    if world().size == 1:
        return mean
    return share(mean * count, total(count))


def all_gather_rows(rows: Tensor) -> list[Tensor]:
    """Every rank's ``rows [n_r, ...]`` (``n_r`` may differ between ranks and be 0), in rank order.

    Not differentiable: meant for tensors without gradient (the frozen teacher's outputs, labels).
    """
    size = world().size
    if size == 1:
        return [rows]
    device = _collective_device()
    counts = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([rows.size(0)], device=device))
    counts = [int(c) for c in counts]
    padded = rows.detach().to(device).new_zeros(max(max(counts), 1), *rows.shape[1:])
    padded[: rows.size(0)] = rows.detach()
    gathered = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(gathered, padded)
    return [g[:n].to(rows.device) for g, n in zip(gathered, counts)]


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a file the others read next)."""
    if world().size > 1:
        dist.barrier()


@contextlib.contextmanager
def peer_errors() -> Iterator[None]:
    """Turn the failure of a collective (a peer died, or did not answer within the timeout) into :class:`PeerLost`.

    NCCL raises ``torch.distributed.DistError``; gloo a ``RuntimeError`` that names its source file in gloo.
    """
    try:
        yield
    except RuntimeError as err:
        text = str(err).strip()
        if not (isinstance(err, dist.DistError) or "gloo" in text.split(" ", 1)[0]):
            raise
        w = world()
        detail = re.sub(r"^\[[^\]]*\]\s*", "", text.splitlines()[0] if text else type(err).__name__).split(". ")[0]
        raise PeerLost(
            f"rank {w.rank} of {w.size}: another process of the run stopped or stopped answering ({detail}); "
            "rerun with --resume to continue from the last checkpoint"
        ) from None
