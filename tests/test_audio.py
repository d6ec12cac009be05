"""Tests of avcourse.audio against independent numpy/librosa references."""

import numpy as np
import pytest
import soundfile

from avcourse import audio

SR = 11025


def _tone(frequency, seconds=1.0, sample_rate=SR, amplitude=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# --------------------------------------------------------------------------- config


def test_config_defaults_give_sound_of_pixels_shapes():
    config = audio.AudioConfig()
    assert (config.sample_rate, config.n_fft, config.hop_length, config.num_warped_bins) == (11025, 1022, 256, 256)
    assert config.num_bins == 512
    assert config.num_samples == 65535
    assert config.num_frames == 256
    assert audio.AudioConfig.cavl().num_frames == 432


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 0}, "`sample_rate` must be a positive integer"),
        ({"n_fft": 1.5}, "`n_fft` must be a positive integer"),
        ({"hop_length": 2048}, "`hop_length` must be <= n_fft"),
        ({"clip_seconds": 0}, "`clip_seconds` must be > 0"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audio.AudioConfig(**kwargs)


# --------------------------------------------------------------------------- STFT


@pytest.mark.parametrize("shape", [(4000,), (3, 5000), (2, 2, 3000)])
def test_stft_magnitude_matches_librosa(warm_librosa, shape):
    waveform = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    real, imag = audio.stft(waveform)
    ours = np.hypot(np.asarray(real), np.asarray(imag))
    reference = np.abs(warm_librosa.stft(waveform, n_fft=1022, hop_length=256, window="hann", center=True, pad_mode="reflect"))
    assert ours.shape == reference.shape == shape[:-1] + (512, 1 + shape[-1] // 256)
    np.testing.assert_array_less(np.abs(ours - reference), 1e-4 * np.abs(reference).max())


def test_istft_inverts_stft_to_float_precision(warm_librosa):
    config = audio.AudioConfig()
    waveform = 0.1 * np.random.default_rng(1).standard_normal((2, config.num_samples)).astype(np.float32)
    real, imag = audio.stft(waveform, config)
    restored = np.asarray(audio.istft(real, imag, config, length=config.num_samples))
    np.testing.assert_allclose(restored, waveform, atol=1e-5)
    # librosa's ISTFT of librosa's STFT agrees with ours
    spectrum = warm_librosa.stft(waveform[0], n_fft=1022, hop_length=256, pad_mode="reflect")
    reference = warm_librosa.istft(spectrum, hop_length=256, n_fft=1022, length=config.num_samples)
    np.testing.assert_allclose(restored[0], reference, atol=1e-5)


@pytest.mark.parametrize(
    "waveform, message",
    [
        (np.zeros(100), "at least n_fft // 2 \\+ 1 = 512 samples"),
        (np.array([np.nan] * 1000), "NaN or Inf"),
        (np.zeros(0), "is empty"),
        (np.array(["a"] * 1000), "real numeric dtype"),
    ],
)
def test_stft_rejects_bad_waveforms(waveform, message):
    with pytest.raises(ValueError, match=message):
        audio.stft(waveform)


# --------------------------------------------------------------------------- warp


def _add_bilinear_taps(row, position):
    """Add linear interpolation weights for the fractional index ``position`` to ``row`` (grid_sample's taps)."""
    low = int(np.floor(position))
    weight_high = position - low
    row[low] += 1 - weight_high
    if weight_high > 0:
        row[low + 1] += weight_high


def _reference_warp(num_bins, num_warped):
    """Sound of Pixels' warpgrid + grid_sample(align_corners=True), written out in numpy."""
    matrix = np.zeros((num_warped, num_bins))
    for row in range(num_warped):
        y = -1 + 2 * row / (num_warped - 1)
        source = (21 ** ((y + 1) / 2) - 11) / 10  # normalised coordinate on the linear axis
        position = (source + 1) / 2 * (num_bins - 1)
        _add_bilinear_taps(matrix[row], position)
    return matrix


def test_warp_matrix_matches_the_sound_of_pixels_formula():
    ours = audio.warp_matrix(512, 256)
    np.testing.assert_allclose(ours, _reference_warp(512, 256), atol=1e-6)
    assert ours.shape == (256, 512)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-6)
    # first row samples bin 0, last row bin 511; low frequencies get more rows
    assert ours[0, 0] == pytest.approx(1.0) and ours[-1, -1] == pytest.approx(1.0)
    rows_below_bin_32 = np.sum(ours[:, :32].sum(axis=1) > 0.5)
    assert rows_below_bin_32 > 32


def test_unwarp_inverts_warp_on_smooth_spectra():
    frequencies = np.linspace(0, 1, 512)
    smooth = np.exp(-((frequencies - 0.3) ** 2) / 0.02)[:, None] * np.ones((1, 7))
    warped = np.asarray(audio.log_freq_warp(smooth.astype(np.float32)))
    restored = np.asarray(audio.log_freq_unwarp(warped))
    assert warped.shape == (256, 7) and restored.shape == (512, 7)
    np.testing.assert_allclose(restored, smooth, atol=2e-3)


def test_warp_is_batched_and_rejects_wrong_bins():
    spectrogram = np.random.default_rng(2).random((3, 2, 512, 10)).astype(np.float32)
    warped = np.asarray(audio.log_freq_warp(spectrogram))
    np.testing.assert_allclose(warped, np.einsum("wf,abft->abwt", _reference_warp(512, 256), spectrogram), atol=1e-5)
    with pytest.raises(ValueError, match="`spectrogram` must have 512 frequency rows"):
        audio.log_freq_warp(np.zeros((500, 10), np.float32))


# --------------------------------------------------------------------------- the compiled front end


def _reference_unwarp(num_bins, num_warped):
    """Sound of Pixels' warpgrid(warp=False) + grid_sample(align_corners=True), written out in numpy."""
    matrix = np.zeros((num_bins, num_warped))
    for row in range(num_bins):
        y = -1 + 2 * row / (num_bins - 1)
        position = min((np.log(y * 10 + 11) / np.log(21) * 2 - 1 + 1) / 2 * (num_warped - 1), num_warped - 1)
        _add_bilinear_taps(matrix[row], position)
    return matrix


@pytest.mark.parametrize("shape", [(65535,), (3, 5000)])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "tensor"])
def test_compiled_front_end_matches_librosa_and_the_warp_formula(warm_librosa, shape, as_tensor):
    import keras

    waveform = np.random.default_rng(4).uniform(-0.5, 0.5, shape).astype(np.float32)
    given = keras.ops.convert_to_tensor(waveform) if as_tensor else waveform
    spectrum = warm_librosa.stft(waveform, n_fft=1022, hop_length=256, window="hann", center=True, pad_mode="reflect")
    reference = np.abs(spectrum)
    warped_reference = np.einsum("wf,...ft->...wt", _reference_warp(512, 256), reference)
    scale = reference.max()

    real, imag = audio.stft(given)
    magnitude = audio.spectrogram(given)
    warped = audio.log_freq_warp(magnitude)
    if not as_tensor:  # numpy in, numpy out (a writable array of its own)
        assert all(isinstance(x, np.ndarray) and x.flags.writeable for x in (real, imag, magnitude, warped))
    np.testing.assert_allclose(np.asarray(real), spectrum.real, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(imag), spectrum.imag, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(magnitude), reference, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(warped), warped_reference, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(audio.log1p_magnitude(given)), np.log1p(warped_reference), atol=1e-5)
    np.testing.assert_allclose(np.asarray(audio.log1p_magnitude(given, warp=False)), np.log1p(reference), atol=1e-5)
    unwarped_reference = np.einsum("fw,...wt->...ft", _reference_unwarp(512, 256), warped_reference)
    np.testing.assert_allclose(np.asarray(audio.log_freq_unwarp(warped)), unwarped_reference, atol=1e-5 * scale)


