"""The first cell of every tutorial, as one function, and the progress line of its long cells.

:func:`setup` quiets TensorFlow's start-up messages, shows figures inline as
PNG, silences the warnings that ``model.fit`` on a ``tf.data`` pipeline always
prints, reads fast mode (``AVCOURSE_FAST=1``, which the course's tests set so
that the notebooks shrink their training) and prints the mode, the versions
and the devices the notebook runs on. :class:`EpochProgress` prints one
compact line per epoch of a ``fit`` (or of every stage of
:func:`avcourse.training.run_curriculum`), so a long cell shows that it runs;
its timings are what ``tutorials/nbval_sanitize.cfg`` replaces.

Taught in: tutorials/00_audio_visual_world.ipynb (every notebook's setup cell)
"""

import contextlib
import os
import sys
import time
import warnings


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block (C++ log lines bypass Python's ``sys.stderr``).

    TensorFlow's start-up lines ("oneDNN custom operations are on", "failed
    call to cuInit" on a machine without a GPU) are written by absl before
    any log level applies, straight to the process's stderr, which Jupyter
    stores as cell output.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# The notebooks import this module first: Keras starts TensorFlow here, quietly. Level 3 also hides the C++
# "errors" TensorFlow logs while it runs (e.g. "oneDNN supports DT_INT64 only on platforms with AVX-512", on the
# first int64 op), which are notes about kernels, not failures; Python exceptions are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
with _native_stderr_silenced():
    import keras

__all__ = ["FIT_WARNINGS", "EpochProgress", "fast_mode", "run_time", "setup"]

_setup_time = None  # time.perf_counter() at setup(): run_time() measures from it

# model.fit on a tf.data pipeline: Keras says it ignores `shuffle` (the dataset shuffles itself) and that the
# input "ran out of data" after the first epoch of unknown length. Both are harmless in the tutorials.
FIT_WARNINGS = (
    ".*`shuffle=True` was passed.*",
    ".*Your input ran out of data.*",
)
"""Messages (regular expressions) of the warnings :func:`setup` ignores."""


def fast_mode():
    """Whether the notebook runs in fast mode: the environment variable ``AVCOURSE_FAST`` is ``"1"``.

    Examples:
    >>> isinstance(fast_mode(), bool)
    True
    """
    return os.environ.get("AVCOURSE_FAST") == "1"


def setup(dpi=100, *, ignore_warnings=()):
    """Set up a tutorial notebook and return whether fast mode is on.

    Importing this module imports Keras with the process's native stderr
    silenced (TensorFlow's C++ start-up lines) and ``TF_CPP_MIN_LOG_LEVEL=3``
    unless already set, so import it before Keras or TensorFlow. Then
    :func:`setup`:

    1. lists the devices with native stderr silenced as well;
    2. inside IPython, ``%matplotlib inline`` with PNG figures; ``figure.dpi = dpi``;
    3. the warnings :data:`FIT_WARNINGS` and ``ignore_warnings`` (message
       regexes) are ignored;
    4. prints ``mode: fast`` or ``mode: full`` with the version of
       avcourse, then the versions of Keras, the backend and the devices;
    5. starts the clock that :func:`run_time` reads.

    Args:
        dpi: resolution of the figures.
        ignore_warnings: more warning messages (regular expressions) a
            notebook explains and then ignores.

    Returns:
        ``True`` in fast mode (:func:`fast_mode`).
    """
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

    import avcourse

    global _setup_time
    _setup_time = time.perf_counter()
    fast = fast_mode()
    backend = keras.backend.backend()
    print(f"mode: {'fast' if fast else 'full'} | avcourse {avcourse.__version__}")
    with _native_stderr_silenced():  # listing the devices initialises CUDA, which logs when there is none
        devices = _devices(backend)
    print("keras", keras.__version__, "| backend", backend, "| devices:", devices)
    return fast


def run_time():
    """Print and return the seconds since :func:`setup`: the notebook's run time in its mode.

    The last code cell of every tutorial calls it, so the stored outputs
    carry the measured time of the run that produced them (the time the
    notebook's text quotes), with its mode and CPU count.

    Returns:
        the seconds since :func:`setup` (float).

    Raises:
        RuntimeError: when :func:`setup` has not run in this process.
    """
    if _setup_time is None:
        raise RuntimeError("run_time() measures from avcourse.notebook.setup(); call setup() first.")
    seconds = time.perf_counter() - _setup_time
    mode = "fast" if fast_mode() else "full"
    print(f"run time: {seconds:.0f} s ({seconds / 60:.1f} min) in {mode} mode on {os.cpu_count()} CPU cores", flush=True)
    return seconds


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: ``[label] epoch 3/6  loss 12.3456  val_loss 13.0000  (4 s)``.

    ``verbose=1`` prints a progress bar per batch, far too long for a stored
    notebook; ``verbose=0`` prints nothing for minutes. This callback prints
    the epoch number, every logged value (4 significant decimals) and the
    seconds the epoch took, flushed at once.

    Args:
        label: text before each line, e.g. a curriculum stage's name.
        every: print every ``every``-th epoch (and always the last).

    Examples:
    >>> progress = EpochProgress("C1")
    >>> progress.set_params({"epochs": 2})
    >>> progress.on_epoch_begin(0)
    >>> progress.on_epoch_end(0, {"loss": 1.23456})  # doctest: +ELLIPSIS
    [C1] epoch 1/2  loss 1.2346  (... s)
    """

    def __init__(self, label="", every=1):
        super().__init__()
        if not isinstance(label, str):
            raise ValueError(f"`label` must be a string; received {type(label).__name__}.")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer; received {every!r}.")
        self.label = label
        self.every = every
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        epochs = (self.params or {}).get("epochs")
        if (epoch + 1) % self.every and epoch + 1 != epochs:
            return
        values = "".join(f"  {name} {float(value):.4f}" for name, value in (logs or {}).items())
        seconds = time.perf_counter() - (self._started or time.perf_counter())
        prefix = f"[{self.label}] " if self.label else ""
        total = f"/{epochs}" if epochs else ""
        print(f"{prefix}epoch {epoch + 1}{total}{values}  ({seconds:.0f} s)", flush=True)


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
