"""The first cell of every tutorial, as one function.

:func:`setup` quiets TensorFlow's start-up messages, shows figures inline as
PNG, silences the warnings that ``model.fit`` on a ``tf.data`` pipeline always
prints, reads fast mode (``AVCOURSE_FAST=1``, which the course's tests set so
that the notebooks shrink their training) and prints the versions and devices
the notebook runs on.

Taught in: tutorials/00_audio_visual_world.ipynb (every notebook's setup cell)
"""

import os
import warnings

__all__ = ["FIT_WARNINGS", "fast_mode", "setup"]

# model.fit on a tf.data pipeline: Keras says it ignores `shuffle` (the dataset shuffles itself) and that the
# input "ran out of data" after the first epoch of unknown length. Both are harmless in the tutorials.
FIT_WARNINGS = (
    ".*`shuffle=True` was passed.*",
    ".*Your input ran out of data.*",
)


def fast_mode():
    """Whether the notebook runs in fast mode: the environment variable ``AVCOURSE_FAST`` is ``"1"``.

    Examples:
    >>> isinstance(fast_mode(), bool)
    True
    """
    return os.environ.get("AVCOURSE_FAST") == "1"


def setup(dpi=70, *, ignore_warnings=()):
    """Set up a tutorial notebook and return whether fast mode is on.

    Call it before importing Keras or TensorFlow (``import avcourse`` starts
    neither), so that ``TF_CPP_MIN_LOG_LEVEL`` applies:

    1. ``TF_CPP_MIN_LOG_LEVEL=2`` unless already set (TensorFlow's C++ start-up messages);
    2. inside IPython, ``%matplotlib inline`` with PNG figures; ``figure.dpi = dpi``;
    3. the warnings :data:`FIT_WARNINGS` and ``ignore_warnings`` (message
       regexes) are ignored;
    4. prints the versions of avcourse and Keras, the backend, fast mode and
       the devices.

    Args:
        dpi: resolution of the figures.
        ignore_warnings: more warning messages (regular expressions) a
            notebook explains and then ignores.

    Returns:
        ``True`` in fast mode (:func:`fast_mode`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: no inline backend to set
        shell = None
    else:
        shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
        shell.run_line_magic("config", "InlineBackend.figure_format = 'png'")
    plt.rcParams["figure.dpi"] = dpi
    for message in FIT_WARNINGS + tuple(ignore_warnings):
        warnings.filterwarnings("ignore", message=message)

    import keras

    import avcourse

    fast = fast_mode()
    backend = keras.backend.backend()
    print("avcourse", avcourse.__version__, "| keras", keras.__version__, "| backend", backend, "| fast mode:", fast)
    print("devices:", _devices(backend))
    return fast


def _devices(backend):
    """The device types the backend sees, e.g. ``['CPU']``."""
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.device_type for device in tf.config.list_physical_devices()]
    if backend == "jax":
        import jax

        return [device.platform.upper() for device in jax.devices()]
    if backend == "torch":
        import torch

        return ["CPU"] + ["GPU"] * torch.cuda.device_count()
    return []
