"""What the frozen teacher contributes to a student batch: its outputs on the batch's HQ skeletons.

Two interchangeable sources, both returning a :class:`Teaching` whose rows follow the batch order of
the samples that keep their HQ match:

* :class:`LiveTeacher` runs the teacher on the HQ graphs of every pair batch.
* :class:`TeacherCache` runs it once over the paired training samples and then looks the rows up by
  sample index, so a student step costs one student pass: no HQ loading, no teacher pass. This is exact
  when the HQ input of a sample is the same at every epoch (pygkd's random transforms are drawn per
  sample, so they are), and the teacher is frozen in eval mode either way.

With several processes each rank holds a slice of the global batch; :func:`gather_teaching` collects the
teacher rows of all slices, so that a contrastive loss compares each local student row with the HQ rows
of the whole global batch, as one process would.

:class:`TeacherBank` (``student.bank``) replaces the batch's HQ rows by a bank of cached rows: all of them,
or a random draw per step; its rows are the same on every rank, so they are not gathered.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from tqdm import tqdm

from ..nn.precision import FLOAT32, Precision
from ..skeleton import NUM_PARTS
from .distributed import all_gather_rows, world
from .trainer import dense_input

OUTPUTS = ("logits", "feature", "part")


@dataclass
class Teaching:
    """The teacher's side of one student batch of ``B`` samples, ``H`` of which keep their HQ match.

    Attributes:
        out: ``[H, ...]`` teacher outputs (``part [H, 5, D]``, ``feature [H, D]`` or ``logits [H, K]``).
        y: ``[H]`` labels of those rows.
        pair: ``[B]`` row of each student sample's own HQ output in ``out``, ``-1`` for a solitary sample.
        shared: ``out`` and ``y`` are the same on every rank (a :class:`TeacherBank`'s): not gathered.
    """

    out: Tensor
    y: Tensor
    pair: Tensor
    shared: bool = False


def pair_rows(has_hq: Tensor) -> Tensor:
    """``[B]`` bool -> ``[B]`` long: rank of each paired sample among the paired ones, ``-1`` for the others."""
    return torch.where(has_hq, has_hq.long().cumsum(0) - 1, -1)


def gather_teaching(local: Teaching) -> Teaching:
    """The teaching of the global batch from each rank's :class:`Teaching` of its slice.

    ``out`` and ``y`` hold the rows of all ranks in rank order, which is the order one process would give
    them (each rank's slice is a contiguous part of the global batch, :class:`~.samplers.ShardedBatchSampler`);
    ``pair`` stays this rank's ``[B_r]``, pointing into the gathered rows. ``local`` itself in one process,
    or when its rows are ``shared`` by all ranks.
    """
    if world().size == 1 or local.shared:
        return local
    outs, ys = all_gather_rows(local.out), all_gather_rows(local.y)
    offset = sum(len(rows) for rows in outs[: world().rank])
    return Teaching(torch.cat(outs), torch.cat(ys), torch.where(local.pair >= 0, local.pair + offset, -1))


def _frozen(model: nn.Module, output: str) -> nn.Module:
    if output not in OUTPUTS:
        raise ValueError(f"teacher output must be one of {OUTPUTS}, got {output!r}")
    return model.eval().requires_grad_(False)


class LiveTeacher:
    """Runs the frozen teacher on the HQ graphs (``x_hq``) of each :class:`SkeletonPair` batch.

    Args:
        model: the trained teacher backbone (put in eval mode, gradients off).
        output: which :class:`~pygkd.nn.BackboneOutput` field the distillation loss reads.
    """

    def __init__(self, model: nn.Module, output: str) -> None:
        self.model, self.output = _frozen(model, output), output
        shapes = {"logits": (model.fc.out_features,), "feature": (model.feature_dim,),
                  "part": (NUM_PARTS, model.feature_dim)}
        self.shape = shapes[output]

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Teaching:
        has_hq = batch.has_hq
        num_hq = int(has_hq.sum())
        if num_hq:
            x = dense_input(batch.x_hq, num_hq, self.model.layout.num_joints)
            out = getattr(self.model(x), self.output)
        else:
            out = batch.x_hq.new_zeros(0, *self.shape)
        return Teaching(out, batch.y[has_hq], pair_rows(has_hq))


class TeacherCache:
    """Teacher outputs of the paired training samples, computed once and looked up by sample index.

    Args:
        rows: ``[R, ...]`` one teacher output per cached sample.
        row_of: ``[N]`` long, the row of prepared sample ``i`` in ``rows``, ``-1`` if it is not cached
            (a solitary sample).
        labels: ``[R]`` long, the label of each row (what a :class:`TeacherBank` reads); ``None``: unknown.
    """

    def __init__(self, rows: Tensor, row_of: Tensor, labels: Tensor | None = None) -> None:
        self.rows, self.row_of, self.labels = rows, row_of, labels

    @classmethod
    @torch.no_grad()
    def build(
        cls, model: nn.Module, loader: DataLoader, output: str, num_samples: int, device: torch.device,
        precision: Precision = FLOAT32,
    ) -> "TeacherCache":
        """Run the frozen ``model`` over ``loader`` (``SkeletonData`` batches of the HQ graphs of the paired
        samples, each with its prepared ``index``) in ``precision``; the rows are kept in float32.
        ``num_samples`` is the size of the prepared dataset."""
        model = _frozen(model, output)
        rows, index, labels = [], [], []
        for batch in tqdm(loader, desc="teacher cache", unit="batch", leave=False, disable=None):
            batch = batch.to(device)
            with precision.autocast():
                out = getattr(model(dense_input(batch.x, batch.num_graphs, model.layout.num_joints)), output)
            rows.append(out.float())
            index.append(batch.index)
            labels.append(batch.y)
        index_all = torch.cat(index)
        row_of = torch.full((num_samples,), -1, dtype=torch.long, device=device)
        row_of[index_all] = torch.arange(index_all.numel(), device=device)
        return cls(torch.cat(rows), row_of, torch.cat(labels))

    def __call__(self, batch: Batch) -> Teaching:
        rows = self.row_of[batch.index]
        has_hq = rows >= 0
        return Teaching(self.rows[rows[has_hq]], batch.y[has_hq], pair_rows(has_hq))


_SALT_BANK = 0xBA4C


class TeacherBank(nn.Module):
    r"""The positive and negative sets of Eqs. 9-10 drawn from a bank of cached teacher rows
    (``student.bank``) instead of the HQ rows of the batch.

    * ``size=None`` (``all``): every row of the cache, i.e. every kept HQ training skeleton; a sample's own
      pair is its cache row.
    * ``size=N``: at each step, the own rows of the global batch's paired samples, and ``N`` minus their
      number other rows drawn without replacement (``np.random.default_rng([seed, step, salt])``), in row
      order: ``max(N, own)`` rows in all. The step counter is a buffer (``step``), checkpointed with the
      student, so that a resumed run draws the same banks. Under several processes the own rows of all
      ranks are gathered, so every rank holds the same bank as one process would.

    Args:
        cache: a :class:`TeacherCache` with its ``labels``.
        size: ``None`` for all rows, else ``N >= 1``.
        seed: the run's seed.
    """

    def __init__(self, cache: TeacherCache, size: int | None = None, seed: int = 0) -> None:
        super().__init__()
        if cache.labels is None:
            raise ValueError("a teacher bank needs the labels of the cached rows")
        if size is not None and size < 1:
            raise ValueError(f"bank size must be >= 1 or None (all rows), got {size}")
        self.cache, self.size, self.seed = cache, size, seed
        if size is not None:
            self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @property
    def has_state(self) -> bool:
        """A random bank counts its steps (checkpointed); the whole cache has no state."""
        return self.size is not None

    def forward(self, batch: Batch) -> Teaching:
        rows = self.cache.row_of[batch.index]  # [B] own cache row, -1 for a solitary sample
        if self.size is None:
            return Teaching(self.cache.rows, self.cache.labels, rows, shared=True)
        num_rows = self.cache.rows.size(0)
        own = torch.cat(all_gather_rows(rows[rows >= 0])).unique()  # sorted
        order = np.random.default_rng([self.seed, int(self.step), _SALT_BANK]).permutation(num_rows)
        self.step += 1
        order = torch.from_numpy(order).to(rows.device)
        is_own = torch.zeros(num_rows, dtype=torch.bool, device=rows.device)
        is_own[own] = True
        others = order[~is_own[order]][: max(self.size - own.numel(), 0)]
        bank = torch.cat([own, others]).sort().values
        pair = torch.where(rows >= 0, torch.searchsorted(bank, rows.clamp(min=0)), -1)
        return Teaching(self.cache.rows[bank], self.cache.labels[bank], pair, shared=True)
