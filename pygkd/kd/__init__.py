"""Knowledge distillation from the HQ teacher: the part-level multi-sample contrastive loss (Eqs. 6-11), the
paper's baselines (KL on logits, global MSC), the action-specific part matrix E (Eqs. 12-13), and what the
variants of L_pmsc beyond the paper add (a projection head and temperature, occlusion-aware part weights)."""
from .baselines import global_msc_loss, kl_loss
from .head import DistillationHead
from .heatmap import plot_part_matrix
from .occlusion import part_occlusion
from .part_matrix import PartMatrix, error_rate, occlude_parts, part_error_rates, part_matrix
from .pmsc import defined_samples, multi_sample_contrastive_loss, part_similarity, pmsc_loss

__all__ = [
    "DistillationHead", "PartMatrix", "defined_samples", "error_rate", "global_msc_loss", "kl_loss", "multi_sample_contrastive_loss", "occlude_parts",
    "part_error_rates", "part_matrix", "part_occlusion", "part_similarity", "plot_part_matrix", "pmsc_loss",
]
