"""Bad and degenerate inputs to the audio front end, the synthetic world, the pipelines and the models (issue #14).

Rules under test:

- a public function or constructor given a wrong type, rank, shape, range,
  an empty input or (for concrete arrays and eager tensors) NaN/Inf raises a
  ``ValueError`` that names the argument and says what was expected and what
  was received;
- ``tf.data`` pipelines check their arguments when they are built, not at the
  first ``next(iter(dataset))``;
- inside a compiled graph values are unknown: only static shapes are checked;
- legitimately degenerate inputs (silence, a silent source, an exact length)
  give the correct result.
"""

import re

import keras
import numpy as np
import pytest
import soundfile
from keras import ops

from avcourse import audio
from avcourse.data import pipelines, world
from avcourse.models import (
    CAVLModel,
    CCoLModel,
    GroundingNet,
    ObjectConditionedSeparator,
    SourceCounter,
    UNetSeparator,
    VisuallyGuidedSeparator,
    counting_learning_rate,
    resnet18,
    separate,
    visual_vectors_from_labels,
)

BACKEND = keras.backend.backend()
NAN, INF = float("nan"), float("inf")
SR = 11025
CONFIG = audio.AudioConfig()
SHORT = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=32)  # 2756 samples, 11 frames


def _tone(samples=4000, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * 440 * np.arange(samples) / SR)).astype(np.float32)


def _spectrum(samples=4000):
    return audio.stft(_tone(samples))


def _nan_at(array, index=0):
    array = np.array(array, dtype=np.float32, copy=True)
    array.flat[index] = NAN
    return array


def _tensor(array):
    return ops.convert_to_tensor(np.asarray(array, dtype=np.float32))


