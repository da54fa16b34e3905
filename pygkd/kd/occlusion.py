r"""How much of each body part of an LQ sample is occluded: the fractions :math:`o_{i,p}` of the
occlusion-aware part weights :math:`\omega_{i,p} = E_{y_i,p}\,(1 + o_{i,p})` (``student.occlusion_weight``).

An entry ``(person m, frame t, joint v)`` of sample :math:`i` is *occluded* when all its channels are exactly
zero (what :class:`~pygkd.data.transforms.OccludeJoints` and :func:`~pygkd.kd.occlude_parts` write). Padding
is not occlusion: the count runs over the sample's *real* frames (those where any channel of any person is
non-zero; ``FixLength`` pads with zero frames) and *valid* persons (those with a non-zero channel in some
frame; ``KeepPersons`` pads with zero persons):

.. math::
    o_{i,p} = \frac{\sum_{m \in M_i} \sum_{t \in T_i} \sum_{v:\, \mathrm{part}(v) = p}
                    \mathbb{1}\big(x_{i,m,t,v,:} = 0\big)}
                   {|M_i|\,|T_i|\,|\{v : \mathrm{part}(v) = p\}|} \in [0, 1],

with :math:`o_{i,p} = 0` for a sample without any real frame (all zero) and for a part without joints. A
frame in which every joint of every person is occluded cannot be told from padding and is not counted.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..skeleton import NUM_PARTS


def part_occlusion(x: Tensor, part_index: Tensor) -> Tensor:
    """The occluded fraction of every body part of every sample (see the module docstring).

    Args:
        x: ``[B, M, T, V, C]`` the student's input skeletons.
        part_index: ``[V]`` part (0..4) of every joint of their layout (``layout.part_index()``).

    Returns:
        ``[B, 5]`` fractions :math:`o_{i,p} \\in [0, 1]` in ``x``'s floating dtype (no gradient).
    """
    if x.dim() != 5 or part_index.shape != (x.size(3),):
        raise ValueError(
            f"expected skeletons [B, M, T, V, C] and a part index [V], got {tuple(x.shape)} "
            f"and {tuple(part_index.shape)}"
        )
    x = x.detach()
    zero = (x == 0).all(-1)  # [B, M, T, V]
    valid_person = (~zero).any(3).any(2)  # [B, M]
    real_frame = (~zero).any(3).any(1)  # [B, T]
    counted = valid_person[:, :, None, None] & real_frame[:, None, :, None]  # [B, M, T, 1]
    one_hot = (part_index.to(x.device).unsqueeze(1) == torch.arange(NUM_PARTS, device=x.device)).to(x.dtype)  # [V, 5]
    occluded = (zero & counted).to(x.dtype).sum((1, 2)) @ one_hot  # [B, 5]
    entries = counted.to(x.dtype).sum((1, 2)) * one_hot.sum(0)  # [B, 1] x [5] -> [B, 5]
    return occluded / entries.clamp(min=1)