def test_front_end_in_a_graph_equals_the_compiled_path():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph check written for tf.function")
    import tensorflow as tf

    waveform = np.random.default_rng(5).uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    expected = audio.log1p_magnitude(waveform)
    # static shapes (reshape framing) and an unknown length (keras.ops.stft's framing) in the caller's graph
    for signature in ([tf.TensorSpec((2, 3000))], [tf.TensorSpec((None, None))]):
        graph = tf.function(lambda x: audio.log1p_magnitude(x), input_signature=signature)
        np.testing.assert_allclose(graph(waveform).numpy(), expected, atol=1e-5)


def test_repeated_calls_reuse_the_compiled_functions():
    import keras

    from avcourse import _spectral

    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("the eager backends run the kernels without compiling")
    config = audio.AudioConfig(clip_seconds=0.3, num_warped_bins=64)  # a config no other test compiles
    waveform = np.random.default_rng(6).uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    before = dict(_spectral.TRACES)
    first = audio.log_freq_warp(audio.spectrogram(waveform, config), config)
    traces = {step: _spectral.TRACES[step] - before.get(step, 0) for step in ("spectrogram", "log_freq_warp")}
    assert traces == {"spectrogram": 1, "log_freq_warp": 1}
    for _ in range(11):  # an equal config and a new array of the same shape, then tensors of that shape
        equal_config = audio.AudioConfig(clip_seconds=0.3, num_warped_bins=64)
        again = audio.log_freq_warp(audio.spectrogram(waveform.copy(), equal_config), equal_config)
        np.testing.assert_array_equal(again, first)  # the same function every time: the same numbers
    audio.spectrogram(keras.ops.convert_to_tensor(waveform), config)
    # one trace per shape, whether the step is called once or a hundred times
    traces = {step: _spectral.TRACES[step] - before.get(step, 0) for step in ("spectrogram", "log_freq_warp")}
    assert traces == {"spectrogram": 1, "log_freq_warp": 1}
    settled = dict(_spectral.TRACES)
    for _ in range(5):
        audio.log_freq_warp(audio.spectrogram(waveform, config), config)
    assert _spectral.TRACES == settled
    backend = keras.backend.backend()
    assert _spectral.compiled("spectrogram", config, backend, 2) is _spectral.compiled(
        "spectrogram", audio.AudioConfig(clip_seconds=0.3, num_warped_bins=64), backend, 2
    )