def _raises(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        call()


# --------------------------------------------------------------------------- audio: bad inputs

REAL, IMAG = _spectrum()

AUDIO_CASES = {
    # istft: the reviewer's cases (wrong bin count, NaN, negative length) and their relatives
    "istft-100-bins": (lambda: audio.istft(np.zeros((100, 5)), np.zeros((100, 5))), "`real` must have config.num_bins = 512"),
    "istft-nan": (lambda: audio.istft(_nan_at(REAL), IMAG), "`real` contains 1 NaN or Inf"),
    "istft-inf-imag": (lambda: audio.istft(REAL, np.full_like(IMAG, INF)), "`imag` contains"),
    "istft-length-negative": (lambda: audio.istft(REAL, IMAG, length=-5), "`length` must be a positive integer; received -5"),
    "istft-length-float": (lambda: audio.istft(REAL, IMAG, length=100.5), "`length` must be a positive integer"),
    "istft-shape-mismatch": (lambda: audio.istft(REAL, IMAG[:, :-1]), "`real` and `imag` must have the same shape"),
    "istft-rank-1": (lambda: audio.istft(np.zeros(512), np.zeros(512)), "`real` must have rank >= 2"),
    "istft-complex": (lambda: audio.istft(REAL + 1j * IMAG, IMAG), "`real` must have a real numeric dtype"),
    "istft-empty-frames": (lambda: audio.istft(np.zeros((512, 0)), np.zeros((512, 0))), "`real` is empty"),
    "istft-config-string": (lambda: audio.istft(REAL, IMAG, "default"), "`config` must be an AudioConfig or None"),
    # fit_length
    "fit_length-minus-one": (lambda: audio.fit_length(np.ones(10), -1), "`num_samples` must be a positive integer; received -1"),
    "fit_length-zero": (lambda: audio.fit_length(np.ones(10), 0), "`num_samples` must be a positive integer"),
    "fit_length-float": (lambda: audio.fit_length(np.ones(10), 5.0), "`num_samples` must be a positive integer"),
    "fit_length-nan": (lambda: audio.fit_length(_nan_at(np.ones(10)), 5), "`waveform` contains 1 NaN"),
    "fit_length-empty": (lambda: audio.fit_length(np.zeros(0), 5), "`waveform` is empty"),
    "fit_length-scalar": (lambda: audio.fit_length(3.0, 5), "`waveform` must have rank >= 1"),
    # stft / spectrogram on numpy, lists and eager tensors
    "stft-nan-numpy": (lambda: audio.stft(_nan_at(_tone())), "`waveform` contains 1 NaN"),
    "stft-nan-tensor": (lambda: audio.stft(_tensor(_nan_at(_tone(), 7))), "`waveform` contains 1 NaN or Inf"),
    "spectrogram-inf-tensor": (lambda: audio.spectrogram(_tensor(np.full(4000, INF))), "`waveform` contains 4000 NaN or Inf"),
    "spectrogram-short-tensor": (lambda: audio.spectrogram(_tensor(np.ones(100))), "at least n_fft // 2 + 1 = 512 samples"),
    "spectrogram-short-numpy": (lambda: audio.spectrogram(np.ones(100)), "received shape (100,)"),
    "spectrogram-empty-tensor": (lambda: audio.spectrogram(_tensor(np.zeros((2, 0)))), "`waveform` is empty"),
    "spectrogram-scalar-tensor": (lambda: audio.spectrogram(_tensor(1.0)), "`waveform` must have rank >= 1"),
    "spectrogram-strings": (lambda: audio.spectrogram(["a", "b"]), "`waveform` must have a real numeric dtype"),
    "spectrogram-ragged": (lambda: audio.spectrogram([[0.0] * 600, [0.0] * 601]), "`waveform` must be array-like"),
    "log1p_magnitude-warp-int": (lambda: audio.log1p_magnitude(_tone(), warp=1), "`warp` must be True or False"),
    # other spectral functions
    "magnitude-nan-tensor": (lambda: audio.magnitude(_tensor(_nan_at(np.ones((4, 3)))), np.ones((4, 3))), "`real` contains 1 NaN"),
    "magnitude-shape-mismatch": (lambda: audio.magnitude(np.ones((4, 3)), np.ones((4, 2))), "must have the same shape"),
    "log_freq_warp-wrong-bins": (lambda: audio.log_freq_warp(np.ones((100, 5))), "`spectrogram` must have 512 frequency rows"),
    "log_freq_warp-nan-tensor": (lambda: audio.log_freq_warp(_tensor(_nan_at(np.ones((512, 5))))), "`spectrogram` contains 1 NaN"),
    "log_freq_unwarp-rank-1": (lambda: audio.log_freq_unwarp(np.ones(256)), "`warped` must have rank >= 2"),
    "ratio_mask-negative": (lambda: audio.ratio_mask(-np.ones((4, 3)), np.ones((4, 3))), "`source_magnitude` must hold magnitudes >= 0"),
    "ratio_mask-max-value": (lambda: audio.ratio_mask(np.ones(3), np.ones(3), max_value=0), "`max_value` must be a number > 0"),
    "ratio_mask-broadcast": (lambda: audio.ratio_mask(np.ones((4, 3)), np.ones((4, 2))), "must have broadcastable shapes"),
    "binary_mask-threshold-nan": (lambda: audio.binary_mask(np.ones(3), np.ones(3), threshold=NAN), "`threshold` must be a number >= 0"),
    "magnitude_weight-nan": (lambda: audio.magnitude_weight(np.array([1.0, NAN])), "`mixture_magnitude` contains 1 NaN"),
    "reconstruct-mask-rows": (
        lambda: audio.reconstruct_from_mask(np.ones((100, 16)), _tone()),
        "`mask` must have config.num_warped_bins = 256 rows",
    ),
    "reconstruct-mixture-nan": (
        lambda: audio.reconstruct_from_mask(np.ones((256, 16)), _nan_at(_tone())),
        "`mixture_waveform` contains 1 NaN",
    ),
    # loading, resampling, mixing, config
    "to_mono-rank-3": (lambda: audio.to_mono(np.ones((2, 2, 2))), "`waveform` must have rank 1 or 2"),
    "to_mono-nan": (lambda: audio.to_mono(_nan_at(np.ones((2, 5)))), "`waveform` contains 1 NaN"),
    "resample-bad-rate": (lambda: audio.resample(_tone(), 44100.0, SR), "`orig_sr` must be a positive integer"),
    "resample-zero-target": (lambda: audio.resample(_tone(), SR, 0), "`target_sr` must be a positive integer"),
    "mix_sources-rank-1": (lambda: audio.mix_sources(_tone()), "`sources` must have rank 2"),
    "mix_sources-gain-count": (lambda: audio.mix_sources(np.ones((2, 5)), [1.0]), "`gains` must have one value per source (2)"),
    "config-clip-inf": (lambda: audio.AudioConfig(clip_seconds=INF), "`clip_seconds` must be > 0"),
    "config-clip-string": (lambda: audio.AudioConfig(clip_seconds="6"), "`clip_seconds` must be > 0"),
    "config-sample-rate-float": (lambda: audio.AudioConfig(sample_rate=11025.0), "`sample_rate` must be a positive integer"),
    "warp_matrix-zero": (lambda: audio.warp_matrix(0), "`num_bins` must be a positive integer"),
}


@pytest.mark.parametrize("case", sorted(AUDIO_CASES))
def test_audio_rejects_bad_input(case):
    call, fragment = AUDIO_CASES[case]
    _raises(call, ValueError, fragment)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"offset": -1.0}, "`offset` must be a number >= 0"),
        ({"offset": "0"}, "`offset` must be a number >= 0"),
        ({"duration": 0}, "`duration` must be a number > 0"),
        ({"allow_silent": "no"}, "`allow_silent` must be True or False"),
        ({"allow_silent": False}, "is silent (peak amplitude"),
        ({"config": 11025}, "`config` must be an AudioConfig or None"),
    ],
)
def test_load_audio_rejects_bad_arguments_and_silence(tmp_path, kwargs, fragment):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(SR, np.float32), SR)
    _raises(lambda: audio.load_audio(path, **kwargs), ValueError, fragment)


