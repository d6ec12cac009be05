"""The audio front end's kernels and their compiled entry point (private; the public API is ``avcourse.audio``).

The centred Hann STFT, its inverse and the log-frequency warp, written with
``keras.ops`` so that they run on every backend, eagerly or inside a graph.

:func:`run` is how ``avcourse.audio``'s front-end functions (``stft``,
``spectrogram``, ``log_freq_warp``, ``log_freq_unwarp``, ``log1p_magnitude``)
execute a step on an input they have already checked:

- on values known now (numpy arrays, eager tensors) the step runs as one
  compiled function of the active backend: ``tf.function`` on TensorFlow
  (XLA-compiled, see :class:`_TensorFlowStep`), ``jax.jit`` on JAX
  (Keras offers no backend-neutral way to compile a plain function), the plain
  kernel on the other backends. The function is built once per (step, config,
  backend, input rank) and cached; the backend traces it once per input shape
  and dtype. Numpy is converted to a tensor once on the way in and back once on
  the way out; constants (the Hann window, the warp matrix's taps) become part
  of the trace, so they are converted once per config and shape, not per call;
- on symbolic inputs (a ``tf.function`` or ``tf.data`` graph, a JAX tracer, a
  Keras functional input) the same kernel runs as plain ops inside the
  caller's graph.

Imports run one way: ``avcourse.audio`` imports this module, never the reverse.
"""

import collections
import functools

import numpy as np

from avcourse._validation import is_symbolic

# Executions of each compiled step's Python body: traces on TensorFlow and JAX
# (every call on the eager backends). The tests read it to show that repeated
# calls reuse the compiled function.
TRACES = collections.Counter()

# Framing by reshape takes ceil(n_fft / hop) shifted slices; beyond this many
# (a tiny hop) keras.ops.stft's own framing is used instead.
_MAX_SHIFTS = 16


# --------------------------------------------------------------------------- STFT and ISTFT


