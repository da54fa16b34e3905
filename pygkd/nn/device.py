"""Where the networks run: ``--device auto|cpu|cuda[:i]`` (the arithmetic: :mod:`.precision`)."""
from __future__ import annotations

import torch


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the current CUDA device when there is one, else the CPU; ``"cpu"``; ``"cuda"`` or
    ``"cuda:i"``, checked against the devices present.

    Raises:
        ValueError: an unknown name, or a CUDA device that is not there.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:<index>") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:<index>")
    count = torch.cuda.device_count()
    if count == 0:
        raise ValueError(f"--device {spec!r}: CUDA is not available on this machine")
    if device.index is not None and device.index >= count:
        raise ValueError(f"--device {spec!r}: only {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    return device

