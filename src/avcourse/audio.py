"""The audio front end: loading, STFT/ISTFT, the log-frequency warp and masks.

Conventions follow Sound of Pixels, CAVL and CCoL: audio at 11025 Hz, a centred
Hann-window STFT with ``n_fft=1022`` and ``hop_length=256`` (512 frequency
bins), spectrograms warped to 256 log-frequency rows before they enter a
network, and masks (ratio or binary) that are unwarped back to 512 bins and
applied to the mixture magnitude, whose phase is reused for the inverse STFT.

The spectral functions use ``keras.ops`` and accept numpy arrays or backend
tensors, batched over any leading axes, so the same code runs inside a model,
in a ``tf.data`` map (TensorFlow backend) and in a notebook. Numpy inputs give
numpy outputs; any backend tensor among the inputs gives backend tensors.
On values known at the call (numpy arrays, eager tensors) ``stft``,
``spectrogram``, ``log_freq_warp``, ``log_freq_unwarp`` and ``log1p_magnitude``
run as one compiled function of the backend (``tf.function`` XLA-compiled;
``jax.jit``), built once per config and input shape and reused, so that a
clip's features depend only on the clip, not on what was computed before;
``bench/frontend.py`` times them against Sound of Pixels' own path.
``tensorflow-io`` is not used: soundfile/librosa decode audio files and PyAV
decodes anything else (video containers, mp3, m4a).

Every public function checks its inputs and raises a ``ValueError`` naming the
argument: type, rank, sizes (a waveform shorter than ``n_fft // 2 + 1``, a
spectrum without ``config.num_bins`` bins), emptiness and, for values known at
the call (numpy arrays, lists, eager tensors), NaN/Inf. Inside a compiled
graph or a ``tf.data`` map only the static shapes can be checked.

Taught in: tutorials/00_audio_visual_world.ipynb
"""

import dataclasses
from pathlib import Path

import numpy as np

from avcourse._validation import (
    as_float_array,
    check_bool,
    check_finite_tensor,
    check_not_silent,
    check_number,
    check_positive_int,
    is_symbolic,
)
from avcourse import _decoders, _spectral

__all__ = [
    "AudioConfig",
    "binary_mask",
    "fit_length",
    "istft",
    "load_audio",
    "log1p_magnitude",
    "log_freq_unwarp",
    "log_freq_warp",
    "magnitude",
    "magnitude_weight",
    "mix_sources",
    "normalize_source_masks",
    "ratio_mask",
    "reconstruct_from_mask",
    "reconstruct_sources",
    "resample",
    "resolve_config",
    "spectrogram",
    "stft",
    "to_mono",
    "unwarp_matrix",
    "warp_matrix",
]

# Magnitudes at or below this count as silence when a ratio mask divides by them.
_MAGNITUDE_EPSILON = 1e-8


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Settings of the audio front end.

    The defaults are the Sound of Pixels / CCoL ones: a 65535-sample clip
    (about 5.94 s) at 11025 Hz gives a 512 x 256 spectrogram, warped to
    256 x 256. ``AudioConfig.cavl()`` gives CAVL's 10 s clip (512 x 432).

    Args:
        sample_rate: samples per second of every waveform.
        n_fft: STFT window and FFT length (1022 gives 512 bins).
        hop_length: STFT hop in samples.
        num_warped_bins: rows of the log-frequency-warped spectrogram.
        clip_seconds: clip duration used by the data pipelines.
    """

    sample_rate: int = 11025
    n_fft: int = 1022
    hop_length: int = 256
    num_warped_bins: int = 256
    clip_seconds: float = 65535 / 11025

    def __post_init__(self):
        check_positive_int(self.sample_rate, "sample_rate")
        check_positive_int(self.n_fft, "n_fft")
        check_positive_int(self.hop_length, "hop_length")
        check_positive_int(self.num_warped_bins, "num_warped_bins")
        if self.hop_length > self.n_fft:
            raise ValueError(
                f"`hop_length` must be <= n_fft ({self.n_fft}) for a reconstructable STFT; "
                f"received {self.hop_length}."
            )
        try:
            check_number(self.clip_seconds, "clip_seconds", minimum=0, exclusive_minimum=True)
        except ValueError:
            raise ValueError(f"`clip_seconds` must be > 0 (a finite number); received {self.clip_seconds!r}.") from None

    @classmethod
    def cavl(cls):
        """CAVL's paper setting: 10 s clips giving 512 x 432 spectrograms."""
        return cls(clip_seconds=431 * 256 / 11025)

    @property
    def num_bins(self):
        """Frequency bins of the linear STFT (``n_fft // 2 + 1``)."""
        return self.n_fft // 2 + 1

    @property
    def num_samples(self):
        """Samples in one clip."""
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def num_frames(self):
        """STFT frames of one clip (centred STFT)."""
        return 1 + self.num_samples // self.hop_length


