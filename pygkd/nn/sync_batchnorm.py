r"""Batch normalisation over the global batch of several processes: ``torch.nn.SyncBatchNorm``, also on CPUs.

In training, a batch-norm layer normalises each channel with the mean and variance of its batch. Under
DistributedDataParallel each process sees only its slice of the global batch; synchronised batch norm
all-reduces the statistics, so that every slice is normalised with those of the global batch (as one
process would) and the gradients of the statistics are summed over the processes:

.. math::
    \mu_c = \frac{1}{n}\sum_{r}\sum_{i \in r} x_{ic}, \qquad
    \sigma^2_c = \frac{1}{n}\sum_{r}\sum_{i \in r} (x_{ic} - \mu_c)^2, \qquad
    y_{ic} = \gamma_c \frac{x_{ic} - \mu_c}{\sqrt{\sigma^2_c + \epsilon}} + \beta_c,

with :math:`n` the values per channel of all ranks :math:`r`. On CUDA (NCCL) this is torch's
``SyncBatchNorm``; torch refuses it on CPU tensors (and DistributedDataParallel refuses it in a CPU model),
so for gloo :class:`GlooSyncBatchNorm` sums the per-channel moments with one differentiable ``all_reduce``
(:class:`AllReduceSum`), whose backward all-reduces their gradients (one more), as torch's CUDA kernel does.
Evaluation and single-process training use plain batch norm either way.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class AllReduceSum(torch.autograd.Function):
    """``sum_r x_r`` over the ranks; the gradient of each ``x_r`` is the sum of the ranks' output gradients."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        total = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return AllReduceSum.apply(grad)


class GlooSyncBatchNorm(_BatchNorm):
    """Batch norm of any ``[N, C, ...]`` input with the statistics of all processes' batches in training
    (the arguments and state of ``torch.nn.BatchNorm2d``)."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input [N, C, ...], got {input.dim()}-D")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        channels = input.size(1)
        # one all-reduce of [sum, sum of squares, count] per channel, about a shift (the running mean, the same
        # on every rank) that keeps E[d^2] - E[d]^2 from cancelling; its backward is one all-reduce too. The
        # float32 shift lifts an autocast bfloat16 input to float32 (torch.var_mean, one pass, is far slower
        # on CPUs over these dimensions)
        shift = self.running_mean.detach().clone() if self.track_running_stats else input.new_zeros(
            channels, dtype=torch.promote_types(input.dtype, torch.float32))
        d = input - shift.view(shape)
        count = d.new_full((1,), input.numel() // channels)
        moments = AllReduceSum.apply(torch.cat([d.sum(dims), d.square().sum(dims), count]))
        n = float(moments[-1].detach())
        d_mean, d_square = moments[:channels] / n, moments[channels:-1] / n
        mean, var = shift + d_mean, (d_square - d_mean.square()).clamp(min=0)
        # y = x * scale + offset per channel: one pass over the input forward and one (plus a reduction) back
        scale = torch.rsqrt(var + self.eps)
        offset = -mean * scale
        if self.affine:
            scale, offset = scale * self.weight, offset * self.weight + self.bias
        out = torch.addcmul(offset.view(shape), input, scale.view(shape))
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * (n / max(n - 1, 1)), factor)
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every batch-norm layer of ``module`` synchronised over the processes, sharing its parameters and
    buffers: ``torch.nn.SyncBatchNorm`` on an accelerator, :class:`GlooSyncBatchNorm` on the CPU."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm):
        synced = GlooSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        if module.track_running_stats:
            synced.running_mean, synced.running_var = module.running_mean, module.running_var
            synced.num_batches_tracked = module.num_batches_tracked
        return synced.train(module.training)
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, device))
    return module
