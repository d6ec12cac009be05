"""Models of the course: trunks, CAVL's audio-visual clustering model, the source counter, the separator."""

from avcourse.models.backbones import TRUNK_CONFIGS, audio_trunk, conv_trunk, visual_trunk
from avcourse.models.cavl import CAVLModel
from avcourse.models.counting import SourceCounter, counting_learning_rate, counting_lr_schedule, counting_optimizer
from avcourse.models.separator import (
    UNetSeparator,
    VisuallyGuidedSeparator,
    cavl_visual_vectors,
    separate,
    visual_vectors_from_labels,
)

__all__ = [
    "TRUNK_CONFIGS",
    "CAVLModel",
    "SourceCounter",
    "UNetSeparator",
    "VisuallyGuidedSeparator",
    "audio_trunk",
    "cavl_visual_vectors",
    "conv_trunk",
    "counting_learning_rate",
    "counting_lr_schedule",
    "counting_optimizer",
    "separate",
    "visual_trunk",
    "visual_vectors_from_labels",
]
