"""Models of the course: trunks, CAVL's audio-visual clustering model, the source counter."""

from avcourse.models.backbones import TRUNK_CONFIGS, audio_trunk, conv_trunk, visual_trunk
from avcourse.models.cavl import CAVLModel

__all__ = ["TRUNK_CONFIGS", "CAVLModel", "audio_trunk", "conv_trunk", "visual_trunk"]
