"""Models of the course: trunks, CAVL's audio-visual clustering model, the source counter."""

from avcourse.models.backbones import TRUNK_CONFIGS, audio_trunk, conv_trunk, visual_trunk
from avcourse.models.cavl import CAVLModel
from avcourse.models.counting import SourceCounter, counting_learning_rate, counting_lr_schedule, counting_optimizer

__all__ = [
    "TRUNK_CONFIGS",
    "CAVLModel",
    "SourceCounter",
    "audio_trunk",
    "conv_trunk",
    "counting_learning_rate",
    "counting_lr_schedule",
    "counting_optimizer",
    "visual_trunk",
]