# --------------------------------------------------------------------------- audio: degenerate but legal


def test_silence_gives_a_zero_spectrogram_and_a_zero_feature():
    silence = np.zeros((2, 4000), np.float32)
    assert np.all(np.asarray(audio.spectrogram(silence)) == 0)
    assert np.all(np.asarray(audio.log1p_magnitude(silence)) == 0)


def test_a_silent_mixture_gives_zero_masks_and_a_silent_source_stays_silent():
    magnitude = np.abs(np.random.default_rng(0).standard_normal((8, 3))).astype(np.float32)
    zeros = np.zeros_like(magnitude)
    np.testing.assert_array_equal(audio.ratio_mask(magnitude, zeros), zeros)
    np.testing.assert_array_equal(audio.binary_mask(zeros, magnitude), zeros)
    mixture, scaled = audio.mix_sources(np.stack([_tone(1000), np.zeros(1000, np.float32)]), [1.0, 1.0])
    np.testing.assert_array_equal(scaled[1], 0)
    np.testing.assert_allclose(mixture, _tone(1000), atol=1e-7)


def test_fit_length_keeps_dtype_and_an_exact_length():
    waveform = np.arange(10, dtype=np.int16)
    np.testing.assert_array_equal(audio.fit_length(waveform, 10), waveform)
    assert audio.fit_length(waveform, 12).dtype == np.int16
    np.testing.assert_array_equal(audio.fit_length(waveform, 1), [0])


def test_istft_accepts_numpy_integers_and_eager_tensors():
    config = audio.AudioConfig()
    waveform = _tone(4000)
    real, imag = audio.stft(_tensor(waveform), config)
    restored = np.asarray(ops.convert_to_numpy(audio.istft(real, imag, config, length=np.int64(4000))))
    np.testing.assert_allclose(restored, waveform, atol=1e-4)


def test_integer_waveforms_are_accepted_as_numbers():
    ints = np.round(_tone() * 1000).astype(np.int32)
    np.testing.assert_allclose(audio.spectrogram(ints), audio.spectrogram(ints.astype(np.float32)), rtol=1e-5)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="compiled-graph check written for tf.function")
def test_compiled_graphs_check_shapes_only():
    import tensorflow as tf

    # Values are unknown while tracing: a NaN passes through to the output (it is not made finite) ...
    spectrogram = tf.function(lambda x: audio.spectrogram(x, CONFIG))
    out = spectrogram(tf.constant(_nan_at(_tone(), 3)))
    assert np.isnan(out.numpy()).any()
    # ... but a static shape that cannot work is refused when the graph is traced.
    with pytest.raises(ValueError, match=re.escape("at least n_fft // 2 + 1 = 512 samples")):
        spectrogram(tf.constant(np.ones(100, np.float32)))
    # tf.data maps (graph mode) keep working.
    dataset = tf.data.Dataset.from_tensor_slices(np.stack([_tone(), _tone()])).map(lambda x: audio.log1p_magnitude(x, CONFIG))
    assert tuple(next(iter(dataset)).shape) == (256, 16)


