"""--device resolution (mixed precision: test_precision.py)."""
import pytest
import torch

from pygkd.nn import resolve_device, resolve_precision


def test_auto_and_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["gpu", "tpu:0", "cuda:x"])
def test_unknown_device(spec):
    with pytest.raises(ValueError, match=f"--device '{spec}': expected auto, cpu, cuda or cuda:<index>"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_out_of_range():
    with pytest.raises(ValueError, match="only .* CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_backbone_under_autocast_on_cuda():
    from pygkd.nn import build_backbone
    from pygkd.skeleton import get_layout

    device = resolve_device("cuda")
    model = build_backbone({"channels": [8, 16], "strides": [1, 2]}, get_layout("ntu25"), 3, 4).to(device)
    precision = resolve_precision("fp16", device)
    with precision.autocast():
        out = model(torch.randn(2, 2, 8, 25, 3, device=device))
    assert out.logits.dtype == torch.float16 and precision.grad_scaler().is_enabled()
    out.logits.float().sum().backward()
