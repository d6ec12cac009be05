"""avcourse: a Keras 3 course in audio-visual learning.

The package teaches two papers, notebook by notebook:

* CAVL, Curriculum Audiovisual Learning (Hu et al., 2020): soft clustering of
  audio and visual feature maps, audio-visual alignment, a one-to-many-source
  curriculum, source counting, sound localization and visually guided separation.
* CCoL, Cyclic Co-Learning (Tian, Hu and Xu, CVPR 2021): sounding-object visual
  grounding trained in a cycle with sound separation.

Sub-packages are imported lazily, so ``import avcourse`` is cheap and does not
start TensorFlow until a model, layer or loss is used.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "audio",
    "baselines",
    "data",
    "layers",
    "losses",
    "metrics",
    "models",
    "training",
    "reproduce",
    "plotting",
    "notebook",
    "report",
    "testing",
    "cli",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"avcourse.{name}")
    if name == "separate":  # avcourse.separate(mixture, visual_vector, separator): the convenience of the course
        return importlib.import_module("avcourse.models.separator").separate
    raise AttributeError(f"module 'avcourse' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + ["separate"])