# --------------------------------------------------------------------------- world


WORLD_CASES = {
    "instruments-repeated": ({"instruments": ["violin", "violin", "cello"]}, "`instruments` must hold distinct names"),
    "instruments-string": ({"instruments": "violin"}, "`instruments` must be a list of instrument names"),
    "instruments-empty": ({"instruments": []}, "`instruments` must hold instrument names"),
    "instruments-unknown": ({"instruments": ["violin", "kazoo"]}, "received unknown ['kazoo']"),
    "seed-none": ({"seed": None}, "`seed` must be an integer >= 0; received None"),
    "seed-negative": ({"seed": -3}, "`seed` must be an integer >= 0; received -3"),
    "seed-float": ({"seed": 1.5}, "`seed` must be an integer >= 0; received 1.5"),
    "num_sources-float": ({"num_sources": 2.0}, "`num_sources` must be an integer from 1 to 4; received 2.0"),
    "num_sources-five": ({"num_sources": 5}, "`num_sources` must be an integer from 1 to 4"),
    "num_silent-float": ({"num_silent_instruments": 1.0}, "`num_silent_instruments` must be an integer >= 0; received 1.0"),
    "num_distractors-negative": ({"num_distractors": -1}, "`num_distractors` must be an integer >= 0"),
    "jitter-negative": ({"annotator_jitter": -0.1}, "`annotator_jitter` must be a number in [0, 0.5)"),
    "jitter-nan": ({"annotator_jitter": NAN}, "`annotator_jitter` must be a number in [0, 0.5)"),
    "config-string": ({"config": "default"}, "`config` must be an avcourse.audio.AudioConfig; received str"),
    "config-empty-string": ({"config": ""}, "`config` must be an avcourse.audio.AudioConfig; received str"),
    "layout-unknown": ({"layout": "grid"}, "`layout` must be one of ('instruments', 'flickr')"),
    "split-unknown": ({"split": "dev"}, "`split` must be one of"),
    "pitch-shift-bool": ({"pitch_shift": True}, "`pitch_shift` must be a number of semitones in [0, 12]"),
    "random-gain-int": ({"random_gain": 1}, "`random_gain` must be True or False"),
    "map-size-zero": ({"map_size": 0}, "`map_size` must be a positive integer"),
    "object-scale-scalar": ({"object_scale": 0.3}, "`object_scale` must be a pair of numbers (low, high)"),
    "object-scale-reversed": ({"object_scale": (0.4, 0.2)}, "`object_scale` must satisfy 0 < low <= high < 1"),
}


@pytest.mark.parametrize("case", sorted(WORLD_CASES))
def test_make_scene_rejects_bad_arguments(case):
    kwargs, fragment = WORLD_CASES[case]
    kwargs = {"num_sources": 1, "seed": 0, "image_size": 32, "config": SHORT, **kwargs}
    _raises(lambda: world.make_scene(kwargs.pop("num_sources"), kwargs.pop("seed"), **kwargs), ValueError, fragment)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: world.instrument_phrase("kazoo"), "`instrument` must be one of"),
        (lambda: world.instrument_phrase("violin", index=99), "`index` must be < "),
        (lambda: world.instrument_phrase("violin", index=-1), "`index` must be an integer >= 0"),
        (lambda: world.crop_object("scene", 0), "`scene` must be a Scene"),
    ],
    ids=["phrase-unknown", "phrase-index-high", "phrase-index-negative", "crop-not-a-scene"],
)
def test_world_helpers_reject_bad_arguments(call, fragment):
    _raises(call, ValueError, fragment)


def test_crop_object_checks_the_index_and_size():
    scene = world.make_scene(1, 0, image_size=32, config=SHORT)
    _raises(lambda: world.crop_object(scene, len(scene.labels)), ValueError, "`index` must be < ")
    _raises(lambda: world.crop_object(scene, 0, size=0), ValueError, "`size` must be a positive integer")
    assert world.crop_object(scene, 0, size=8).shape == (8, 8, 3)


