"""Seeding and the random-number state that a checkpoint carries so that a resumed run continues exactly.

Sample-level randomness (augmentation, LQ synthesis, occlusion) does not live here: it is drawn from
``np.random.default_rng([seed, sample_index, salt])`` by the data modules, the same in every worker. What
is left is the global state of the training process: weight initialisation, dropout, and anything else
that reads Python's, NumPy's or torch's global generators.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The global generators' state, to store in a checkpoint (tensors and plain values only, so that the
    checkpoint loads with ``torch.load(weights_only=True)``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (the CUDA state only where CUDA is available)."""
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    random.setstate(state["python"])
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def deterministic_mode(enabled: bool) -> None:
    """Deterministic kernels on or off: ``torch.use_deterministic_algorithms`` (an operation without a
    deterministic implementation warns), cuDNN's deterministic algorithms without autotuning, and the cuBLAS
    workspace setting that its determinism needs (read when CUDA starts, so set before the first CUDA call).
    On a CPU pygkd's training is deterministic already; on a GPU scatter/index_add kernels and cuDNN's
    autotuner otherwise make reruns differ in the last bits."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    if enabled:
        torch.backends.cudnn.benchmark = False


def epoch_generator(seed: int, epoch: int, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on ``(seed, epoch, salt)``: batch orders repeat when a run resumes."""
    return np.random.default_rng([seed, epoch, salt])