@functools.lru_cache(maxsize=8)
def hann(n_fft):
    """Periodic Hann window (scipy's and librosa's ``"hann"``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def _frames(waveform, n_fft, hop):
    """Reflect-padded (centred) frames (..., frames, n_fft), or ``None`` where this framing does not apply.

    The padded signal is cut into ``hop``-long blocks (one reshape) and frame
    ``f`` is blocks ``f .. f + ceil(n_fft / hop) - 1`` side by side, the last
    one cut so that the frame is ``n_fft`` long: a few slices and one
    concatenation instead of the gather of ``tf.signal.frame``. ``None`` when
    the length is unknown, more than one leading size is unknown, or the hop is
    tiny.
    """
    import keras

    ops = keras.ops
    shape = tuple(waveform.shape)
    samples = shape[-1]
    shifts = -(-n_fft // hop)
    lead = shape[:-1]
    if samples is None or shifts > _MAX_SHIFTS or sum(size is None for size in lead) > 1:
        return None
    pad = n_fft // 2
    padded_length = samples + 2 * pad
    num_frames = 1 + (padded_length - n_fft) // hop
    num_blocks = num_frames + shifts - 1
    no_padding = [(0, 0)] * len(lead)
    padded = ops.pad(waveform, no_padding + [(pad, pad)], mode="reflect")
    extra = num_blocks * hop - padded_length
    if extra > 0:  # zeros only reach the cut-off tail of the last frames
        padded = ops.pad(padded, no_padding + [(0, extra)])
    elif extra < 0:
        padded = padded[..., : num_blocks * hop]
    blocks = ops.reshape(padded, tuple(-1 if size is None else size for size in lead) + (num_blocks, hop))
    last = n_fft - (shifts - 1) * hop
    parts = [blocks[..., shift : shift + num_frames, :] for shift in range(shifts - 1)]
    return ops.concatenate(parts + [blocks[..., shifts - 1 : shifts - 1 + num_frames, :last]], axis=-1)


def stft(waveform, config):
    """Centred Hann-window STFT: (..., samples) → ``(real, imag)``, each (..., num_bins, frames)."""
    import keras

    ops = keras.ops
    if keras.backend.standardize_dtype(waveform.dtype) not in ("float32", "float64"):
        waveform = ops.cast(waveform, "float32")
    n_fft, hop = config.n_fft, config.hop_length
    frames = _frames(waveform, n_fft, hop)
    if frames is None:
        real, imag = ops.stft(waveform, n_fft, hop, n_fft, window="hann", center=True)
    else:
        real, imag = ops.rfft(frames * ops.cast(hann(n_fft), frames.dtype), fft_length=n_fft)
    return ops.swapaxes(real, -1, -2), ops.swapaxes(imag, -1, -2)


def magnitude(real, imag):
    import keras

    return keras.ops.sqrt(keras.ops.square(real) + keras.ops.square(imag))


def _spectrogram(waveform, config):
    return magnitude(*stft(waveform, config))


def istft(real, imag, config, length=None):
    import keras

    ops = keras.ops
    num_frames = tuple(real.shape)[-1]
    n_fft, hop = config.n_fft, config.hop_length
    frames = ops.irfft((ops.swapaxes(real, -1, -2), ops.swapaxes(imag, -1, -2)), fft_length=n_fft)
    window = hann(n_fft)
    signal = overlap_add(frames * ops.convert_to_tensor(window), hop)
    envelope = overlap_add(np.tile(np.square(window), (num_frames, 1)), hop)
    start = n_fft // 2
    if length is None:
        length = hop * (num_frames - 1)
    signal = signal[..., start : start + length]
    envelope = np.asarray(envelope)[start : start + length]
    envelope = np.where(envelope > 1e-10, envelope, 1.0).astype(np.float32)
    signal = signal / ops.convert_to_tensor(envelope)
    missing = length - ops.shape(signal)[-1]
    if missing > 0:  # frames do not reach that far: silence, as librosa
        rank = len(ops.shape(signal))
        signal = ops.pad(signal, [(0, 0)] * (rank - 1) + [(0, missing)])
    return signal


def overlap_add(frames, hop):
    """Overlap-add (..., frames, frame_length) with stride ``hop`` → (..., samples).

    Frames are zero-padded to a multiple of ``hop`` so the sum becomes a few
    shifted, padded copies of a reshaped tensor (no scatter, any backend).
    """
    import keras

    ops = keras.ops
    shape = tuple(ops.shape(frames))
    num_frames, frame_length = shape[-2], shape[-1]
    blocks = -(-frame_length // hop)
    lead = [(0, 0)] * (len(shape) - 2)
    frames = ops.pad(frames, lead + [(0, 0), (0, blocks * hop - frame_length)])
    frames = ops.reshape(frames, shape[:-2] + (num_frames, blocks, hop))
    total = 0
    for block in range(blocks):
        total = total + ops.pad(frames[..., block, :], lead + [(block, blocks - 1 - block), (0, 0)])
    return ops.reshape(total, shape[:-2] + ((num_frames + blocks - 1) * hop,))


# --------------------------------------------------------------------------- log-frequency warp


def bilinear_rows(sample_coords, source_len):
    """Interpolation matrix sampling a length-``source_len`` axis at normalised coordinates.

    ``sample_coords`` lie in [-1, 1] with the align-corners convention of
    PyTorch's ``grid_sample`` as Sound of Pixels called it: -1 is the centre of
    the first bin, +1 the centre of the last.
    """
    position = (np.clip(sample_coords, -1.0, 1.0) + 1.0) / 2.0 * (source_len - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, source_len - 1)
    fraction = position - lower
    matrix = np.zeros((len(sample_coords), source_len))
    rows = np.arange(len(sample_coords))
    np.add.at(matrix, (rows, lower), 1.0 - fraction)
    np.add.at(matrix, (rows, upper), fraction)
    return matrix


@functools.lru_cache(maxsize=16)
def cached_warp(num_bins, num_warped):
    row = np.linspace(-1.0, 1.0, num_warped)
    return bilinear_rows((np.power(21.0, (row + 1.0) / 2.0) - 11.0) / 10.0, num_bins).astype(np.float32)


@functools.lru_cache(maxsize=16)
def cached_unwarp(num_bins, num_warped):
    row = np.linspace(-1.0, 1.0, num_bins)
    return bilinear_rows(np.log(row * 10.0 + 11.0) / np.log(21.0) * 2.0 - 1.0, num_warped).astype(np.float32)


_TAPS = {}  # id(matrix) -> (matrix, taps): taps of the matrices seen, kept alive so that ids stay unique


def _taps(matrix):
    """``(lower, upper, lower_weight, upper_weight)`` of a matrix with two adjacent non-zeros per row, else ``None``.

    A bilinear interpolation matrix (the warp and unwarp matrices) has at most
    two neighbouring non-zeros per row, so ``matrix @ x`` equals
    ``lower_weight * x[lower] + upper_weight * x[upper]``: two row gathers
    instead of a dense (rows x bins) matmul. Cached per matrix object.
    """
    entry = _TAPS.get(id(matrix))
    if entry is not None and entry[0] is matrix:
        return entry[1]
    rows = np.arange(matrix.shape[0])
    lower = np.argmax(matrix != 0, axis=1)
    upper = np.minimum(lower + 1, matrix.shape[1] - 1)
    lower_weight = matrix[rows, lower]
    upper_weight = np.where(upper > lower, matrix[rows, upper], 0.0).astype(matrix.dtype)
    rebuilt = np.zeros_like(matrix)
    rebuilt[rows, lower] += lower_weight
    rebuilt[rows, upper] += upper_weight
    taps = (lower, upper, lower_weight[:, None], upper_weight[:, None]) if np.array_equal(rebuilt, matrix) else None
    if len(_TAPS) >= 64:
        _TAPS.clear()
    _TAPS[id(matrix)] = (matrix, taps)
    return taps


def check_rows(matrix, spectrogram, name):
    """Raise unless ``spectrogram`` has ``matrix.shape[1]`` rows on axis -2 (where that size is known)."""
    shape = tuple(spectrogram.shape)
    if len(shape) >= 2 and shape[-2] is not None and shape[-2] != matrix.shape[1]:
        raise ValueError(f"`{name}` must have {matrix.shape[1]} frequency rows on axis -2; received shape {shape}.")


def apply_along_frequency(matrix, spectrogram, name):
    """``matrix @ spectrogram`` along axis -2 (as its two taps per row for an interpolation matrix)."""
    import keras

    ops = keras.ops
    check_rows(matrix, spectrogram, name)
    taps = _taps(matrix)
    if taps is None:
        return ops.einsum("wf,...ft->...wt", ops.convert_to_tensor(matrix), spectrogram)
    lower, upper, lower_weight, upper_weight = taps
    axis = len(spectrogram.shape) - 2
    dtype = keras.backend.standardize_dtype(spectrogram.dtype)
    return ops.cast(lower_weight, dtype) * ops.take(spectrogram, lower, axis=axis) + ops.cast(
        upper_weight, dtype
    ) * ops.take(spectrogram, upper, axis=axis)


def _warped(spectrogram, config):
    return apply_along_frequency(cached_warp(config.num_bins, config.num_warped_bins), spectrogram, "spectrogram")


def _unwarped(warped, config):
    return apply_along_frequency(cached_unwarp(config.num_bins, config.num_warped_bins), warped, "warped")


def _log1p(waveform, config):
    import keras

    return keras.ops.log1p(_spectrogram(waveform, config))


def _log1p_warped(waveform, config):
    import keras

    return keras.ops.log1p(_warped(_spectrogram(waveform, config), config))


# --------------------------------------------------------------------------- numpy in, numpy out


def numpy_for_numpy(function):
    """Return numpy arrays when no argument is a backend tensor.

    In a notebook, numpy in gives numpy out; inside a model or a ``tf.data``
    map, tensors in give tensors out (and stay differentiable).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        import keras

        result = function(*args, **kwargs)
        if any(keras.ops.is_tensor(value) for value in (*args, *kwargs.values())):
            return result
        return keras.tree.map_structure(keras.ops.convert_to_numpy, result)

    return wrapper


