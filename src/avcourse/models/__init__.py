"""Models of the course: trunks, CAVL's audio-visual clustering model, the source counter, the separator, CCoL.

Every model trained with ``model.fit`` computes its loss by one rule,
:class:`~avcourse.models.base.ModelLoss` (``sample_weight``, ``model.losses``
and the replica scaling handled once).
"""

from avcourse.models.backbones import TRUNK_CONFIGS, audio_trunk, conv_trunk, visual_trunk
from avcourse.models.base import ModelLoss
from avcourse.models.cavl import CAVLModel
from avcourse.models.ccol import CCOL_CONFIGS, CCoLModel, GroundingNet, ObjectConditionedSeparator
from avcourse.models.counting import SourceCounter, counting_learning_rate, counting_lr_schedule, counting_optimizer
from avcourse.models.resnet import RESNET_CONFIGS, ResidualBlock, resnet18
from avcourse.models.separator import VisuallyGuidedSeparator, cavl_visual_vectors, separate, visual_vectors_from_labels
from avcourse.models.unet import UNetSeparator

__all__ = [
    "CCOL_CONFIGS",
    "RESNET_CONFIGS",
    "TRUNK_CONFIGS",
    "CAVLModel",
    "CCoLModel",
    "GroundingNet",
    "ModelLoss",
    "ObjectConditionedSeparator",
    "ResidualBlock",
    "SourceCounter",
    "UNetSeparator",
    "VisuallyGuidedSeparator",
    "audio_trunk",
    "cavl_visual_vectors",
    "conv_trunk",
    "counting_learning_rate",
    "counting_lr_schedule",
    "counting_optimizer",
    "resnet18",
    "separate",
    "visual_trunk",
    "visual_vectors_from_labels",
]