def test_compiled_results_do_not_depend_on_what_ran_before():
    """A clip's features are the same whatever the process computed before (the reproducibility of a resumed run).

    Another shape first, then many calls of this one (on TensorFlow a second
    shape once traced with unknown sizes and a shape that came back moved to
    XLA: both rounded differently), against the features of a fresh function.
    """
    from avcourse import _spectral

    config = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=48)  # a config no other test compiles
    rng = np.random.default_rng(7)
    other, waveform = (rng.uniform(-0.5, 0.5, (2, samples)).astype(np.float32) for samples in (3100, 2756))
    audio.log1p_magnitude(other, config)
    after_history = [audio.log1p_magnitude(waveform, config) for _ in range(6)]
    _spectral.compiled.cache_clear()
    fresh = audio.log1p_magnitude(waveform, config)
    for features in after_history:
        np.testing.assert_array_equal(features, fresh)


@pytest.mark.parametrize(
    "call, message",
    [  # each call gets (waveform with one NaN, clean waveform, ops)
        (lambda bad, good, ops: audio.spectrogram(bad), "`waveform` contains 1 NaN or Inf"),
        (lambda bad, good, ops: audio.stft(bad), "`waveform` contains 1 NaN or Inf"),
        (lambda bad, good, ops: audio.log1p_magnitude(bad), "`waveform` contains 1 NaN or Inf"),
        (lambda bad, good, ops: audio.log_freq_warp(ops.stack([bad[:512]] * 3, -1)), "`spectrogram` contains 3 NaN"),
        (lambda bad, good, ops: audio.log_freq_unwarp(ops.stack([bad[:256]] * 2, -1)), "`warped` contains 2 NaN"),
        (lambda bad, good, ops: audio.spectrogram(good[:300]), "at least n_fft // 2 \\+ 1 = 512 samples"),
        (lambda bad, good, ops: audio.log_freq_warp(ops.stack([good[:511]] * 4, -1)), "`spectrogram` must have 512 frequency"),
        (lambda bad, good, ops: audio.log_freq_unwarp(ops.stack([good[:512]] * 4, -1)), "`warped` must have 256 frequency"),
        (lambda bad, good, ops: audio.log_freq_warp(good), "`spectrogram` must have rank >= 2"),
        (lambda bad, good, ops: audio.spectrogram(good, config="default"), "`config` must be an AudioConfig or None"),
        (lambda bad, good, ops: audio.log1p_magnitude(good, warp="yes"), "`warp` must be True or False"),
    ],
)
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "tensor"])
def test_compiled_front_end_still_validates(call, message, as_tensor):
    import keras

    from avcourse import _spectral

    good = _tone(440, 0.5)
    bad = good.copy()
    bad[0] = np.nan
    ops = keras.ops if as_tensor else np
    if as_tensor:
        good, bad = keras.ops.convert_to_tensor(good), keras.ops.convert_to_tensor(bad)
    before = sum(_spectral.TRACES.values())
    with pytest.raises(ValueError, match=message):
        call(bad, good, ops)
    assert sum(_spectral.TRACES.values()) == before  # refused before anything is compiled


# --------------------------------------------------------------------------- masks and reconstruction


