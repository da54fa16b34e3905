"""On a CUDA GPU (skipped elsewhere; benchmarks/gpu_check.sh runs them): training, deterministic reruns,
torch.compile and synchronised batch norm give what the CPU and eager mode give."""
import pytest
import torch
from torch import nn

from pygkd.engine.checkpoint import LAST, load_checkpoint, load_model
from pygkd.engine.logger import read_metrics
from pygkd.engine.stages import RunPaths, train_teacher
from pygkd.nn import build_backbone
from pygkd.nn.sync_batchnorm import convert_sync_batchnorm
from pygkd.skeleton import get_layout

pytestmark = pytest.mark.cuda
SPEC = {"backbone": "stgcn", "channels": [8, 16], "strides": [1, 2], "temporal_kernel": 3}


def _model():
    torch.manual_seed(0)
    return build_backbone(SPEC, get_layout("ntu25"), 3, 5)


def _x(n=4):
    return torch.randn(n, 2, 16, 25, 3, generator=torch.Generator().manual_seed(1))


def test_deterministic_runs_on_cuda_repeat_exactly(tiny_config, tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = tiny_config("device=cuda", "deterministic=true", "teacher.epochs=2", f"out={tmp_path / name}")
        train_teacher(cfg)
        runs.append(RunPaths.of(cfg).teacher)
    strip = [[{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(run / "metrics.jsonl")] for run in runs]
    assert strip[0] == strip[1]
    a, b = (load_checkpoint(run / LAST)["model"] for run in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    model, _, _ = load_model(runs[0] / LAST, "cuda")
    assert next(model.parameters()).is_cuda


def test_cuda_forward_and_gradients_equal_the_cpu():
    cpu, gpu = _model().double(), _model().double().cuda()
    x = _x().double()
    out_cpu, out_gpu = cpu(x), gpu(x.cuda())
    out_cpu.logits.sum().backward()
    out_gpu.logits.sum().backward()
    torch.testing.assert_close(out_gpu.part.cpu(), out_cpu.part, rtol=1e-9, atol=1e-10)
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-7, atol=1e-9)


def test_compiled_network_equals_eager_on_cuda():
    model = _model().cuda().eval()
    x = _x().cuda()
    compiled = torch.compile(model)
    torch.testing.assert_close(compiled(x).logits, model(x).logits, rtol=1e-4, atol=1e-5)


def test_sync_batchnorm_on_cuda_is_torchs():
    model = convert_sync_batchnorm(_model().cuda(), torch.device("cuda"))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(type(m) is nn.SyncBatchNorm for m in norms)
    reference = _model().cuda()
    torch.testing.assert_close(model(_x().cuda()).logits, reference(_x().cuda()).logits)  # one process: plain BN