# --------------------------------------------------------------------------- pipelines: checked at construction

FACTORIES = {
    "scene": pipelines.scene_dataset,
    "pair": pipelines.pair_dataset,
    "mix": pipelines.mix_separate_dataset,
    "ccol": pipelines.ccol_dataset,
}

PIPELINE_CASES = [
    ("scene", {"split": "dev"}, "`split` must be one of"),
    ("pair", {"split": "dev"}, "`split` must be one of"),
    ("mix", {"split": "dev"}, "`split` must be one of"),
    ("ccol", {"split": "dev"}, "`split` must be one of"),
    ("scene", {"batch_size": -1}, "`batch_size` must be an integer >= 0; received -1"),
    ("pair", {"batch_size": 2.5}, "`batch_size` must be an integer >= 0; received 2.5"),
    ("mix", {"batch_size": "8"}, "`batch_size` must be an integer >= 0"),
    ("ccol", {"batch_size": -8}, "`batch_size` must be an integer >= 0"),
    ("scene", {"num_sources": 0}, "`num_sources` must be an integer from 1 to 4"),
    ("scene", {"num_sources": [1, 5]}, "received [1, 5]"),
    ("scene", {"num_sources": []}, "received an empty sequence"),
    ("pair", {"num_sources": 7}, "`num_sources` must be an integer from 1 to 4"),
    ("pair", {"num_sources": "2"}, "`num_sources` must be an integer from 1 to 4"),
    ("scene", {"seed": -1}, "`seed` must be an integer >= 0"),
    ("pair", {"seed": None}, "`seed` must be an integer >= 0"),
    ("ccol", {"seed": 0.5}, "`seed` must be an integer >= 0"),
    ("scene", {"shuffle": -1}, "`shuffle` must be an integer >= 0"),
    ("scene", {"cache": "yes"}, "`cache` must be True or False"),
    ("scene", {"image_size": 0}, "`image_size` must be a positive integer"),
    ("scene", {"config": "short"}, "`config` must be an AudioConfig or None"),
    ("pair", {"config": audio.AudioConfig(clip_seconds=0.01)}, "`config` must give clips of at least"),
    ("scene", {"scene_options": {"colour": "red"}}, "`scene_options` keys must be among"),
    ("scene", {"scene_options": {"seed": 3}}, "received unknown ['seed']"),
    ("scene", {"scene_options": "flickr"}, "`scene_options` must be a dict"),
    ("scene", {"with_labels": 1}, "`with_labels` must be True or False"),
    (
        "scene",
        {"with_ground_truth": True, "num_sources": 4, "image_size": 64, "scene_options": {"num_distractors": 3, "object_scale": (0.1, 0.15)}},
        "at most 7 fit",
    ),
    ("mix", {"num_mix": 1}, "`num_mix` must be an integer between 2 and"),
    ("mix", {"num_mix": 2.5}, "`num_mix` must be an integer between 2 and"),
    ("mix", {"scene_options": {"layout": "grid"}}, "`layout` must be one of"),
    ("mix", {"random_gain": None}, "`random_gain` must be True or False"),
    ("ccol", {"crop_size": 0}, "`crop_size` must be a positive integer"),
    ("ccol", {"with_waveforms": "yes"}, "`with_waveforms` must be True or False"),
]


@pytest.mark.parametrize(
    "factory, kwargs, fragment", PIPELINE_CASES, ids=[f"{f}-{'-'.join(map(str, k))}-{i}" for i, (f, k, _) in enumerate(PIPELINE_CASES)]
)
def test_pipelines_check_arguments_at_construction(factory, kwargs, fragment):
    kwargs = {"config": SHORT, "image_size": 16, **kwargs}
    if factory == "ccol":
        kwargs.setdefault("crop_size", 8)
    _raises(lambda: FACTORIES[factory](2, **kwargs), ValueError, fragment)


@pytest.mark.parametrize("factory", sorted(FACTORIES))
@pytest.mark.parametrize("count", [0, -1, 2.0, True])
def test_pipelines_reject_bad_example_counts(factory, count):
    _raises(lambda: FACTORIES[factory](count, config=SHORT), ValueError, "must be a positive integer")


