"""What every backbone returns, and the pooling and classifier that all backbones share."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from ..skeleton import NUM_PARTS, Layout
from .pool import global_pool, part_pool, valid_persons
from .precision import full_precision


class BackboneOutput(NamedTuple):
    """One forward pass of a backbone on ``N`` samples.

    Attributes:
        logits: ``[N, num_classes]`` class scores.
        feature: ``[N, D]`` global feature (input of the classifier).
        part: ``[N, 5, D]`` part features, parts in the order of :data:`pygkd.skeleton.PARTS`.
    """

    logits: Tensor
    feature: Tensor
    part: Tensor


class Backbone(nn.Module):
    """Joint-feature extractor + global and part pooling + linear classifier.

    Subclasses implement :meth:`joint_features`; :meth:`forward` pools its output over frames, joints
    and (valid) persons, see :mod:`pygkd.nn.pool`.

    Args:
        layout: skeleton layout of the input.
        in_channels: channels ``C`` of the input (e.g. 3 for x, y, z).
        feature_dim: channels ``D`` of the joint features.
        num_classes: number of action classes.
        dropout: dropout on the global feature before the classifier.
    """

    def __init__(
        self, layout: Layout, in_channels: int, feature_dim: int, num_classes: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.layout = layout
        self.in_channels = in_channels
        self.feature_dim = feature_dim
        self.register_buffer("part_index", layout.part_index(), persistent=False)
        self.head_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)

    def joint_features(self, x: Tensor) -> Tensor:
        """``[N, M, T, V, C]`` -> joint features ``[N, M, T', V, D]``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> BackboneOutput:
        """``x``: ``[N, M, T, V, C]`` keypoints; all-zero persons are padding (see :mod:`pygkd.nn.pool`)."""
        z, valid, feature = self.pooled_features(x)
        part = part_pool(z, self.part_index, valid, NUM_PARTS)
        return BackboneOutput(self.classify(feature), feature, part)

    def pooled_features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Joint features ``[N, M, T', V, D]``, valid persons ``[N, M]`` and global feature ``[N, D]`` of
        ``x`` ``[N, M, T, V, C]``."""
        v, c = self.layout.num_joints, self.in_channels
        if x.dim() != 5 or x.shape[-2:] != (v, c):
            raise ValueError(
                f"{type(self).__name__} for layout {self.layout.name!r}: expected input [N, M, T, {v}, {c}], "
                f"got {list(x.shape)}"
            )
        valid = valid_persons(x)
        z = full_precision(self.joint_features(x))  # pooled in float32 under mixed precision
        return z, valid, global_pool(z, valid)

    def classify(self, feature: Tensor) -> Tensor:
        """Logits ``[N, num_classes]`` of global features ``[N, D]``."""
        return self.fc(self.head_dropout(feature))
