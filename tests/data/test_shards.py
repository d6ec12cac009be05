import numpy as np
import pytest
import tensorflow as tf
from test_prepare import make_esc50_root

from avcourse import audio
from avcourse.data import pipelines, prepare, shards

NUM_CLIPS = 12


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """12 ESC-50-like clips in 4 shards of 3."""
    root = make_esc50_root(tmp_path_factory.mktemp("root"), num_clips=NUM_CLIPS, seconds=0.1)
    output = tmp_path_factory.mktemp("shards")
    prepare.prepare("esc50", root, output, num_workers=0, shard_size=3, progress=False)
    return output


def clip_ids(dataset):
    return [element["clip_id"].numpy().decode() for element in dataset]


def test_record_schema(shard_dir):
    dataset = shards.shard_dataset(shard_dir)
    spec = dataset.element_spec
    assert {key: value.dtype for key, value in spec.items()} == {
        "clip_id": tf.string,
        "waveform": tf.float32,
        "frames": tf.uint8,
        "labels": tf.string,
        "num_sources": tf.int32,
        "boxes": tf.float32,
        "fold": tf.int32,
    }
    assert spec["waveform"].shape.rank == 1 and spec["frames"].shape.rank == 4 and spec["num_sources"].shape.rank == 0
    assert len(clip_ids(dataset)) == NUM_CLIPS


def test_deterministic_order_does_not_depend_on_parallelism(shard_dir):
    one = clip_ids(shards.shard_dataset(shard_dir, num_parallel_calls=1))
    two = clip_ids(shards.shard_dataset(shard_dir, num_parallel_calls=2))
    assert one == two == clip_ids(shards.shard_dataset(str(shard_dir / "*.tfrecord"), num_parallel_calls=tf.data.AUTOTUNE))
    assert sorted(clip_ids(shards.shard_dataset(shard_dir, num_parallel_calls=2, deterministic=False))) == sorted(one)
    shuffled = [clip_ids(shards.shard_dataset(shard_dir, shuffle_files=True, seed=3)) for _ in range(2)]
    assert shuffled[0] == shuffled[1] and sorted(shuffled[0]) == sorted(one)


@pytest.mark.parametrize("num_pipelines", [2, 8])  # 8 > 4 files: records, not files, are split
def test_per_worker_sharding_is_disjoint_and_complete(shard_dir, num_pipelines):
    everything = clip_ids(shards.shard_dataset(shard_dir))
    parts = [
        clip_ids(
            shards.shard_dataset(
                shard_dir,
                deterministic=False,
                shuffle_files=True,
                seed=1,
                input_context=tf.distribute.InputContext(num_pipelines, worker, 1),
            )
        )
        for worker in range(num_pipelines)
    ]
    assert sum(map(len, parts)) == NUM_CLIPS
    assert sorted(clip for part in parts for clip in part) == sorted(everything)


def test_scene_inputs_match_the_synthetic_pipelines(shard_dir):
    config = audio.AudioConfig()
    record = next(iter(shards.shard_dataset(shard_dir)))
    inputs = next(iter(shards.shard_dataset(shard_dir).map(shards.scene_inputs)))
    expected = pipelines.log1p_features(audio.fit_length(record["waveform"].numpy(), config.num_samples), config)
    # The same kernel (framing, warp, log1p) on both sides; the tolerance is the float32 rounding of the
    # compiler: the tf.data graph runs plain TensorFlow ops, the eager call its XLA-compiled function,
    # whose fused multiply-adds and log1p differ by a few ulps (up to 5e-7 here).
    np.testing.assert_allclose(inputs["audio"].numpy(), expected, rtol=1e-6, atol=1e-6)
    scene_spec = pipelines.scene_dataset(1, batch_size=0, image_size=224, cache=False).element_spec
    assert set(inputs) == set(scene_spec)
    for key, spec in scene_spec.items():
        assert inputs[key].shape == spec.shape and inputs[key].dtype == spec.dtype
    np.testing.assert_array_equal(inputs["image"].numpy(), 0.0)  # audio-only clip: black picture


def test_shard_dataset_errors(tmp_path, shard_dir):
    with pytest.raises(ValueError, match="avcourse prepare"):
        shards.shard_dataset(tmp_path / "*.tfrecord")
    with pytest.raises(ValueError, match="`num_parallel_calls`"):
        shards.shard_dataset(shard_dir, num_parallel_calls=0)
    with pytest.raises(ValueError, match="`prefetch`"):
        shards.shard_dataset(shard_dir, prefetch=-2)


def test_audio_features_without_the_tensorflow_backend(shard_dir, monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # takes the tf.numpy_function path
    config = audio.AudioConfig()
    record = next(iter(shards.shard_dataset(shard_dir)))
    waveform = shards.crop_or_pad(record["waveform"], config.num_samples)
    features = shards.audio_features(waveform, config)
    expected = pipelines.log1p_features(audio.fit_length(record["waveform"].numpy(), config.num_samples), config)
    assert features.shape == (256, 256, 1)
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_scene_inputs_picks_and_resizes_a_frame_and_validates(shard_dir):
    record = next(iter(shards.shard_dataset(shard_dir)))
    inputs = shards.scene_inputs(record, frame_index=5, image_size=32)
    assert inputs["image"].shape == (32, 32, 3)
    with pytest.raises(ValueError, match="`frame_index`"):
        shards.scene_inputs(record, frame_index=-1)
    with pytest.raises(ValueError, match="`image_size`"):
        shards.scene_inputs(record, image_size=0)
    with pytest.raises(ValueError, match="`num_samples`"):
        shards.crop_or_pad(record["waveform"], 0)
