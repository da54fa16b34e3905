"""Mixed precision (``amp``): how it resolves, and every backbone and layer trains and agrees under it."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from pygkd.nn import FLOAT32, build_backbone, resolve_precision
from pygkd.nn import precision as precision_module
from pygkd.nn.precision import cpu_bf16_flag
from pygkd.skeleton import get_layout

CPU = torch.device("cpu")
BACKBONES = {
    "stgcn": {"channels": [8, 16], "strides": [1, 2], "temporal_kernel": 3},
    "agcn": {"layer": "agcn", "channels": [8, 16], "strides": [1, 2], "temporal_kernel": 3},
    "efficientgcn": {"backbone": "efficientgcn", "scale": 0, "blocks": [[8, 1, 1], [8, 1, 1], [16, 2, 1]], "stem_channels": 8},
}


@pytest.mark.parametrize("amp", ["off", False])
def test_off_is_float32(amp):
    precision = resolve_precision(amp, CPU)
    assert precision.name == "float32" and precision.dtype is None
    assert not precision.grad_scaler().is_enabled()


def test_bf16_on_the_cpu_needs_no_scaler(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_flag", lambda: "avx512_bf16")
    precision = resolve_precision("bf16", CPU)
    assert precision.dtype is torch.bfloat16
    assert not precision.grad_scaler().is_enabled()
    with precision.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


@pytest.mark.parametrize("flag, expected", [("amx_bf16", "bfloat16"), ("avx512_bf16", "bfloat16"), (None, "float32")])
def test_auto_on_the_cpu_follows_the_bf16_flags(monkeypatch, flag, expected):
    monkeypatch.setattr(precision_module, "cpu_bf16_flag", lambda: flag)
    precision = resolve_precision("auto", CPU)
    assert precision.name == expected
    assert (flag or "no native bfloat16") in precision.reason


def test_bf16_asked_for_on_a_cpu_without_native_bfloat16_warns_and_runs(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_flag", lambda: None)
    with pytest.warns(UserWarning, match=r"no native bfloat16 .* emulated: training measured 8-17x slower"):
        precision = resolve_precision("bf16", CPU)
    assert precision.name == "bfloat16" and "emulated" in precision.reason
    monkeypatch.setattr(precision_module, "cpu_bf16_flag", lambda: "amx_bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", CPU).reason == "amp bf16 (CPU flag amx_bf16)"


def test_fp16_and_unknown_choices_are_refused_on_the_cpu():
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match=r"amp: expected one of \['off', 'bf16', 'fp16', 'auto'\], got True"):
        resolve_precision(True, CPU)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu amx_bf16\n")
    assert cpu_bf16_flag(info) == "amx_bf16"  # the best flag of any line
    info.write_text("flags\t: fpu sse avx2\n")
    assert cpu_bf16_flag(info) is None
    assert cpu_bf16_flag(tmp_path / "missing") is None


def _model(name: str, fuse: bool = True):
    torch.manual_seed(0)
    model = build_backbone(BACKBONES[name], get_layout("coco17"), in_channels=3, num_classes=4)
    for module in model.modules():
        if hasattr(module, "fuse"):
            module.fuse = fuse
    return model


@pytest.mark.parametrize("name, fuse", [("stgcn", True), ("stgcn", False), ("agcn", True), ("efficientgcn", True)])
def test_bf16_training_step_reaches_every_parameter(name, fuse):
    model = _model(name, fuse).train()
    precision = resolve_precision("bf16", CPU)
    x, y = torch.randn(4, 2, 8, 17, 3), torch.tensor([0, 1, 2, 3])
    with precision.autocast():
        out = model(x)
        loss = F.cross_entropy(out.logits.float(), y)
    assert out.part.dtype == out.feature.dtype == torch.float32  # pooled in float32
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.dtype == torch.float32, pname
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname
    for bname, buffer in model.named_buffers():
        if "running" in bname:
            assert buffer.dtype == torch.float32, bname


@pytest.mark.parametrize("name", list(BACKBONES))
def test_bf16_forward_agrees_with_float32(name):
    """Eval-mode logits in bfloat16 within 3 % of the largest float32 logit (bfloat16 keeps 8 mantissa bits)."""
    model = _model(name).eval()
    x = torch.randn(8, 2, 16, 17, 3)
    with torch.no_grad():
        reference = model(x).logits
        with resolve_precision("bf16", CPU).autocast():
            low = model(x).logits.float()
    assert (low - reference).abs().max() <= 0.03 * reference.abs().max()
    assert not torch.equal(low, reference)  # it did run in bfloat16


def test_float32_default_leaves_results_unchanged():
    model = _model("stgcn").eval()
    x = torch.randn(2, 1, 8, 17, 3)
    with torch.no_grad():
        a = model(x).logits
        with FLOAT32.autocast():
            b = model(x).logits
    assert torch.equal(a, b)
