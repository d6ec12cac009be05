"""Metrics: sound localization (cIoU, AUC) and its ground-truth maps.

The functions are numpy-only, so evaluating never starts TensorFlow.
"""

from avcourse.metrics.localization import (
    center_prior_heatmap,
    ciou,
    consensus_map,
    localization_summary,
    normalize_heatmap,
    random_heatmap,
    resize_heatmap,
    union_map,
    whole_image_heatmap,
)

__all__ = [
    "center_prior_heatmap",
    "ciou",
    "consensus_map",
    "localization_summary",
    "normalize_heatmap",
    "random_heatmap",
    "resize_heatmap",
    "union_map",
    "whole_image_heatmap",
]
