"""Audio-only separation baselines: ideal masks, NMF and doing nothing (CAVL Table 4).

A visually guided separator should be read between two bounds:

* :func:`mixture_as_estimate`: the unprocessed mixture given as every
  source's estimate, the floor ("mixture" row);
* :func:`ideal_ratio_mask_separation`: the ideal ratio mask computed from the
  true sources, the ceiling of any method that multiplies the mixture's
  magnitude by a mask and keeps its phase (the separator of DESIGN §3.5 does
  exactly that); :func:`ideal_binary_mask_separation` is the same ceiling for
  a binary mask (Sound of Pixels' target);
* :func:`nmf_separation`: a blind, audio-only method, NMF of the mixture's
  magnitude with its components clustered into sources by the MFCCs of their
  spectral bases ("NMF-MFCC", Spiertz and Gnann, 2009).

The ideal masks use the very mask functions of the training targets
(:func:`avcourse.audio.ratio_mask`, :func:`avcourse.audio.binary_mask`) and
the same reconstruction (:func:`avcourse.audio.reconstruct_sources`: mask x
|S_mix| with the mixture's phase, inverse STFT), so the ceiling and the
network are measured alike. Everything here is numpy; the estimates are
(num_sources, samples) waveforms as long as the mixture, ready for
:func:`avcourse.metrics.bss_eval`.

Evaluation: the ideal masks return the estimates in the order of the given
sources, so score them like a visually guided model
(``bss_eval(sources, estimates)``). NMF's clusters carry no labels and come
out in an arbitrary order: score it with
``bss_eval(sources, estimates, compute_permutation=True)`` (or pass
``references`` to :func:`nmf_separation` to have them ordered).

Taught in: tutorials/06_separation.ipynb
"""

import numpy as np

from avcourse import audio
from avcourse._validation import as_float_array, check_positive_int

__all__ = [
    "ideal_binary_mask_separation",
    "ideal_ratio_mask_separation",
    "mixture_as_estimate",
    "nmf_separation",
]

# Guards divisions by a silent mixture magnitude.
_EPSILON = 1e-10


def _mixture(mixture, config):
    mixture = as_float_array(mixture, "mixture")
    if mixture.ndim != 1:
        raise ValueError(f"`mixture` must be one waveform of shape (samples,); received shape {mixture.shape}.")
    minimum = config.n_fft // 2 + 1
    if mixture.shape[0] < minimum:
        raise ValueError(
            f"`mixture` must have at least n_fft // 2 + 1 = {minimum} samples for a centred STFT; "
            f"received {mixture.shape[0]}."
        )
    return mixture.astype(np.float32)


def _sources_and_mixture(sources, mixture, config):
    config = audio.resolve_config(config)
    mixture = _mixture(mixture, config)
    sources = as_float_array(sources, "sources")
    if sources.ndim == 1:
        sources = sources[None]
    if sources.ndim != 2 or sources.shape[1] != mixture.shape[0]:
        raise ValueError(
            f"`sources` must have shape (num_sources, {mixture.shape[0]}), as long as the mixture; "
            f"received shape {sources.shape}."
        )
    return sources.astype(np.float32), mixture, config


def _ideal_mask_separation(sources, mixture, config, mask_function):
    sources, mixture, config = _sources_and_mixture(sources, mixture, config)
    source_magnitudes = audio.spectrogram(sources, config)
    mixture_magnitude = audio.spectrogram(mixture, config)
    masks = mask_function(source_magnitudes, mixture_magnitude[None])
    return np.asarray(audio.reconstruct_sources(masks, mixture, config, warped=False), dtype=np.float32)


def ideal_ratio_mask_separation(sources, mixture, config=None):
    """Separate with the ideal ratio mask: the ceiling of mask-based separation.

    ``mask_i = clip(|S_i| / |S_mix|, 0, 5)`` (:func:`avcourse.audio.ratio_mask`,
    the ratio-mask training target, CAVL Eq 8) on the 512 linear-frequency
    bins, applied to ``|S_mix|`` with the mixture's phase and inverted.

    Args:
        sources: the true sources as they sound in the mixture (num_sources, samples).
        mixture: the mixture waveform (samples,).
        config: an :class:`avcourse.audio.AudioConfig` (default settings if ``None``).

    Returns:
        float32 estimates (num_sources, samples), in the order of ``sources``.
    """
    return _ideal_mask_separation(sources, mixture, config, audio.ratio_mask)


def ideal_binary_mask_separation(sources, mixture, config=None):
    """Separate with the ideal binary mask ``|S_i| > 0.5 |S_mix|`` (Sound of Pixels).

    The textbook ideal binary mask keeps a bin for the source that dominates
    it (``|S_i| > |S_j|`` for every other source). This one is
    :func:`avcourse.audio.binary_mask`, the binary training target, so that
    the ceiling matches what a binary-mask network learns. The two agree for
    two sources whose spectra add in phase; in general a bin may be kept for
    several sources (or for none) where their phases cancel.

    Args:
        sources: the true sources as they sound in the mixture (num_sources, samples).
        mixture: the mixture waveform (samples,).
        config: an :class:`avcourse.audio.AudioConfig`.

    Returns:
        float32 estimates (num_sources, samples), in the order of ``sources``.
    """
    return _ideal_mask_separation(sources, mixture, config, audio.binary_mask)


def mixture_as_estimate(mixture, num_sources):
    """The unprocessed mixture as the estimate of every source (the "mixture" row).

    Args:
        mixture: the mixture waveform (samples,).
        num_sources: how many sources to "estimate".

    Returns:
        float32 array (num_sources, samples), each row a copy of ``mixture``.
    """
    mixture = as_float_array(mixture, "mixture")
    if mixture.ndim != 1:
        raise ValueError(f"`mixture` must be one waveform of shape (samples,); received shape {mixture.shape}.")
    num_sources = check_positive_int(num_sources, "num_sources")
    return np.tile(mixture.astype(np.float32), (num_sources, 1))