# --------------------------------------------------------------------------- compiled steps

STEPS = {
    "stft": stft,
    "spectrogram": _spectrogram,
    "log_freq_warp": _warped,
    "log_freq_unwarp": _unwarped,
    "log1p_magnitude": _log1p,
    "log1p_magnitude_warped": _log1p_warped,
}


@functools.lru_cache(maxsize=64)
def compiled(step, config, backend, rank):
    """The compiled function of one front-end step for one config, backend and input rank (built once, then cached).

    One function per rank, each traced once per input shape and dtype (with
    static sizes: see :class:`_TensorFlowStep`).
    """
    kernel = STEPS[step]

    def traced(value):
        TRACES[step] += 1
        return kernel(value, config)

    if backend == "tensorflow":
        return _TensorFlowStep(traced)
    if backend == "jax":
        import jax

        return jax.jit(traced)
    return traced  # torch, numpy: the kernel's eager ops


class _TensorFlowStep:
    """A front-end step on TensorFlow: one XLA-compiled concrete function per input shape and dtype.

    Each (shape, dtype) is traced with its static sizes and compiled by XLA
    (``jit_compile``) on its first call: one fused kernel, run in the calling
    thread, where the plain graph hands its ops to TensorFlow's inter-op thread
    and waits, which costs milliseconds when other processes keep the cores
    busy. XLA compiles once per shape (0.1-0.3 s on a CPU); concrete functions
    are called directly, skipping the ``tf.function``'s per-call lookup (up to
    ``MAX_SHAPES`` of them; further shapes go through the ``tf.function``,
    which traces them the same way).

    What a call returns depends only on the input, never on what the process
    computed before, so that a run gives the same features, and trains to the
    same weights, whatever ran before it (a resumed run included): no shape is
    traced with unknown sizes (that framing, ``keras.ops.stft``'s, rounds
    differently), and no shape changes compiler after a number of calls (XLA's
    fused multiply-adds and its ``log1p`` round differently from the plain
    graph's ops, by a few float32 ulps). A shape XLA cannot compile runs the
    plain graph, on every call.
    """

    MAX_SHAPES = 16

    def __init__(self, traced):
        import tensorflow as tf

        self.plain = tf.function(traced, autograph=False)
        self.xla = tf.function(traced, autograph=False, jit_compile=True)
        self.entries = {}  # (shape, dtype) -> concrete function

    def _concrete(self, value):
        try:
            concrete = self.xla.get_concrete_function(value)
            return concrete, concrete(value)  # compiles
        except Exception:  # an op XLA cannot compile here: this shape keeps the plain graph
            concrete = self.plain.get_concrete_function(value)
            return concrete, concrete(value)

    def __call__(self, value):
        key = (tuple(value.shape), value.dtype)
        concrete = self.entries.get(key)
        if concrete is not None:
            return concrete(value)
        concrete, result = self._concrete(value)
        if len(self.entries) < self.MAX_SHAPES:
            self.entries[key] = concrete
        return result


def run(step, config, value):
    """Run a front-end step on a checked input; numpy in gives numpy out.

    Symbolic inputs run the kernel as plain ops in the caller's graph; numpy
    arrays and eager tensors run the step's cached compiled function.
    """
    if is_symbolic(value):
        return STEPS[step](value, config)
    import keras

    ops = keras.ops
    # The compiler must be the one of the tensors keras.ops makes: the backend Keras
    # was loaded with (keras.config), not a name looked up on keras.backend at call
    # time, which code that only routes by backend (shards.audio_features' tests) may
    # shadow while keras.ops still makes TensorFlow tensors.
    function = compiled(step, config, keras.config.backend(), len(value.shape))
    if not isinstance(value, np.ndarray):
        return function(value)
    result = function(ops.convert_to_tensor(value))
    if isinstance(result, tuple):
        return tuple(ops.convert_to_numpy(part) for part in result)
    return ops.convert_to_numpy(result)