def resolve_config(config):
    """The ``AudioConfig`` a front-end function works with: ``config``, or the course's default for ``None``.

    Args:
        config: an ``AudioConfig`` or ``None``.

    Returns:
        ``config`` itself, or ``AudioConfig()`` when it is ``None``.

    Raises:
        ValueError: ``config`` is neither.

    Examples:
    >>> resolve_config(None).num_bins, resolve_config(AudioConfig.cavl()).num_frames
    (512, 432)
    """
    if config is None:
        return AudioConfig()
    if not isinstance(config, AudioConfig):
        raise ValueError(f"`config` must be an AudioConfig or None; received {type(config).__name__}.")
    return config


def _checked(value, name, *, min_ndim=1):
    """Check an array-like or backend tensor; return it as float32 numpy, or as a float backend tensor.

    Numpy arrays, lists and numbers, and eager tensors, are checked for dtype,
    rank, emptiness and NaN/Inf (a tensor stays on its device; one boolean
    comes back). Symbolic tensors (inside a compiled graph or a ``tf.data``
    map) hold no values yet: only their static rank and sizes are checked.
    """
    import keras

    ops = keras.ops
    if not (isinstance(value, keras.KerasTensor) or ops.is_tensor(value)):
        return as_float_array(value, name, min_ndim=min_ndim).astype(np.float32, copy=False)
    shape = tuple(value.shape)
    if len(shape) < min_ndim:
        raise ValueError(f"`{name}` must have rank >= {min_ndim}; received rank {len(shape)} with shape {shape}.")
    if any(size == 0 for size in shape):
        raise ValueError(f"`{name}` is empty (shape {shape}); expected at least one element.")
    dtype = keras.backend.standardize_dtype(value.dtype)
    if not dtype.startswith(("float", "bfloat", "int", "uint", "bool")):
        raise ValueError(f"`{name}` must have a real numeric dtype; received dtype {dtype}.")
    if not dtype.startswith(("float", "bfloat")):
        value = ops.cast(value, "float32")
    return check_finite_tensor(value, name)


def _check_nonnegative(value, name):
    """Raise if a concrete (numpy or eager) magnitude holds a negative value."""
    import keras

    if not is_symbolic(value) and bool(keras.ops.any(keras.ops.less(value, 0.0))):
        low = float(keras.ops.min(value))
        raise ValueError(f"`{name}` must hold magnitudes >= 0; received a minimum of {low:.4g}.")
    return value


# --------------------------------------------------------------------------- loading