def _mfcc_of_bases(bases, config, num_mels=40, num_coefficients=13):
    """MFCC-like features of spectral bases (num_bins, K) → (K, num_coefficients).

    Each basis goes through a mel filterbank, is taken in dB relative to its
    peak (floored at -60 dB) and DCT-ed; coefficient 0 (overall level) is
    dropped.
    """
    import librosa
    import scipy.fft

    mel = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=num_mels)
    mel_bases = mel @ bases
    # Level in dB relative to each basis' own peak, floored at -60 dB: the
    # features describe the spectral shape (timbre), not the loudness, and
    # empty bands do not dominate with the log of near-zero values.
    peak = mel_bases.max(axis=0, keepdims=True) + _EPSILON
    log_mel = 10.0 * np.log10(np.maximum(mel_bases / peak, 1e-6))
    cepstrum = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)
    return cepstrum[1 : num_coefficients + 1].T


def _order_like(estimates, references):
    """Reorder ``estimates`` to best match ``references`` (largest summed |correlation|)."""
    from scipy.optimize import linear_sum_assignment

    def unit(x):
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + _EPSILON)

    similarity = np.abs(unit(references.astype(np.float64)) @ unit(estimates.astype(np.float64)).T)
    _, columns = linear_sum_assignment(-similarity)
    return estimates[columns]


def nmf_separation(mixture, num_sources, config=None, *, n_components=16, seed=0, max_iter=200, references=None):
    """Blind audio-only separation by NMF with MFCC clustering (NMF-MFCC).

    1. ``|S_mix| ≈ W H`` with ``n_components`` non-negative spectral bases
       ``W`` (512 x K) and activations ``H`` (K x frames), fitted with the
       Kullback-Leibler divergence (scikit-learn's multiplicative updates,
       NNDSVDa initialisation).
    2. Each basis is described by its MFCCs (mel filterbank, log, DCT) and the
       K bases are clustered into ``num_sources`` groups by k-means: bases of
       one instrument share a timbre (Spiertz and Gnann, 2009).
    3. Each group ``g`` gets the soft (Wiener-like) mask
       ``W_g H_g / (W H)``; the masks sum to 1, are applied to ``|S_mix|``
       with the mixture's phase and inverted.

    The groups carry no labels: the estimates come in an arbitrary order.
    Evaluate with ``bss_eval(sources, estimates, compute_permutation=True)``,
    or pass ``references`` to have the estimates ordered like them.

    Args:
        mixture: the mixture waveform (samples,).
        num_sources: how many sources to extract.
        config: an :class:`avcourse.audio.AudioConfig`.
        n_components: NMF components K, at least ``num_sources``.
        seed: seed of the NMF initialisation and k-means; the same seed gives
            the same estimates.
        max_iter: NMF iterations.
        references: optional true sources (num_sources, samples). They only
            reorder the estimates (the assignment with the largest summed
            absolute correlation); the separation itself stays blind.

    Returns:
        float32 estimates (num_sources, samples), the same length as the
        mixture. A silent mixture gives silent estimates.

    References:
    - M. Spiertz and V. Gnann, "Source-filter based clustering for monaural
      blind source separation", DAFx 2009.
    - D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix
      factorization", NIPS 2000.
    """
    config = audio.resolve_config(config)
    mixture = _mixture(mixture, config)
    num_sources = check_positive_int(num_sources, "num_sources")
    n_components = check_positive_int(n_components, "n_components")
    max_iter = check_positive_int(max_iter, "max_iter")
    if n_components < num_sources:
        raise ValueError(
            f"`n_components` must be >= num_sources ({num_sources}) so every source gets a component; "
            f"received {n_components}."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer; received {seed!r}.")
    if references is not None:
        references = as_float_array(references, "references")
        if references.shape != (num_sources, mixture.shape[0]):
            raise ValueError(
                f"`references` must have shape (num_sources, samples) = {(num_sources, mixture.shape[0])}; "
                f"received {references.shape}."
            )

    magnitude = np.asarray(audio.spectrogram(mixture, config), dtype=np.float64)
    if magnitude.max() <= _EPSILON:
        return np.zeros((num_sources, mixture.shape[0]), np.float32)
    bases, activations = _nmf(magnitude, n_components, seed, max_iter)
    groups = _cluster(bases, num_sources, config, seed)
    model = bases @ activations + _EPSILON
    masks = np.stack([(bases[:, groups == g] @ activations[groups == g]) / model for g in range(num_sources)])
    estimates = np.asarray(audio.reconstruct_sources(masks, mixture, config, warped=False), dtype=np.float32)
    if references is not None:
        estimates = _order_like(estimates, references)
    return estimates


def _nmf(magnitude, n_components, seed, max_iter):
    """Kullback-Leibler NMF ``magnitude ≈ bases @ activations`` (scikit-learn)."""
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(
        n_components=n_components,
        init="nndsvda",
        solver="mu",
        beta_loss="kullback-leibler",
        max_iter=max_iter,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget of iterations is fine here
        bases = model.fit_transform(magnitude)
    return bases, model.components_


def _cluster(bases, num_sources, config, seed):
    """Assign each basis (a column of ``bases``) to one of ``num_sources`` groups."""
    if num_sources == 1:
        return np.zeros(bases.shape[1], dtype=np.int64)
    from sklearn.cluster import KMeans

    features = _mfcc_of_bases(bases, config)
    groups = KMeans(n_clusters=num_sources, n_init=10, random_state=seed).fit_predict(features)
    return groups.astype(np.int64)
