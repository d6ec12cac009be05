"""Tests of the synthetic audio-visual world."""

import numpy as np
import pytest
import scipy.signal

from avcourse import audio, data
from avcourse.data import world
from avcourse.data.audioset import load_ontology


def test_same_seed_gives_identical_scenes():
    first = world.make_scene(3, seed=7, num_distractors=1, num_silent_instruments=1)
    second = world.make_scene(3, seed=7, num_distractors=1, num_silent_instruments=1)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.mixture, second.mixture)
    np.testing.assert_array_equal(first.boxes, second.boxes)
    assert first.labels == second.labels and first.audioset_labels == second.audioset_labels
    other = world.make_scene(3, seed=8, num_distractors=1, num_silent_instruments=1)
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("num_sources", [1, 2, 3, 4])
def test_scene_ground_truth_is_consistent(num_sources):
    config = audio.AudioConfig()
    scene = world.make_scene(num_sources, seed=num_sources, num_distractors=1, num_silent_instruments=1, image_size=96)
    assert scene.image.shape == (96, 96, 3) and scene.image.dtype == np.uint8
    assert scene.num_sources == num_sources == len(scene.sources) == len(scene.source_labels)
    assert len(scene.labels) == len(scene.boxes) == len(scene.sounding) == num_sources + 2
    assert scene.sources.shape == (num_sources, config.num_samples)
    # the mixture is exactly the clipped sum of the per-source waveforms (gain 1/N already applied)
    np.testing.assert_allclose(scene.mixture, np.clip(scene.sources.sum(axis=0), -1, 1), atol=1e-6)
    # every source plays (peak well above silence) and sounding instruments are distinct classes
    assert np.all(np.abs(scene.sources).max(axis=1) > 0.01)
    assert len(set(scene.source_labels)) == num_sources
    assert all(not label.startswith("distractor_") for label in scene.source_labels)
    # boxes are inside the picture, non-empty, and do not overlap
    boxes = scene.boxes
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= 96) and np.all(boxes[:, 2] > boxes[:, 0])
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_boxes_are_tight_around_the_drawn_sprites():
    scene = world.make_scene(1, seed=3, image_size=128)
    background = world.make_scene(1, seed=3, image_size=128)  # same draw: compare with a re-render
    np.testing.assert_array_equal(scene.image, background.image)
    x1, y1, x2, y2 = scene.boxes[0]
    # the sprite changes the picture inside its box but the box is tight: each border row/column holds sprite pixels
    inside = scene.image[y1:y2, x1:x2].astype(int)
    assert inside.std() > 10


def test_consensus_map_agrees_with_annotator_boxes():
    scene = world.make_scene(2, seed=11, image_size=112)
    size = scene.consensus_map.shape[0]
    assert scene.consensus_map.shape == (224, 224)
    assert set(np.unique(scene.consensus_map)).issubset({0.0, 0.5, 1.0})
    # a pixel at the centre of each true sounding box is covered by every jittered annotator (jitter < 50%)
    for x1, y1, x2, y2 in scene.sounding_boxes:
        cx, cy = (x1 + x2) / 2 * size / 112, (y1 + y2) / 2 * size / 112
        assert scene.consensus_map[int(cy), int(cx)] == 1.0
    assert len(scene.annotator_boxes) == 3 and all(len(a) == 2 for a in scene.annotator_boxes)


def test_audioset_labels_include_ancestors():
    ontology = load_ontology()
    scene = world.make_scene(2, seed=5)
    names = {ontology.names[mid] for mid in scene.audioset_labels}
    assert "Music" in names and "Musical instrument" in names


def _is_crop_of(waveform, phrase, threshold=0.999):
    """A scene's waveform is a (scaled) crop of the phrase it came from: a normalised cross-correlation of 1."""
    waveform, phrase = waveform.astype(float), phrase.astype(float)
    correlation = scipy.signal.correlate(phrase, waveform, mode="valid", method="fft")
    window_energy = np.convolve(phrase**2, np.ones(len(waveform)), mode="valid")
    cosine = correlation / np.sqrt(window_energy * np.dot(waveform, waveform) + 1e-12)
    return cosine.max() > threshold


