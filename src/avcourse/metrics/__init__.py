"""Metrics: sound localization (cIoU, AUC; pointing game and mask IoU on object masks) and its ground-truth maps; source counting; BSS-eval separation scores.

The functions are numpy-only, so evaluating never starts TensorFlow.
"""

from avcourse.metrics.localization import (
    center_prior_heatmap,
    ciou,
    consensus_map,
    localization_summary,
    mask_to_grid,
    normalize_heatmap,
    random_heatmap,
    resize_heatmap,
    union_map,
    whole_image_heatmap,
)
from avcourse.metrics.object_masks import (
    all_objects_heatmap,
    mask_iou,
    match_heatmaps_to_sources,
    pointing_accuracy,
    pointing_hit,
    random_object_heatmap,
)

__all__ = [
    "all_objects_heatmap",
    "center_prior_heatmap",
    "ciou",
    "consensus_map",
    "localization_summary",
    "mask_iou",
    "mask_to_grid",
    "match_heatmaps_to_sources",
    "normalize_heatmap",
    "pointing_accuracy",
    "pointing_hit",
    "random_heatmap",
    "random_object_heatmap",
    "resize_heatmap",
    "union_map",
    "whole_image_heatmap",
]

# Counting (CAVL Table 2): accuracy, MAE and confusion matrix of source counts.
from avcourse.metrics.counting import count_accuracy, count_confusion, count_mae  # noqa: E402

__all__ += ["count_accuracy", "count_confusion", "count_mae"]

# Separation (CAVL Table 4): BSS-eval SDR/SIR/SAR via mir_eval, with silent sources skipped.
from avcourse.metrics.separation import bss_eval, bss_eval_batch, mixture_sdr, sdr_improvement  # noqa: E402

__all__ += ["bss_eval", "bss_eval_batch", "mixture_sdr", "sdr_improvement"]