def load_audio(path, config=None, *, offset=0.0, duration=None, allow_silent=True):
    """Load an audio file (or a video's audio track) as mono float32 at the config's rate.

    WAV, FLAC, OGG and other formats libsndfile reads go through soundfile;
    anything else (mp3, m4a, mp4, webm, ...) is decoded with PyAV.

    Args:
        path: file to read.
        config: an ``AudioConfig`` (its ``sample_rate`` is the target rate).
        offset: seconds to skip at the start.
        duration: seconds to keep, or ``None`` for all.
        allow_silent: if ``False``, raise when the loaded audio is silent.

    Returns:
        float32 array of shape (samples,).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be decoded, holds no samples, or contains NaN/Inf.
    """
    config = resolve_config(config)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` does not exist or is not a file: {str(path)!r}.")
    check_number(offset, "offset", minimum=0)
    if duration is not None:
        check_number(duration, "duration", minimum=0, exclusive_minimum=True)
    allow_silent = check_bool(allow_silent, "allow_silent")
    try:
        waveform, native_rate = _decoders.read_with_soundfile(path)
    except Exception:
        try:
            waveform, native_rate = _decoders.read_with_pyav(path)
        except Exception as error:
            raise ValueError(f"`path` {str(path)!r} could not be decoded as audio: {error}") from None
    waveform = np.asarray(waveform).mean(axis=0)  # decoders give (channels, samples)
    start = int(round(offset * native_rate))
    stop = None if duration is None else start + int(round(duration * native_rate))
    waveform = waveform[start:stop]
    if waveform.size == 0:
        raise ValueError(f"`path` {str(path)!r} holds no audio samples (after offset={offset}, duration={duration}).")
    waveform = as_float_array(waveform, "path (decoded audio)")
    waveform = resample(waveform, native_rate, config.sample_rate)
    if not allow_silent:
        check_not_silent(waveform, "path (decoded audio)")
    return waveform.astype(np.float32)


def to_mono(waveform):
    """Average channels: (channels, samples) or (samples,) → (samples,)."""
    waveform = as_float_array(waveform, "waveform", min_ndim=1)
    if waveform.ndim == 1:
        return waveform
    if waveform.ndim != 2:
        raise ValueError(f"`waveform` must have rank 1 or 2 (channels, samples); received shape {waveform.shape}.")
    return waveform.mean(axis=0)


def resample(waveform, orig_sr, target_sr):
    """Resample a waveform (..., samples) with librosa's high-quality soxr resampler."""
    check_positive_int(orig_sr, "orig_sr")
    check_positive_int(target_sr, "target_sr")
    waveform = as_float_array(waveform, "waveform", min_ndim=1)
    if orig_sr == target_sr:
        return waveform.astype(np.float32)
    import librosa

    return librosa.resample(waveform, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq").astype(np.float32)


def fit_length(waveform, num_samples):
    """Crop or zero-pad the last axis to exactly ``num_samples`` (the dtype is kept)."""
    num_samples = check_positive_int(num_samples, "num_samples")
    as_float_array(waveform, "waveform", min_ndim=1)  # dtype, rank, emptiness, NaN/Inf
    waveform = np.asarray(waveform)
    if waveform.shape[-1] >= num_samples:
        return waveform[..., :num_samples]
    padding = [(0, 0)] * (waveform.ndim - 1) + [(0, num_samples - waveform.shape[-1])]
    return np.pad(waveform, padding)


def mix_sources(sources, gains=None):
    """Mix sources (n, samples) into one waveform: Σ gain_i · s_i clipped to [-1, 1].

    Args:
        sources: array (num_sources, samples).
        gains: per-source gains; default ``1 / num_sources`` each (DESIGN §3.1).

    Returns:
        ``(mixture, scaled_sources)``: the mixture (samples,) and the sources as
        they sound inside it (num_sources, samples), the targets of separation.
    """
    sources = as_float_array(sources, "sources", ndim=2)
    if gains is None:
        gains = np.full(len(sources), 1.0 / len(sources))
    gains = as_float_array(gains, "gains", ndim=1)
    if len(gains) != len(sources):
        raise ValueError(f"`gains` must have one value per source ({len(sources)}); received {len(gains)}.")
    scaled = (sources * gains[:, None]).astype(np.float32)
    return np.clip(scaled.sum(axis=0), -1.0, 1.0), scaled


# --------------------------------------------------------------------------- STFT


def _check_waveform(waveform, config, name="waveform"):
    """Validate a waveform (numpy, list or backend tensor; symbolic tensors: static shape only)."""
    waveform = _checked(waveform, name, min_ndim=1)
    minimum = config.n_fft // 2 + 1
    samples = tuple(waveform.shape)[-1]
    if samples is not None and samples < minimum:
        raise ValueError(
            f"`{name}` must have at least n_fft // 2 + 1 = {minimum} samples on its last axis "
            f"for a centred STFT; received shape {tuple(waveform.shape)}."
        )
    return waveform


def stft(waveform, config=None):
    """Centred Hann-window STFT, batched over leading axes.

    Equal to ``librosa.stft(y, n_fft=1022, hop_length=256, window="hann",
    center=True, pad_mode="reflect")`` (the reflect padding of the librosa
    versions that Sound of Pixels used; librosa ≥ 0.10 defaults to zeros).

    Args:
        waveform: float array (..., samples).
        config: an ``AudioConfig``.

    Returns:
        ``(real, imag)``, each (..., num_bins, frames) with num_bins = 512.
    """
    config = resolve_config(config)
    return _spectral.run("stft", config, _check_waveform(waveform, config))


def _check_parts(real, imag, min_ndim=1):
    """Check the real and imaginary parts of a spectrum: same shape, numeric, finite, rank >= ``min_ndim``."""
    real = _checked(real, "real", min_ndim=min_ndim)
    imag = _checked(imag, "imag", min_ndim=min_ndim)
    if tuple(real.shape) != tuple(imag.shape):
        raise ValueError(
            f"`real` and `imag` must have the same shape; received {tuple(real.shape)} and {tuple(imag.shape)}."
        )
    return real, imag


@_spectral.numpy_for_numpy
def magnitude(real, imag):
    """|S| from ``(real, imag)``."""
    return _spectral.magnitude(*_check_parts(real, imag))


def spectrogram(waveform, config=None):
    """Magnitude spectrogram |S| (..., 512, frames) of a waveform."""
    config = resolve_config(config)
    return _spectral.run("spectrogram", config, _check_waveform(waveform, config))


@_spectral.numpy_for_numpy
def istft(real, imag, config=None, length=None):
    """Inverse of :func:`stft`: (..., num_bins, frames) real/imag parts → (..., samples).

    Weighted overlap-add with the Hann window, normalised by the summed squared
    window, as ``librosa.istft``. Written with ``keras.ops`` rather than calling
    ``keras.ops.istft``, which (Keras 3.15) zeroes the last ~n_fft/2 samples
    when ``length`` reaches past the last frame centre.

    Args:
        real: real part (..., num_bins, frames); the frame count must be static.
        imag: imaginary part, same shape.
        config: an ``AudioConfig``.
        length: samples to return; default ``hop_length * (frames - 1)``.

    Returns:
        waveform (..., length).
    """
    config = resolve_config(config)
    real, imag = _check_parts(real, imag, min_ndim=2)
    shape = tuple(real.shape)
    if shape[-2] is not None and shape[-2] != config.num_bins:
        raise ValueError(
            f"`real` must have config.num_bins = {config.num_bins} frequency bins on axis -2 (n_fft={config.n_fft}); "
            f"received shape {shape}."
        )
    num_frames = shape[-1]
    if not isinstance(num_frames, int):
        raise ValueError(f"`real` must have a static number of frames on its last axis; received shape {shape}.")
    if length is not None:
        length = check_positive_int(length, "length")
    return _spectral.istft(real, imag, config, length)


# --------------------------------------------------------------------------- log-frequency warp


def warp_matrix(num_bins=512, num_warped=256):
    """The fixed log-frequency warp of Sound of Pixels as a (num_warped, num_bins) matrix.

    Output row ``r`` has the normalised coordinate ``y = -1 + 2 r / (num_warped - 1)``
    and samples the linear-frequency axis (bilinearly, align-corners) at
    ``(21 ** ((y + 1) / 2) - 11) / 10``: low frequencies get many rows, high
    frequencies few. ``warped = W @ spectrogram`` along frequency.
    """
    check_positive_int(num_bins, "num_bins")
    check_positive_int(num_warped, "num_warped")
    return _spectral.cached_warp(num_bins, num_warped).copy()


def unwarp_matrix(num_bins=512, num_warped=256):
    """The inverse warp as a (num_bins, num_warped) matrix (Sound of Pixels' ``warp=False`` grid).

    Linear row with coordinate ``y`` samples the warped axis at
    ``log(10 y + 11) / log(21) * 2 - 1``; used to bring predicted masks back to
    the 512 STFT bins.
    """
    check_positive_int(num_bins, "num_bins")
    check_positive_int(num_warped, "num_warped")
    return _spectral.cached_unwarp(num_bins, num_warped).copy()


def log_freq_warp(spectrogram, config=None):
    """Warp (..., 512, frames) to (..., 256, frames) log-frequency rows."""
    config = resolve_config(config)
    spectrogram = _checked(spectrogram, "spectrogram", min_ndim=2)
    _spectral.check_rows(_spectral.cached_warp(config.num_bins, config.num_warped_bins), spectrogram, "spectrogram")
    return _spectral.run("log_freq_warp", config, spectrogram)


def log_freq_unwarp(warped, config=None):
    """Unwarp (..., 256, frames) back to (..., 512, frames) linear-frequency bins."""
    config = resolve_config(config)
    warped = _checked(warped, "warped", min_ndim=2)
    _spectral.check_rows(_spectral.cached_unwarp(config.num_bins, config.num_warped_bins), warped, "warped")
    return _spectral.run("log_freq_unwarp", config, warped)


def log1p_magnitude(waveform, config=None, *, warp=True):
    """The network input: ``log1p(|S|)``, on the log-frequency grid if ``warp``.

    CCoL and Sound of Pixels feed ``log1p`` of the warped magnitude; it is 0 for
    silence and grows like ``log`` for loud bins, so no floor constant is needed.

    Returns:
        (..., 256, frames) if ``warp`` else (..., 512, frames).
    """
    config = resolve_config(config)
    warp = check_bool(warp, "warp")
    waveform = _check_waveform(waveform, config)
    return _spectral.run("log1p_magnitude_warped" if warp else "log1p_magnitude", config, waveform)


# --------------------------------------------------------------------------- masks


@_spectral.numpy_for_numpy
def ratio_mask(source_magnitude, mixture_magnitude, max_value=5.0):
    """Ratio mask ``|S_i| / |S_mix|`` clipped to [0, max_value] (CAVL Eq 8, CCoL).

    Bins where the mixture is silent get 0.
    """
    import keras

    ops = keras.ops
    source_magnitude, mixture_magnitude = _check_magnitudes(source_magnitude, mixture_magnitude)
    max_value = check_number(max_value, "max_value", minimum=0, exclusive_minimum=True)
    safe_mixture = ops.maximum(mixture_magnitude, _MAGNITUDE_EPSILON)
    mask = ops.clip(source_magnitude / safe_mixture, 0.0, max_value)
    return ops.where(mixture_magnitude > _MAGNITUDE_EPSILON, mask, ops.zeros_like(mask))


@_spectral.numpy_for_numpy
def binary_mask(source_magnitude, mixture_magnitude, threshold=0.5):
    """Binary mask ``|S_i| > threshold · |S_mix|`` as float (Sound of Pixels)."""
    import keras

    ops = keras.ops
    source_magnitude, mixture_magnitude = _check_magnitudes(source_magnitude, mixture_magnitude)
    threshold = check_number(threshold, "threshold", minimum=0)
    return ops.cast(ops.greater(source_magnitude, threshold * mixture_magnitude), "float32")


def _check_magnitudes(source_magnitude, mixture_magnitude):
    """Check a pair of magnitudes: numeric, non-empty, finite, >= 0, broadcastable."""
    source_magnitude = _check_nonnegative(_checked(source_magnitude, "source_magnitude", min_ndim=0), "source_magnitude")
    mixture_magnitude = _check_nonnegative(
        _checked(mixture_magnitude, "mixture_magnitude", min_ndim=0), "mixture_magnitude"
    )
    source_shape, mixture_shape = tuple(source_magnitude.shape), tuple(mixture_magnitude.shape)
    for a, b in zip(reversed(source_shape), reversed(mixture_shape)):
        if a is not None and b is not None and a != b and 1 not in (a, b):
            raise ValueError(
                f"`source_magnitude` and `mixture_magnitude` must have broadcastable shapes; "
                f"received {source_shape} and {mixture_shape}."
            )
    return source_magnitude, mixture_magnitude


@_spectral.numpy_for_numpy
def magnitude_weight(mixture_magnitude):
    """Per-bin loss weight ``clip(log1p(|S_mix|), 1e-3, 10)`` (Sound of Pixels' option)."""
    import keras

    mixture_magnitude = _check_nonnegative(
        _checked(mixture_magnitude, "mixture_magnitude", min_ndim=0), "mixture_magnitude"
    )
    return keras.ops.clip(keras.ops.log1p(mixture_magnitude), 1e-3, 10.0)


@_spectral.numpy_for_numpy
def normalize_source_masks(masks, *, source_axis=-3, epsilon=1e-6):
    """The masks of one mixture's sources divided by their sum in every bin (mixture consistency).

    A separator that predicts each source's mask on its own (one visual vector
    at a time) can give two sources 0.9 of the same bin, or 0.2 each of a bin
    the mixture holds. Dividing by the sum over the sources makes the
    separated magnitudes add up to the mixture's:

    ```
    m̃_i = m_i / max(Σ_j m_j, epsilon)
    ```

    Bins where every mask is (nearly) 0 stay (nearly) 0. Neither CAVL nor
    Sound of Pixels normalise their masks; the separation reproduction
    measures it on validation (``SeparationRecipe.normalize_masks``).

    Args:
        masks: (..., num_sources, bins, frames) non-negative masks of the
            sources of each mixture (ratio or binary-probability masks).
        source_axis: the axis of the sources (-3 for the layout above, the
            layout :func:`reconstruct_sources` takes).
        epsilon: the smallest sum divided by (> 0).

    Returns:
        the normalised masks, shaped as ``masks``.

    Examples:
    >>> normalize_source_masks(np.array([[[[0.9]], [[0.9]]]], "float32"))[0, :, 0, 0]
    array([0.5, 0.5], dtype=float32)
    """
    import keras

    masks = _check_nonnegative(_checked(masks, "masks", min_ndim=3), "masks")
    ndim = len(masks.shape)
    if not isinstance(source_axis, int) or isinstance(source_axis, bool) or not -ndim <= source_axis < ndim:
        raise ValueError(f"`source_axis` must be an int axis of `masks` (rank {ndim}); received {source_axis!r}.")
    epsilon = check_number(epsilon, "epsilon", minimum=0, exclusive_minimum=True)
    total = keras.ops.sum(masks, axis=source_axis, keepdims=True)
    return masks / keras.ops.maximum(total, epsilon)


@_spectral.numpy_for_numpy
def reconstruct_from_mask(mask, mixture_waveform, config=None, *, warped=True):
    """Separated waveform from a mask: |S_mix| · mask with the mixture's phase, then ISTFT.

    Args:
        mask: (..., 256, frames) warped mask if ``warped`` else (..., 512, frames).
        mixture_waveform: (..., samples) mixture the mask applies to.
        config: an ``AudioConfig``.
        warped: whether ``mask`` is on the log-frequency grid (then it is unwarped first).

    Returns:
        waveform (..., samples), the same length as the mixture.
    """
    import keras

    config = resolve_config(config)
    mixture_waveform = _check_waveform(mixture_waveform, config, "mixture_waveform")
    mask = _checked(mask, "mask", min_ndim=2)
    if check_bool(warped, "warped"):
        mask_shape = tuple(mask.shape)
        if mask_shape[-2] is not None and mask_shape[-2] != config.num_warped_bins:
            raise ValueError(
                f"`mask` must have config.num_warped_bins = {config.num_warped_bins} rows on axis -2 "
                f"(warped=True); received shape {mask_shape}."
            )
        mask = _spectral.apply_along_frequency(_spectral.cached_unwarp(config.num_bins, config.num_warped_bins), mask, "mask")
    real, imag = _spectral.stft(mixture_waveform, config)
    if tuple(keras.ops.shape(mask))[-2:] != tuple(keras.ops.shape(real))[-2:]:
        raise ValueError(
            f"`mask` must match the mixture spectrogram's (bins, frames) = {tuple(keras.ops.shape(real))[-2:]} "
            f"after unwarping; received {tuple(keras.ops.shape(mask))}."
        )
    length = keras.ops.shape(mixture_waveform)[-1]
    return _spectral.istft(real * mask, imag * mask, config, length=length)


@_spectral.numpy_for_numpy
def reconstruct_sources(masks, mixtures, config=None, *, warped=True):
    """Separated waveforms of every source of a batch of mixtures: each source's mask on its own mixture.

    The last step of every separation evaluation (:func:`reconstruct_from_mask`
    for each source): source ``i`` of mixture ``b`` is
    ``ISTFT(|S_mix_b| · masks[b, i], phase of S_mix_b)``, from one STFT per mixture.

    Args:
        masks: (..., num_sources, 256, frames) warped masks if ``warped``, else
            (..., num_sources, 512, frames).
        mixtures: (..., samples) the mixture each group of masks applies to
            (the same leading axes as ``masks`` without ``num_sources``).
        config: an ``AudioConfig``.
        warped: whether ``masks`` are on the log-frequency grid (then they are unwarped first).

    Returns:
        waveforms (..., num_sources, samples), as long as the mixtures.

    Examples:
    >>> config = AudioConfig(clip_seconds=0.5)
    >>> mixtures = np.random.default_rng(0).uniform(-0.5, 0.5, (3, config.num_samples)).astype("float32")
    >>> masks = np.ones((3, 2, config.num_bins, config.num_frames), "float32")
    >>> sources = reconstruct_sources(masks, mixtures, config, warped=False)
    >>> sources.shape, bool(np.allclose(sources[:, 1], mixtures, atol=1e-4))
    ((3, 2, 5512), True)
    """
    import keras

    masks = _checked(masks, "masks", min_ndim=3)
    mixtures = _checked(mixtures, "mixtures")
    if tuple(masks.shape)[:-3] != tuple(mixtures.shape)[:-1]:
        raise ValueError(
            f"`masks` (..., num_sources, bins, frames) and `mixtures` (..., samples) must have the same leading axes; "
            f"received shapes {tuple(masks.shape)} and {tuple(mixtures.shape)}."
        )
    # One STFT per mixture, broadcast over its sources' masks.
    return reconstruct_from_mask(masks, keras.ops.expand_dims(mixtures, -2), config, warped=warped)