# One violin, nothing silent, no pitch shift: its waveform is an exact (scaled) crop of a phrase.
SOLO_VIOLIN = {"instruments": ["violin"], "num_silent_instruments": 0, "pitch_shift": 0}


def test_train_and_test_splits_use_disjoint_phrases():
    config = audio.AudioConfig(clip_seconds=1.0)
    stems = data.manifest()["instruments"]["violin"]["stems"]
    held_out_count = data.manifest()["test_phrases"]
    assert 1 <= held_out_count < len(stems) - 1  # training keeps several phrases
    held_out = [world.instrument_phrase("violin", index=i) for i in range(len(stems) - held_out_count, len(stems))]
    for seed in range(6):
        train = world.make_scene(1, seed=seed, **SOLO_VIOLIN, split="train", config=config)
        test = world.make_scene(1, seed=seed, **SOLO_VIOLIN, split="test", config=config)
        assert any(_is_crop_of(test.sources[0], phrase) for phrase in held_out)
        assert not any(_is_crop_of(train.sources[0], phrase) for phrase in held_out)


def test_fit_and_validation_splits_divide_the_training_phrases():
    config = audio.AudioConfig(clip_seconds=1.0)
    held_out_count = data.manifest()["test_phrases"]
    num_phrases = len(data.manifest()["instruments"]["violin"]["stems"])
    phrases = [world.instrument_phrase("violin", index=i) for i in range(num_phrases)]
    num_fit = num_phrases - 2 * held_out_count
    assert num_fit >= 1
    for seed in range(6):
        fit = world.make_scene(1, seed=seed, **SOLO_VIOLIN, split="fit", config=config).sources[0]
        validation = world.make_scene(1, seed=seed, **SOLO_VIOLIN, split="validation", config=config).sources[0]
        assert any(_is_crop_of(fit, phrase) for phrase in phrases[:num_fit])
        assert not any(_is_crop_of(fit, phrase) for phrase in phrases[num_fit:])
        assert any(_is_crop_of(validation, phrase) for phrase in phrases[num_fit : num_phrases - held_out_count])
        assert not any(_is_crop_of(validation, phrase) for phrase in phrases[:num_fit] + phrases[num_phrases - held_out_count :])


def test_crop_object_returns_the_box_contents():
    scene = world.make_scene(1, seed=2, num_distractors=1)
    crop = world.crop_object(scene, 0, size=32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_sources": 0}, "`num_sources` must be an integer from 1 to 4"),
        ({"num_sources": 5}, "`num_sources` must be an integer from 1 to 4"),
        ({"num_sources": 2, "instruments": ["violin"]}, "must be <= the 1 available instruments"),
        ({"num_sources": 1, "instruments": ["violin"]}, "received 1 \\+ 1"),
        ({"num_sources": 1, "instruments": ["violin", "violin", "cello"]}, "distinct names"),
        ({"num_sources": 1, "layout": "grid"}, "`layout` must be one of"),
        ({"num_sources": 1, "seed": -1}, "`seed` must be an integer >= 0"),
        ({"num_sources": 1, "seed": None}, "`seed` must be an integer >= 0"),
        ({"num_sources": 1, "num_distractors": 1.5}, "`num_distractors` must be an integer >= 0"),
        ({"num_sources": 1, "pitch_shift": -1}, "`pitch_shift` must be"),
        ({"num_sources": 1, "config": "11025"}, "`config` must be an avcourse.audio.AudioConfig"),
        ({"num_sources": 1, "instruments": ["kazoo"]}, "received unknown \\['kazoo'\\]"),
        ({"num_sources": 1, "split": "valid"}, "`split` must be one of"),
        ({"num_sources": 1, "object_scale": (0.5, 0.2)}, "`object_scale` must satisfy"),
        ({"num_sources": 4, "num_distractors": 4, "object_scale": (0.4, 0.45)}, "cannot be placed without overlap"),
        ({"num_sources": 1, "image_size": 0}, "`image_size` must be a positive integer"),
    ],
)
def test_make_scene_rejects_bad_arguments(kwargs, message):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        world.make_scene(**kwargs)


