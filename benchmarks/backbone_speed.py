"""Speed of pygkd's message-passing backbones against dense einsum twins with the same weights.

Two dense references are built here, next to pygkd's :class:`~pygkd.nn.STGCN` (or, with
``--backbone efficientgcn``, :class:`~pygkd.nn.EfficientGCN`, whose graph layers are swapped for dense ones):

* ``dense``: the spatial convolution as the field writes it (ST-GCN, PYSKL, CTR-GCN): a 1x1 ``Conv2d``
  to ``K * C_out`` channels on ``[N, C, T, V]`` tensors, then ``einsum('nkctv,kvw->nctw', x, A * M)``;
* ``dense-best``: the fastest dense variant found here: activations in ``channels_last`` memory, the
  partitions aggregated first by one batched matmul with the ``[V * K, V]`` adjacency, then one ``Linear``
  (the same arithmetic as pygkd's fused path, without the message-passing layer around it).

All three share the input batch-norm, temporal convolutions, residuals, pooling and classifier code, and
get pygkd's weights copied in; the script first checks that their outputs agree (relative error < 1e-5),
then times forward + backward (training) and batch-1 inference, each model in each precision of
``--precisions`` (float32; bfloat16 autocast as ``amp: bf16`` runs it, loss in float32), alternating the
runs so that a change in the load of a shared machine hits all of them, and prints medians of the
wall-clock time and, as a cross-check that is less sensitive to other processes, the ratio of process CPU
times; the last column is pygkd's time in that precision over its float32 time.

    python benchmarks/backbone_speed.py                # full table (about 4 minutes on 2 quiet cores)
    python benchmarks/backbone_speed.py --runs 3 --batch 4 --frames 32 --infer-frames 64   # smoke run
    python benchmarks/backbone_speed.py --backbone efficientgcn --scale 4 --layouts ntu25   # EfficientGCN-B4
    python benchmarks/backbone_speed.py --plan paper9 --threads 1 --batch 8     # the paper's network, 1 core
    python benchmarks/backbone_speed.py --device cuda [--compile]   # on a GPU (float32 and bfloat16 autocast),
                                                                    # torch.compile against eager

The outputs are compared in float64 on the CPU; on CUDA each timed step ends with ``torch.cuda.synchronize``
(the CPU-time columns then measure the host's share only).
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pygkd.nn import STGCN, Backbone, EfficientGCN, Precision, STGCNConv
from pygkd.nn.backbones.efficientgcn import GraphLayer
from pygkd.nn.partition import partitions
from pygkd.nn.temporal import TemporalConv
from pygkd.skeleton import Layout, get_layout

MODELS = ("pygkd", "dense", "dense-best")
# ST-GCN's released model (and PYSKL's STGCN): ten blocks.
PLANS = {
    "stgcn10": ((64, 64, 64, 64, 128, 128, 128, 256, 256, 256), (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)),
    "paper9": ((64, 64, 64, 128, 128, 128, 256, 256, 256), (1, 1, 1, 2, 1, 1, 2, 1, 1)),
    "cpu60": ((16, 32, 64), (1, 2, 2)),  # budgets cpu and cpu60
}


class DenseGCN(nn.Module):
    """``x' = einsum('nkctv,kvw->nctw', conv1x1(x).view(N, K, C_out, T, V), A * M) + b`` on ``[N, C, T, V]``."""

    def __init__(self, in_channels: int, out_channels: int, layout: Layout, partition: str = "spatial",
                 max_hop: int = 2) -> None:
        super().__init__()
        self.register_buffer("A", partitions(layout, partition, max_hop))
        self.importance = nn.Parameter(torch.ones_like(self.A))
        self.conv = nn.Conv2d(in_channels, self.A.size(0) * out_channels, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, v = x.shape
        h = self.conv(x).view(n, self.A.size(0), -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", h, self.A * self.importance) + self.bias.view(-1, 1, 1)


class DenseChannelsLastGCN(DenseGCN):
    """The same layer, written for speed: ``[N, T, V, C]`` memory, the partitions of each joint aggregated
    first by one batched matmul with the ``[V * K, V]`` adjacency, then one ``Linear`` of ``K * C_in``."""

    def forward(self, x: Tensor) -> Tensor:
        k, v, _ = self.A.shape
        h = x.permute(0, 2, 3, 1).reshape(-1, v, x.size(1))  # [N * T, V, C_in]
        adj = (self.A * self.importance).permute(2, 0, 1).reshape(v * k, v)  # [i * K + k, j]
        h = torch.bmm(adj.expand(h.size(0), -1, -1), h).view(x.size(0), x.size(2), v, -1)
        weight = self.conv.weight.view(k, -1, x.size(1)).transpose(0, 1).flatten(1)  # [C_out, K * C_in]
        return F.linear(h, weight, self.bias).permute(0, 3, 1, 2)


class DenseBlock(nn.Module):
    """:class:`pygkd.nn.STGCNBlock` with a dense spatial layer on ``[N, C, T, V]``."""

    def __init__(self, gcn: DenseGCN, out_channels: int, stride: int, residual: bool) -> None:
        super().__init__()
        in_channels = gcn.conv.in_channels
        self.gcn = gcn
        self.bn = nn.BatchNorm2d(out_channels)
        self.tcn = TemporalConv(out_channels, out_channels, 9, stride)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConv(in_channels, out_channels, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        h = self.tcn(F.relu(self.bn(self.gcn(x))))
        if self.residual is not None:
            h = h + self.residual(x)
        return F.relu(h)


class DenseSTGCN(Backbone):
    """ST-GCN with dense spatial layers; ``channels_last`` picks the memory layout of the activations."""

    def __init__(
        self, layout: Layout, in_channels: int, num_classes: int, channels, strides, channels_last: bool
    ) -> None:
        super().__init__(layout, in_channels, channels[-1], num_classes)
        self.channels_last = channels_last
        gcn = DenseChannelsLastGCN if channels_last else DenseGCN
        self.data_bn = nn.BatchNorm1d(layout.num_joints * in_channels)
        ins = (in_channels, *channels[:-1])
        self.blocks = nn.ModuleList(
            DenseBlock(gcn(c_in, c_out, layout), c_out, s, residual=i > 0)
            for i, (c_in, c_out, s) in enumerate(zip(ins, channels, strides))
        )

    def joint_features(self, x: Tensor) -> Tensor:
        n, m, t, v, c = x.shape
        h = self.data_bn(x.reshape(n * m * t, v * c)).view(n * m, t, v, c).permute(0, 3, 1, 2)
        h = h.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        for block in self.blocks:
            h = block(h)
        return h.permute(0, 2, 3, 1).reshape(n, m, *h.shape[2:], -1)


def dense_gcn_like(src: STGCNConv, layout: Layout, cls: type[DenseGCN]) -> DenseGCN:
    """A dense spatial layer computing the same function as ``src`` on ``layout`` (weights copied)."""
    dense = cls(src.in_channels, src.out_channels, layout, src.partition, src.max_hop)
    k, v, _ = dense.A.shape
    importance = torch.ones(v * k, v)  # pygkd's [i * K + k, j]; entries off the graph are unused
    importance[src.edge_index[1], src.edge_index[0]] = src.edge_importance.detach()
    weight = src.lin.weight.detach().view(-1, k, src.in_channels)  # [C_out, K, C_in]
    dense.load_state_dict({
        "A": dense.A, "importance": importance.view(v, k, v).permute(1, 2, 0),
        "conv.weight": weight.transpose(0, 1).reshape(-1, src.in_channels, 1, 1), "bias": src.lin.bias.detach(),
    })
    return dense


def dense_like(model: STGCN, channels_last: bool) -> DenseSTGCN:
    """A dense ST-GCN computing the same function as ``model`` (weights copied)."""
    channels = [b.gcn.out_channels for b in model.blocks]
    strides = [b.tcn.conv.stride[0] for b in model.blocks]
    dense = DenseSTGCN(model.layout, model.in_channels, model.fc.out_features, channels, strides, channels_last)
    state = {name: value for name, value in model.state_dict().items() if ".gcn." not in name}
    gcn = DenseChannelsLastGCN if channels_last else DenseGCN
    for i, block in enumerate(model.blocks):
        twin = dense_gcn_like(block.gcn, model.layout, gcn)
        state.update({f"blocks.{i}.gcn.{k}": t for k, t in twin.state_dict().items()})
    dense.load_state_dict(state)
    return dense.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class DenseGraphLayer(nn.Module):
    """:class:`~pygkd.nn.backbones.efficientgcn.GraphLayer` with a dense spatial layer on ``[N, C, T, V]``."""

    def __init__(self, layer: GraphLayer, gcn: DenseGCN) -> None:
        super().__init__()
        self.gcn, self.bn, self.residual, self.act = gcn, layer.bn, layer.residual, layer.act

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.gcn(x)) + self.residual(x))


def dense_efficientgcn_like(model: EfficientGCN, channels_last: bool) -> EfficientGCN:
    """A copy of ``model`` whose graph layers are dense (the released EfficientGCN's ``SpatialGraphConv``)."""
    dense = copy.deepcopy(model)
    gcn = DenseChannelsLastGCN if channels_last else DenseGCN
    for stage in (*dense.branches, dense.main):
        for name, layer in list(stage.named_children()):
            if isinstance(layer, GraphLayer):
                setattr(stage, name, DenseGraphLayer(layer, dense_gcn_like(layer.gcn, model.layout, gcn)))
    return dense.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def relative_error(a: Tensor, b: Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def check_agreement(models: dict[str, Backbone], x: Tensor) -> dict[str, float]:
    """Largest relative error of logits, global and part features of every model against the first,
    computed in float64 on copies so that it measures the arithmetic, not float32 rounding (batch norm on
    batch statistics, dropout off)."""
    outputs = {}
    for name, model in models.items():
        twin = copy.deepcopy(model).double().train()
        for module in twin.modules():
            if isinstance(module, nn.Dropout):
                module.eval()
        with torch.no_grad():
            outputs[name] = twin(x.double())
    reference = outputs[next(iter(models))]
    return {
        name: max(relative_error(o, r) for o, r in zip(out, reference))
        for name, out in outputs.items()
    }


def interleaved_medians(
    steps: dict[str, Callable[[], None]], warmup: int, runs: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each step over ``runs`` rounds that run every step once, after
    ``warmup`` rounds."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for round_ in range(warmup + runs):
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            if round_ >= warmup:
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
        for name, ts in times.items()
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: nn.Module, x: Tensor, y: Tensor, precision: Precision) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        with precision.autocast():
            logits = model(x).logits
        F.cross_entropy(logits.float(), y).backward()
        synchronize(x.device)

    return step


def infer_step(model: nn.Module, x: Tensor, precision: Precision) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode(), precision.autocast():
            model(x)
        synchronize(x.device)

    return step


def build_models(layout: Layout, args: argparse.Namespace) -> dict[str, Backbone]:
    torch.manual_seed(0)
    if args.backbone == "efficientgcn":
        model = EfficientGCN(layout, 3, args.classes, scale=args.scale)
        convs = [m for m in model.modules() if isinstance(m, STGCNConv)]
        like = dense_efficientgcn_like
    else:
        channels, strides = PLANS[args.plan]
        model = STGCN(layout, 3, args.classes, channels=channels, strides=strides)
        convs = [block.gcn for block in model.blocks]
        like = dense_like
    with torch.no_grad():  # non-trivial importance and bias so that the weight copy is really tested
        for conv in convs:
            conv.edge_importance.uniform_(0.5, 1.5)
            conv.lin.bias.normal_()
    return dict(zip(MODELS, (model, like(model, False), like(model, True))))


def table_row(layout: str, v: int, setting: str, t: dict[str, tuple[float, float]], precision: str) -> str:
    (ours, ours_cpu), (dense, dense_cpu), (best, best_cpu) = (t[f"{k}@{precision}"] for k in MODELS)
    vs_float32 = ours / t["pygkd@float32"][0] if "pygkd@float32" in t else float("nan")
    return (
        f"| {layout} | {v} | {setting} | {precision} | {ours * 1e3:.0f} | {dense * 1e3:.0f} | {best * 1e3:.0f} "
        f"| {ours / dense:.2f} | {ours / best:.2f} | {ours_cpu / dense_cpu:.2f} | {ours_cpu / best_cpu:.2f} "
        f"| {vs_float32:.2f} |"
    )


def skeletons(n: int, m: int, t: int, v: int) -> Tensor:
    torch.manual_seed(1)
    return torch.randn(n, m, t, v, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["ntu25", "coco17"])
    parser.add_argument("--backbone", choices=["stgcn", "efficientgcn"], default="stgcn")
    parser.add_argument("--plan", choices=sorted(PLANS), default="stgcn10", help="ST-GCN's block plan")
    parser.add_argument("--scale", type=int, default=4, help="EfficientGCN-B<scale>")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--persons", type=int, default=2)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--infer-frames", type=int, default=300)
    parser.add_argument("--classes", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--compile", action="store_true", help="time torch.compile of every model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    precisions = [Precision(name, device.type) for name in args.precisions]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()

    print(f"# torch {torch.__version__}, {args.threads} threads, {where}, "
          f"{args.backbone} {args.plan if args.backbone == 'stgcn' else f'B{args.scale}'}, "
          f"{'torch.compile' if args.compile else 'eager'}, "
          f"median of {args.runs} runs after {args.warmup} warm-up, models interleaved\n")
    print("| layout | V | setting | precision | pygkd ms | dense ms | dense-best ms | pygkd / dense "
          "| pygkd / dense-best | CPU time pygkd / dense | CPU time pygkd / dense-best | pygkd / its float32 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.layouts:
        layout = get_layout(name)
        v = layout.num_joints
        models = build_models(layout, args)
        for model in models.values():
            model.train()
        errors = check_agreement(models, skeletons(4, args.persons, 32, v))
        if max(errors.values()) >= 1e-5:
            raise SystemExit(f"{name}: outputs disagree with pygkd, relative errors {errors}")

        models = {k: m.to(device) for k, m in models.items()}
        timed = {k: torch.compile(m) for k, m in models.items()} if args.compile else models
        x = skeletons(args.batch, args.persons, args.frames, v).to(device)
        y = torch.randint(args.classes, (args.batch,)).to(device)
        train = interleaved_medians({f"{k}@{p.name}": train_step(m, x, y, p) for p in precisions
                                     for k, m in timed.items()}, args.warmup, args.runs)
        for model in models.values():
            model.eval()
        x1 = skeletons(1, args.persons, args.infer_frames, v).to(device)
        infer = interleaved_medians({f"{k}@{p.name}": infer_step(m, x1, p) for p in precisions
                                     for k, m in timed.items()}, args.warmup, args.runs)

        for p in precisions:
            print(table_row(name, v, f"train fwd+bwd N={args.batch} M={args.persons} T={args.frames}", train, p.name))
        for p in precisions:
            print(table_row(name, v, f"inference N=1 M={args.persons} T={args.infer_frames}", infer, p.name))
        print(f"<!-- {name}: max relative output error vs pygkd: "
              + ", ".join(f"{k} {e:.1e}" for k, e in errors.items() if k != "pygkd") + " -->")


if __name__ == "__main__":
    main()
