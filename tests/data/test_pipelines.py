"""Tests of the tf.data pipelines over the synthetic world."""

import numpy as np
import pytest

from avcourse import audio
from avcourse.data import pipelines, world

CONFIG = audio.AudioConfig(clip_seconds=0.5, num_warped_bins=32)


def _batch(dataset):
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def test_scene_dataset_yields_features_of_the_scenes():
    dataset = pipelines.scene_dataset(4, num_sources=[1, 2], seed=3, batch_size=4, image_size=32, config=CONFIG, with_ground_truth=True)
    batch = _batch(dataset)
    assert batch["image"].shape == (4, 32, 32, 3) and batch["audio"].shape == (4, 32, CONFIG.num_frames, 1)
    np.testing.assert_array_equal(batch["num_sources"], [1, 2, 1, 2])
    assert batch["consensus_map"].shape == (4, 224, 224) and batch["sounding_boxes"].shape == (4, 4, 4)
    # example i is scene seed + i: recompute the second one independently
    scene = world.make_scene(2, 4, image_size=32, config=CONFIG, split="train")
    np.testing.assert_allclose(batch["image"][1], scene.image / 255.0, atol=1e-6)
    expected = np.log1p(audio.warp_matrix(512, 32) @ np.abs(np.asarray(audio.spectrogram(scene.mixture, CONFIG))))
    np.testing.assert_allclose(batch["audio"][1, ..., 0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(batch["sounding_boxes"][0, 1:], -1)


def test_pair_dataset_alternates_matches_and_mismatches():
    batch = _batch(pipelines.pair_dataset(4, seed=0, batch_size=4, image_size=16, config=CONFIG))
    np.testing.assert_array_equal(batch["is_match"], [1, 0, 1, 0])
    own_sound = np.asarray(audio.log1p_magnitude(world.make_scene(1, 1, image_size=16, config=CONFIG, split="train").mixture, CONFIG))
    assert not np.allclose(batch["audio"][1, ..., 0], own_sound)


def test_mix_separate_dataset_targets_sum_to_the_mixture():
    batch = _batch(pipelines.mix_separate_dataset(2, num_mix=3, batch_size=2, image_size=16, config=CONFIG, with_waveforms=True))
    assert batch["images"].shape == (2, 3, 16, 16, 3)
    assert batch["source_magnitudes"].shape == (2, 3, 32, CONFIG.num_frames)
    assert len(set(batch["labels"][0])) == 3
    np.testing.assert_allclose(batch["source_waveforms"].sum(axis=1), batch["mixture_waveform"], atol=1e-5)
    np.testing.assert_allclose(np.log1p(batch["mixture_magnitude"]), batch["mixture"][..., 0], atol=1e-5)



def test_mixture_example_mixes_and_gives_the_targets():
    rng = np.random.default_rng(0)
    solos = rng.uniform(-0.5, 0.5, (2, CONFIG.num_samples)).astype(np.float32)
    example = pipelines.mixture_example(solos, CONFIG, gains=[0.25, 0.5], with_waveforms=True)
    mixture = np.clip(0.25 * solos[0] + 0.5 * solos[1], -1, 1)
    np.testing.assert_allclose(example["mixture_waveform"], mixture, atol=1e-6)
    np.testing.assert_allclose(example["source_waveforms"], solos * np.array([[0.25], [0.5]]), atol=1e-6)
    warp = audio.warp_matrix(512, 32)
    magnitude = lambda x: warp @ np.abs(np.asarray(audio.spectrogram(x, CONFIG)))  # noqa: E731
    np.testing.assert_allclose(example["mixture_magnitude"], magnitude(mixture), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(example["mixture"][..., 0], np.log1p(magnitude(mixture)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(example["source_magnitudes"][1], magnitude(0.5 * solos[1]), rtol=1e-4, atol=1e-5)
    assert all(value.dtype == np.float32 for value in example.values())
    assert set(pipelines.mixture_example(solos, CONFIG)) == {"mixture", "mixture_magnitude", "source_magnitudes"}

def test_mix_separate_dataset_passes_scene_options_to_every_scene():
    options = {"object_scale": (0.6, 0.6)}
    batch = _batch(pipelines.mix_separate_dataset(1, seed=5, batch_size=1, image_size=40, config=CONFIG, scene_options=options))
    # the first picture is scene seed 5 + 0 drawn with those options: recompute it independently
    name = world.instrument_names()[batch["labels"][0, 0]]
    scene = world.make_scene(1, 5, instruments=[name], image_size=40, config=CONFIG, split="train",
                             num_silent_instruments=0, num_distractors=0, **options)
    np.testing.assert_allclose(batch["images"][0, 0], scene.image / 255.0, atol=1e-6)
    width = scene.boxes[0][2] - scene.boxes[0][0]
    assert width > 0.42 * 40  # larger than any default sprite (sides up to 0.40 of the picture)


def test_ccol_dataset_composes_four_distinct_clips():
    batch = _batch(pipelines.ccol_dataset(2, batch_size=2, image_size=64, crop_size=24, config=CONFIG, with_waveforms=True))
    assert batch["objects"].shape == (2, 4, 24, 24, 3)
    # one sounding object per video, at no fixed position
    np.testing.assert_array_equal(batch["sounding"].reshape(2, 2, 2).sum(axis=-1), [[1, 1], [1, 1]])
    orders = pipelines.ccol_dataset(16, batch_size=None, image_size=32, crop_size=8, config=CONFIG, cache=False)
    first_sounding = {float(example["sounding"][0]) for example in orders.as_numpy_iterator()}
    assert first_sounding == {0.0, 1.0}
    assert all(len(set(labels)) == 4 for labels in batch["labels"])
    assert batch["audio"].shape == (2, 2, 32, CONFIG.num_frames, 1)
    np.testing.assert_allclose(batch["source_waveforms"].sum(axis=1), batch["mixture_waveform"], atol=1e-5)


def test_ccol_dataset_equal_loudness_keeps_the_videos_and_levels_their_sounds():
    def examples(random_gain):
        dataset = pipelines.ccol_dataset(6, batch_size=None, image_size=32, crop_size=8, config=CONFIG, with_waveforms=True,
                                         cache=False, random_gain=random_gain)
        return list(dataset.as_numpy_iterator())

    def rms(waveforms):
        return np.sqrt(np.mean(np.square(waveforms), axis=-1))

    world_loudness, equal_loudness = examples(True), examples(False)
    for random, equal in zip(world_loudness, equal_loudness):
        np.testing.assert_array_equal(random["objects"], equal["objects"])  # same pictures, same order
        np.testing.assert_array_equal(random["sounding"], equal["sounding"])
        level = rms(equal["source_waveforms"])
        np.testing.assert_allclose(level[0], level[1], rtol=1e-4)  # the two sounds of the mixture equally loud
    ratios = [rms(example["source_waveforms"]) for example in world_loudness]
    assert max(max(r) / min(r) for r in ratios) > 1.2  # the world's own loudness differs between the videos
    with pytest.raises(ValueError, match="random_gain"):
        pipelines.ccol_dataset(2, random_gain="yes")


def test_pipelines_reject_bad_sizes():
    with pytest.raises(ValueError, match="`num_scenes` must be a positive integer"):
        pipelines.scene_dataset(0)
    with pytest.raises(ValueError, match="`num_mix` must be an integer between 2 and"):
        pipelines.mix_separate_dataset(2, num_mix=1)
    with pytest.raises(ValueError, match="non-empty sequence"):
        pipelines.scene_dataset(2, num_sources=[])


def test_datasets_declare_their_length_for_fit():
    dataset = pipelines.scene_dataset(10, batch_size=4, image_size=16, config=CONFIG)
    assert int(dataset.cardinality()) == 3
    assert int(pipelines.pair_dataset(6, batch_size=4, image_size=16, config=CONFIG).cardinality()) == 2