def test_unbatched_pipelines_and_numpy_integers_are_accepted():
    dataset = pipelines.pair_dataset(np.int64(2), num_sources=(np.int64(1),), batch_size=None, image_size=16, config=SHORT)
    example = next(iter(dataset))
    assert tuple(example["image"].shape) == (16, 16, 3)


# --------------------------------------------------------------------------- models

SMALL_CAVL = dict(
    audio_trunk="small_audio", visual_trunk="small_visual", audio_shape=(32, 22, 1), image_shape=(32, 32, 3), embedding_dim=8
)
# CCoL cases build on the conftest's `tiny_ccol` keyword arguments; every case takes them.
MODEL_CASES = {
    "cavl-visual-clusters-zero": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, num_visual_clusters=0), "`num_visual_clusters` must be a positive integer"),
    "cavl-embedding-zero": (lambda tiny_ccol: CAVLModel(**{**SMALL_CAVL, "embedding_dim": 0}), "`embedding_dim` must be a positive integer"),
    "cavl-audio-clusters-float": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, num_audio_clusters=1.0), "`num_audio_clusters` must be a positive integer"),
    "cavl-margin-nan": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, margin=NAN), "`margin` must be a number > 0"),
    "cavl-stiffness-negative": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, stiffness=-1.0), "`stiffness` must be a number > 0"),
    "cavl-iterations-zero": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, iterations=0), "`iterations` must be a positive integer"),
    "cavl-visual-trunk": (lambda tiny_ccol: CAVLModel(**{**SMALL_CAVL, "visual_trunk": "vit"}), "`visual_trunk` must be one of"),
    "cavl-audio-shape-rank": (lambda tiny_ccol: CAVLModel(**{**SMALL_CAVL, "audio_shape": (32, 22)}), "`audio_shape` must be a tuple"),
    "cavl-image-shape-zero": (lambda tiny_ccol: CAVLModel(**{**SMALL_CAVL, "image_shape": (32, 0, 3)}), "`image_shape[1]` must be a positive integer"),
    "cavl-normalize-string": (lambda tiny_ccol: CAVLModel(**SMALL_CAVL, normalize="yes"), "`normalize` must be True or False"),
    "ccol-stage": (lambda tiny_ccol: CCoLModel(stage="warmup", **tiny_ccol), "`stage` must be one of"),
    "ccol-depth-zero": (lambda tiny_ccol: CCoLModel(**{**tiny_ccol, "separator_depth": 0}), "`separator_depth` must be a positive integer"),
    "ccol-audio-shape-float": (lambda tiny_ccol: CCoLModel(**{**tiny_ccol, "audio_shape": (16.5, 11, 1)}), "`audio_shape[0]` must be a positive integer"),
    "ccol-audio-shape-channels": (lambda tiny_ccol: CCoLModel(**{**tiny_ccol, "audio_shape": (16, 11, 3)}), "`audio_shape` must be (rows, columns, 1)"),
    "ccol-grounding-units": (lambda tiny_ccol: CCoLModel(**{**tiny_ccol, "grounding_units": (8, 0)}), "`grounding_units[1]` must be a positive integer"),
    "ccol-epsilon-negative": (lambda tiny_ccol: CCoLModel(epsilon=-0.1, **tiny_ccol), "`epsilon` must be a number >= 0"),
    "ccol-loss-weights-value": (lambda tiny_ccol: CCoLModel(loss_weights={"l1": "x"}, **tiny_ccol), "`loss_weights['l1']` must be a number >= 0"),
    "ccol-loss-weights-list": (lambda tiny_ccol: CCoLModel(loss_weights=["l1"], **tiny_ccol), "`loss_weights` must be a dict"),
    "ccol-seed-negative": (lambda tiny_ccol: CCoLModel(seed=-1, **tiny_ccol), "`seed` must be an integer >= 0"),
    "grounding-units-empty": (lambda tiny_ccol: GroundingNet(units=()), "`units` must be a non-empty sequence"),
    "object-separator-channels": (
        lambda tiny_ccol: ObjectConditionedSeparator(object_config="small", object_shape=(16, 16, 3), channels=0, depth=2, base_channels=4),
        "`channels` must be a positive integer",
    ),
    "counter-hidden-units": (lambda tiny_ccol: SourceCounter("small_audio", audio_shape=(32, 22, 1), hidden_units=0), "`hidden_units` must be a positive integer"),
    "counter-min-rate-inf": (lambda tiny_ccol: SourceCounter("small_audio", audio_shape=(32, 22, 1), min_rate=INF), "`min_rate` must be a number > 0"),
    "counter-trunk": (lambda tiny_ccol: SourceCounter("resnet"), "`audio_trunk` must be one of"),
    "counter-lr-epoch": (lambda tiny_ccol: counting_learning_rate(-1), "`epoch` must be an integer >= 0"),
    "unet-visual-dim": (lambda tiny_ccol: UNetSeparator(visual_dim=-1), "`visual_dim` must be an integer >= 0"),
    "unet-threshold": (lambda tiny_ccol: UNetSeparator(threshold=-0.5), "`threshold` must be a number >= 0"),
    "unet-max-ratio": (lambda tiny_ccol: UNetSeparator(max_ratio=INF), "`max_ratio` must be a number > 0"),
    "vgs-conditioning": (lambda tiny_ccol: VisuallyGuidedSeparator(UNetSeparator(depth=2, base_channels=4, visual_dim=16, visual_units=8), "audio"), "`conditioning` must be one of"),
    "vgs-num-classes": (
        lambda tiny_ccol: VisuallyGuidedSeparator(UNetSeparator(depth=2, base_channels=4, visual_dim=16, visual_units=8), num_classes=0),
        "`num_classes` must be a positive integer",
    ),
    "oracle-dim": (lambda tiny_ccol: visual_vectors_from_labels(np.array([0]), num_classes=3, dim=0), "`dim` must be a positive integer"),
    "resnet-input-shape": (lambda tiny_ccol: resnet18("small_resnet", input_shape=(48, 48.0, 3)), "`input_shape[1]` must be a positive integer"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_constructors_name_the_bad_argument(case, tiny_ccol):
    call, fragment = MODEL_CASES[case]
    _raises(lambda: call(tiny_ccol), ValueError, fragment)


@pytest.fixture(scope="module")
def cavl():
    return CAVLModel(**SMALL_CAVL)


@pytest.mark.parametrize(
    "inputs, fragment",
    [
        ({"image": np.zeros((2, 32, 32, 3), "float32")}, "`inputs` must be a dict with ['audio', 'image'] entries"),
        ({"audio": np.zeros((2, 32, 22, 1), "float32")}, "received ['audio']"),
        ([np.zeros((2, 32, 32, 3)), np.zeros((2, 32, 22, 1))], "received list"),
        ({"image": np.zeros((32, 32, 3)), "audio": np.zeros((2, 32, 22, 1))}, "'image' must have shape (batch,) + (32, 32, 3), rank 4"),
    ],
    ids=["missing-audio", "missing-image", "list", "unbatched-image"],
)
def test_cavl_call_names_the_missing_or_bad_input(cavl, inputs, fragment):
    _raises(lambda: cavl(inputs), ValueError, fragment)


def test_counter_and_separator_calls_name_the_missing_input():
    counter = SourceCounter("small_audio", audio_shape=(32, 22, 1), hidden_units=4)
    _raises(lambda: counter({"image": np.zeros((1, 32, 32, 3))}), ValueError, "`inputs` dict must have an 'audio' entry")
    _raises(lambda: counter(np.zeros((32, 22, 1))), ValueError, "audio inputs must have shape (batch,) + (32, 22, 1)")
    unet = UNetSeparator(depth=2, base_channels=4, visual_dim=16, visual_units=8)
    _raises(lambda: unet({"mixture": np.zeros((1, 8, 6, 1))}), ValueError, "entries; received ['mixture']")
    _raises(
        lambda: separate(_nan_at(_tone()), np.zeros(16), unet, CONFIG), ValueError, "`mixture_waveform` contains 1 NaN"
    )
    _raises(lambda: separate(_tone(), np.zeros(16), unet, CONFIG, mask_threshold=NAN), ValueError, "`mask_threshold` must be a finite number")
