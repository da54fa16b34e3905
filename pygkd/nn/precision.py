"""Mixed precision: the ``amp`` switch of every command (``off | bf16 | fp16 | auto``).

* ``off``: float32 throughout.
* ``bf16``: the forward pass under ``torch.autocast(dtype=torch.bfloat16)``, on the CPU (oneDNN runs
  bfloat16 convolutions and matrix products natively on AVX-512-BF16 and AMX units; elsewhere it emulates
  them, several times slower than float32, and a warning says so) or on a GPU that supports it. bfloat16
  keeps float32's exponent range, so no gradient scaling is needed.
* ``fp16``: float16 autocast with a gradient scaler, on CUDA only (float16 on a CPU is slower than float32).
* ``auto``: bfloat16 on a CPU with AMX or AVX-512-BF16 and on a GPU that supports it, float16 with a
  scaler on older GPUs, float32 otherwise.

What stays in float32 whatever the switch says: the weights and the optimiser state (autocast casts
copies, never the parameters), batch-norm statistics (buffers of the float32 module; PyTorch's
mixed-dtype batch norm accumulates in float32), the pooled global and part features and every loss
(:mod:`pygkd.engine.objectives` computes cross-entropy, L_pmsc's cosines and log-sum-exps and KL with
autocast off, on float32 copies), and the part matrix's counts (integers).

A spatial layer of your own works under it when it computes with ops that autocast knows (linear,
matmul, conv, einsum) or with elementwise ops on the tensors it is given, and creates no tensors of a
fixed dtype: take ``dtype=x.dtype`` (or let type promotion decide) for anything built in ``forward``.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager

import torch
from torch import Tensor

AMP_CHOICES = ("off", "bf16", "fp16", "auto")
# CPU flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic, best first
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The arithmetic a network runs in.

    Attributes:
        name: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device_type: ``"cpu"`` or ``"cuda"``.
        reason: why this precision was chosen (in the line that opens a training run on stderr; the
            model card and every metrics record hold :attr:`name`).
    """

    name: str
    device_type: str
    reason: str = ""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, ``None`` for float32."""
        return _DTYPES[self.name]

    def autocast(self) -> ContextManager:
        """The forward-pass context: ``torch.autocast`` in :attr:`dtype`, a no-op for float32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for float16 only (bfloat16 and float32 need none)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "float16")


FLOAT32 = Precision("float32", "cpu", "amp off")


def float32(device_type: str) -> ContextManager:
    """A region with autocast switched off (losses and statistics that must see float32)."""
    return torch.autocast(device_type, enabled=False)


def full_precision(t: Tensor) -> Tensor:
    """``t`` in at least float32 (float16 and bfloat16 up-cast; float32 and float64 unchanged)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def cpu_bf16_flag(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The best CPU flag of :data:`CPU_BF16_FLAGS` this machine has, or ``None`` (also when ``cpuinfo``
    cannot be read, e.g. off Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return next((flag for flag in CPU_BF16_FLAGS if flag in flags), None)


def resolve_precision(amp: str | bool, device: torch.device) -> Precision:
    """The precision ``amp`` asks for on ``device`` (``False`` is YAML's reading of ``off``).

    Raises:
        ValueError: an unknown choice, float16 on a CPU, or bfloat16 on a GPU without it.
    """
    choice = "off" if amp is False else amp
    if choice not in AMP_CHOICES:
        raise ValueError(f"amp: expected one of {list(AMP_CHOICES)}, got {amp!r}")
    kind = device.type
    if choice == "off":
        return Precision("float32", kind, "amp off")
    if kind == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if choice == "bf16" and not bf16_ok:
            raise ValueError(f"amp: bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16 or auto")
        if choice == "auto":
            return (Precision("bfloat16", kind, "amp auto: the GPU supports bfloat16") if bf16_ok
                    else Precision("float16", kind, "amp auto: the GPU lacks bfloat16"))
        return Precision("bfloat16" if choice == "bf16" else "float16", kind, f"amp {choice}")
    if choice == "fp16":
        raise ValueError("amp: fp16 needs a CUDA device (float16 on a CPU is slower than float32); use bf16 or auto")
    flag = cpu_bf16_flag()
    if choice == "bf16":
        if flag:
            return Precision("bfloat16", kind, f"amp bf16 (CPU flag {flag})")
        warnings.warn("amp bf16: this CPU has no native bfloat16 (amx_bf16, avx512_bf16), so bfloat16 is "
                      "emulated: training measured 8-17x slower than float32 on an AVX2 CPU; amp auto picks "
                      "float32 here", stacklevel=2)
        return Precision("bfloat16", kind, "amp bf16 (no native bfloat16 on this CPU: emulated, slower)")
    if flag:
        return Precision("bfloat16", kind, f"amp auto: CPU with {flag}")
    return Precision("float32", kind, "amp auto: this CPU has no native bfloat16 (amx_bf16, avx512_bf16)")