def test_ratio_and_binary_masks_match_numpy():
    rng = np.random.default_rng(3)
    source = rng.random((4, 6)).astype(np.float32)
    mixture = rng.random((4, 6)).astype(np.float32)
    mixture[0, 0] = 0.0  # silent bin
    expected_ratio = np.where(mixture > 1e-8, np.clip(source / np.maximum(mixture, 1e-8), 0, 5), 0)
    np.testing.assert_allclose(np.asarray(audio.ratio_mask(source, mixture)), expected_ratio, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(audio.binary_mask(source, mixture)), (source > 0.5 * mixture).astype(np.float32))
    weight = np.asarray(audio.magnitude_weight(mixture))
    np.testing.assert_allclose(weight, np.clip(np.log1p(mixture), 1e-3, 10), rtol=1e-6)


def _sdr(reference, estimate):
    return 10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2))


def test_ideal_ratio_mask_recovers_a_tone_from_a_two_tone_mix():
    config = audio.AudioConfig(clip_seconds=2.0)
    low, high = _tone(220, 2.0), _tone(1760, 2.0)
    mixture, scaled = audio.mix_sources(np.stack([low, high]))
    mixture_magnitude = audio.spectrogram(mixture, config)
    mask = audio.ratio_mask(audio.spectrogram(scaled[0], config), mixture_magnitude)
    estimate = np.asarray(audio.reconstruct_from_mask(np.asarray(mask), mixture, config, warped=False))
    assert estimate.shape == mixture.shape
    assert _sdr(scaled[0], estimate) > 20.0
    # through the warp: warp the ideal mask, unwarp inside reconstruction
    warped_mask = np.asarray(audio.log_freq_warp(mask, config))
    estimate_warped = np.asarray(audio.reconstruct_from_mask(warped_mask, mixture, config))
    assert _sdr(scaled[0], estimate_warped) > 10.0


def test_reconstruct_rejects_mismatched_mask():
    with pytest.raises(ValueError, match="`mask` must match the mixture spectrogram"):
        audio.reconstruct_from_mask(np.ones((512, 3), np.float32), _tone(440), warped=False)


def test_mix_sources_scales_and_clips():
    sources = np.stack([np.full(10, 0.9), np.full(10, 0.9)]).astype(np.float32)
    mixture, scaled = audio.mix_sources(sources, gains=[1.0, 1.0])
    np.testing.assert_array_equal(mixture, np.ones(10, np.float32))
    np.testing.assert_allclose(scaled, sources)
    mixture, _ = audio.mix_sources(sources)
    np.testing.assert_allclose(mixture, 0.9)
    with pytest.raises(ValueError, match="`gains` must have one value per source"):
        audio.mix_sources(sources, gains=[1.0])


# --------------------------------------------------------------------------- loading


def test_load_audio_resamples_and_mixes_down(tmp_path, warm_librosa):
    stereo = np.stack([_tone(440, 1.0, 22050), _tone(440, 1.0, 22050)], axis=1)
    path = tmp_path / "tone.flac"
    soundfile.write(path, stereo, 22050)
    waveform = audio.load_audio(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(len(waveform) - SR) <= 1
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.argmax(spectrum) * SR / len(waveform) == pytest.approx(440, abs=2)
    part = audio.load_audio(path, offset=0.25, duration=0.5)
    assert abs(len(part) - SR // 2) <= 1


def test_load_audio_reads_containers_through_pyav(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "tone.m4a"
    tone = _tone(660, 1.0, 22050)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=22050)
        frame_size = 1024
        for start in range(0, len(tone), frame_size):
            chunk = tone[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate = 22050
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    waveform = audio.load_audio(path)
    assert abs(len(waveform) - SR) < 0.1 * SR
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.argmax(spectrum) * SR / len(waveform) == pytest.approx(660, abs=5)


def test_load_audio_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="`path` does not exist"):
        audio.load_audio(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="could not be decoded as audio"):
        audio.load_audio(garbage)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), SR)
    with pytest.raises(ValueError, match="holds no audio samples"):
        audio.load_audio(empty)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(SR, np.float32), SR)
    assert audio.load_audio(silent).shape == (SR,)
    with pytest.raises(ValueError, match="is silent"):
        audio.load_audio(silent, allow_silent=False)
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.full(SR, np.nan, np.float32), SR, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN or Inf"):
        audio.load_audio(nan)


def test_resample_and_fit_length():
    with pytest.raises(ValueError, match="`orig_sr` must be a positive integer"):
        audio.resample(np.zeros(10), 0, SR)
    np.testing.assert_array_equal(audio.fit_length(np.ones(5), 3), np.ones(3))
    np.testing.assert_array_equal(audio.fit_length(np.ones(2), 4), [1, 1, 0, 0])