@pytest.mark.parametrize("num_sources", [1, 2, 3, 4])
def test_default_layout_shows_silent_instruments_of_other_classes(num_sources):
    for seed in range(5):
        scene = world.make_scene(num_sources, seed=seed)
        assert scene.image.shape == (128, 128, 3) and scene.layout == "instruments"
        silent = [label for label, plays in zip(scene.labels, scene.sounding) if not plays]
        silent_instruments = [label for label in silent if not label.startswith("distractor_")]
        assert len(silent_instruments) >= 1 and not set(silent_instruments) & set(scene.source_labels)
        assert len(silent) - len(silent_instruments) in (0, 1)
        # object sides within 0.28-0.40 of the picture (tight boxes lie inside the square slot)
        sides = np.maximum(scene.boxes[:, 2] - scene.boxes[:, 0], scene.boxes[:, 3] - scene.boxes[:, 1])
        assert np.all(sides <= int(0.40 * 128)) and np.all(sides >= 0.5 * 0.28 * 128)


def test_object_masks_are_the_sprites_pixels_inside_their_boxes():
    scene = world.make_scene(3, seed=4, num_distractors=1)
    masks = scene.object_masks
    assert masks.dtype == bool and masks.shape == (len(scene.labels), 128, 128)
    assert not np.any(masks.sum(axis=0) > 1)  # objects never overlap
    for mask, (x1, y1, x2, y2) in zip(masks, scene.boxes):
        rows, cols = np.nonzero(mask)
        assert rows.size > 0 and rows.min() >= y1 and rows.max() < y2 and cols.min() >= x1 and cols.max() < x2
    np.testing.assert_array_equal(scene.sounding_masks, masks[scene.sounding])


def test_the_centre_is_uninformative_in_the_default_layout():
    on_sounding = [world.make_scene(1, seed=seed).sounding_masks[0][64, 64] for seed in range(200)]
    assert np.mean(on_sounding) <= 0.35
    # the flickr layout keeps one large object alone in the picture
    for seed in range(20):
        scene = world.make_scene(1, seed=seed, layout="flickr")
        x1, y1, x2, y2 = scene.boxes[0]
        assert len(scene.labels) == 1 and max(x2 - x1, y2 - y1) >= 0.45 * 128


def test_pitch_shift_resamples_a_crop_of_the_phrase():
    import soxr

    config = audio.AudioConfig(clip_seconds=1.0)
    options = {**SOLO_VIOLIN, "pitch_shift": 2.0}
    phrases = [world.instrument_phrase("violin", index=i) for i in range(len(data.manifest()["instruments"]["violin"]["stems"]))]
    for seed in range(3):
        scene = world.make_scene(1, seed=seed, config=config, **options)
        semitones = scene.pitch_shifts[0]
        assert -2 <= semitones <= 2 and abs(semitones) > 1e-6
        ratio = 2 ** (semitones / 12)
        shifted = [soxr.resample(phrase, 11025 * ratio, 11025) for phrase in phrases]
        # resampling the whole phrase and resampling the crop differ by a fraction of a sample: 0.98, not 0.999
        assert any(_is_crop_of(scene.sources[0][1000:-1000], phrase, threshold=0.98) for phrase in shifted)
        assert not any(_is_crop_of(scene.sources[0], phrase, threshold=0.5) for phrase in phrases)


def test_mixture_level_does_not_tell_the_number_of_sources():
    config = audio.AudioConfig(clip_seconds=1.0)
    levels = {n: [float(np.sqrt(np.mean(world.make_scene(n, seed=s, config=config).mixture ** 2))) for s in range(12)] for n in (1, 4)}
    for values in levels.values():
        assert min(values) >= world.MIXTURE_RMS[0] * 0.5 and max(values) <= world.MIXTURE_RMS[1] * 1.001
    assert abs(np.mean(levels[1]) - np.mean(levels[4])) < 0.02


def test_clips_longer_than_a_phrase_hear_it_again_instead_of_silence():
    config = audio.AudioConfig()  # the paper's ~6 s clips; the bundled phrases last 4 s
    scene = world.make_scene(1, seed=0, config=config)
    last_second = scene.sources[0][-config.sample_rate :]
    assert np.sqrt(np.mean(last_second**2)) > 0.1 * np.sqrt(np.mean(scene.sources[0] ** 2))
