"""Audio-only separation baselines: ideal masks, NMF-MFCC and the mixture."""

import itertools

import numpy as np
import pytest

from avcourse import audio, baselines
from avcourse.data.world import make_scene

CONFIG = audio.AudioConfig()


def numpy_sdr(source, estimate):
    """Plain SDR 10 log10(||s||² / ||s - ŝ||²), no distortion filter (independent of mir_eval)."""
    return 10 * np.log10(np.sum(source.astype(np.float64) ** 2) / np.sum((source - estimate).astype(np.float64) ** 2))


def best_permutation_sdr(sources, estimates):
    """Per-source SDRs under the assignment of estimates to sources with the best mean."""
    scores = [
        [numpy_sdr(sources[i], estimates[p[i]]) for i in range(len(sources))]
        for p in itertools.permutations(range(len(sources)))
    ]
    return np.asarray(max(scores, key=np.mean))


@pytest.fixture(scope="module")
def two_tones():
    """220 Hz and 1760 Hz notes, 2 s, with staggered, partly overlapping onsets.

    NMF needs the sources to differ in time as well as in frequency: two
    steady tones would give a spectrogram of rank 1 that no factorisation splits.
    """
    t = np.arange(2 * CONFIG.sample_rate) / CONFIG.sample_rate

    def note(on, off, ramp=0.05):
        return np.clip(np.minimum((t - on) / ramp, (off - t) / ramp), 0.0, 1.0)

    low = 0.5 * (note(0.0, 0.5) + note(1.0, 1.5)) * np.sin(2 * np.pi * 220 * t)
    high = 0.5 * (note(0.3, 0.8) + note(1.3, 1.8)) * np.sin(2 * np.pi * 1760 * t)
    sources = np.stack([low, high]).astype(np.float32)
    return sources, sources.sum(axis=0)


def test_ideal_ratio_mask_recovers_each_tone(two_tones):
    sources, mixture = two_tones
    estimates = baselines.ideal_ratio_mask_separation(sources, mixture, CONFIG)
    assert estimates.shape == sources.shape and estimates.dtype == np.float32
    for source, estimate in zip(sources, estimates):
        assert numpy_sdr(source, estimate) > 20


def test_ideal_binary_mask_recovers_each_tone(two_tones):
    sources, mixture = two_tones
    estimates = baselines.ideal_binary_mask_separation(sources, mixture)
    assert estimates.shape == sources.shape
    for source, estimate in zip(sources, estimates):
        assert numpy_sdr(source, estimate) > 10


def test_ideal_masks_use_the_training_targets(two_tones):
    sources, mixture = two_tones
    magnitudes = audio.spectrogram(sources, CONFIG)
    mask = audio.binary_mask(magnitudes, audio.spectrogram(mixture, CONFIG)[None])
    expected = audio.reconstruct_from_mask(mask, mixture, CONFIG, warped=False)
    np.testing.assert_allclose(baselines.ideal_binary_mask_separation(sources, mixture, CONFIG), expected, atol=1e-6)


def test_nmf_separates_two_tones_up_to_order(two_tones):
    sources, mixture = two_tones
    estimates = baselines.nmf_separation(mixture, 2, CONFIG, seed=0)
    assert estimates.shape == sources.shape and estimates.dtype == np.float32
    assert np.all(best_permutation_sdr(sources, estimates) > 8)
    # `references` only reorders; with the same seed the same estimates come back.
    ordered = baselines.nmf_separation(mixture, 2, CONFIG, seed=0, references=sources)
    assert all(numpy_sdr(s, e) > 8 for s, e in zip(sources, ordered))
    assert any(np.array_equal(ordered, estimates[list(p)]) for p in itertools.permutations(range(2)))


def test_nmf_on_a_synthetic_world_mixture():
    scene = make_scene(2, seed=7, split="test", config=CONFIG)
    estimates = baselines.nmf_separation(scene.mixture, 2, CONFIG, n_components=8, seed=3)
    assert estimates.shape == scene.sources.shape
    assert np.all(np.isfinite(estimates))
    # The soft masks sum to one: the estimates add back up to the mixture (up to the STFT round trip).
    np.testing.assert_allclose(estimates.sum(axis=0), scene.mixture, atol=1e-3)


def test_nmf_of_silence_is_silent():
    estimates = baselines.nmf_separation(np.zeros(4000, np.float32), 3, CONFIG)
    assert estimates.shape == (3, 4000) and not estimates.any()


def test_mixture_as_estimate():
    mixture = np.linspace(-1, 1, 1000)
    estimates = baselines.mixture_as_estimate(mixture, 3)
    assert estimates.shape == (3, 1000) and estimates.dtype == np.float32
    np.testing.assert_allclose(estimates, np.tile(mixture, (3, 1)), atol=1e-7)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: baselines.ideal_ratio_mask_separation(np.ones((2, 900)), np.ones(1000)), r"`sources` must have shape \(num_sources, 1000\).*received shape \(2, 900\)"),
        (lambda: baselines.ideal_binary_mask_separation(np.ones((2, 1000)), np.ones((2, 1000))), r"`mixture` must be one waveform of shape \(samples,\); received shape \(2, 1000\)"),
        (lambda: baselines.ideal_ratio_mask_separation(np.full((1, 1000), np.nan), np.ones(1000)), r"`sources` contains 1000 NaN or Inf"),
        (lambda: baselines.ideal_ratio_mask_separation(np.ones((1, 1000)), np.ones(1000), config="cfg"), r"`config` must be an AudioConfig or None; received str"),
        (lambda: baselines.nmf_separation(np.ones(100), 2), r"`mixture` must have at least n_fft // 2 \+ 1 = 512 samples.*received 100"),
        (lambda: baselines.nmf_separation(np.ones(1000), 0), r"`num_sources` must be a positive integer; received 0"),
        (lambda: baselines.nmf_separation(np.ones(1000), 3, n_components=2), r"`n_components` must be >= num_sources \(3\).*received 2"),
        (lambda: baselines.nmf_separation(np.ones(1000), 2, seed=0.5), r"`seed` must be an integer; received 0.5"),
        (lambda: baselines.nmf_separation(np.ones(1000), 2, references=np.ones((3, 1000))), r"`references` must have shape \(num_sources, samples\) = \(2, 1000\); received \(3, 1000\)"),
        (lambda: baselines.nmf_separation(np.r_[np.ones(999), np.inf], 2), r"`mixture` contains 1 NaN or Inf"),
        (lambda: baselines.mixture_as_estimate(np.ones(10), 1.5), r"`num_sources` must be a positive integer; received 1.5"),
    ],
)
def test_bad_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