def _reference_reconstruction(mask, mixture, n_fft=1022, hop=256):
    """float64 numpy: centred periodic-Hann STFT (reflect padding), |S|·mask with the mixture's phase, windowed overlap-add."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(mixture.astype(np.float64), n_fft // 2, mode="reflect")
    starts = range(0, len(padded) - n_fft + 1, hop)
    spectrum = np.fft.rfft(np.stack([padded[s : s + n_fft] * window for s in starts]), axis=-1)
    frames = np.fft.irfft(spectrum * mask.T, n=n_fft, axis=-1) * window
    signal, envelope = np.zeros(len(padded)), np.zeros(len(padded))
    for start, frame in zip(starts, frames):
        signal[start : start + n_fft] += frame
        envelope[start : start + n_fft] += window**2
    signal /= np.where(envelope > 1e-10, envelope, 1.0)
    return signal[n_fft // 2 : n_fft // 2 + len(mixture)]


@pytest.mark.parametrize("warped", [False, True])
def test_reconstruct_sources_matches_a_numpy_reference(warped):
    config = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=64)
    rng = np.random.default_rng(0)
    mixtures = rng.uniform(-0.5, 0.5, (3, config.num_samples)).astype(np.float32)
    bins = config.num_warped_bins if warped else config.num_bins
    masks = rng.uniform(0, 2, (3, 2, bins, config.num_frames)).astype(np.float32)
    sources = audio.reconstruct_sources(masks, mixtures, config, warped=warped)
    assert isinstance(sources, np.ndarray) and sources.shape == (3, 2, config.num_samples)
    unwarp = audio.unwarp_matrix(config.num_bins, config.num_warped_bins) if warped else np.eye(config.num_bins)
    for b in range(3):
        for i in range(2):
            reference = _reference_reconstruction(unwarp @ masks[b, i].astype(np.float64), mixtures[b])
            np.testing.assert_allclose(sources[b, i], reference, atol=1e-4)


def test_reconstruct_sources_checks_the_leading_axes():
    config = audio.AudioConfig(clip_seconds=0.25)
    masks = np.ones((2, 3, config.num_bins, config.num_frames), np.float32)
    with pytest.raises(ValueError, match="same leading axes"):
        audio.reconstruct_sources(masks, np.zeros((3, config.num_samples), np.float32), config, warped=False)


# --------------------------------------------------------------------------- mask normalisation


@pytest.mark.parametrize("source_axis", [-3, 1])
def test_normalize_source_masks_matches_a_loop(source_axis):
    rng = np.random.default_rng(3)
    masks = rng.uniform(0, 1, (4, 3, 5, 6)).astype(np.float32)
    masks[0, :, 0, 0] = 0.0  # a bin no source claims stays silent
    normalized = audio.normalize_source_masks(masks, source_axis=source_axis)
    assert isinstance(normalized, np.ndarray) and normalized.shape == masks.shape
    reference = np.empty_like(masks)
    for b in range(4):
        for f in range(5):
            for t in range(6):
                total = sum(float(masks[b, i, f, t]) for i in range(3))
                for i in range(3):
                    reference[b, i, f, t] = masks[b, i, f, t] / total if total > 1e-6 else masks[b, i, f, t] / 1e-6
    np.testing.assert_allclose(normalized, reference, rtol=1e-6)
    np.testing.assert_allclose(normalized.sum(axis=1)[masks.sum(axis=1) > 0], 1.0, rtol=1e-6)
    assert np.all(normalized[0, :, 0, 0] == 0.0)


def test_normalize_source_masks_makes_the_sources_add_up_to_the_mixture():
    config = audio.AudioConfig(clip_seconds=0.25)
    rng = np.random.default_rng(4)
    mixtures = rng.uniform(-0.5, 0.5, (2, config.num_samples)).astype(np.float32)
    masks = rng.uniform(0.05, 1, (2, 2, config.num_warped_bins, config.num_frames)).astype(np.float32)
    sources = audio.reconstruct_sources(audio.normalize_source_masks(masks), mixtures, config)
    np.testing.assert_allclose(sources.sum(axis=1), mixtures, atol=1e-4)


@pytest.mark.parametrize(
    "masks, kwargs, message",
    [
        (np.ones((2, 3)), {}, "`masks` must have rank >= 3"),
        (-np.ones((1, 2, 3, 4)), {}, "`masks` must hold magnitudes >= 0"),
        (np.full((1, 2, 3, 4), np.nan), {}, "`masks`"),
        (np.ones((1, 2, 3, 4)), {"source_axis": 4}, "`source_axis` must be an int axis"),
        (np.ones((1, 2, 3, 4)), {"epsilon": 0}, "`epsilon` must be a number > 0"),
    ],
)
def test_normalize_source_masks_rejects_bad_input(masks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        audio.normalize_source_masks(masks, **kwargs)
