"""Linear probe of frozen audio features: separable features are solved, random labels stay at chance."""

import keras
import numpy as np
import pytest

from avcourse.models.backbones import conv_trunk
from avcourse.training import extract_audio_features, linear_probe


def _separable(num, num_classes=3, dim=6, seed=0):
    """Gaussian blobs around well separated class means (a linear classifier gets every point)."""
    rng = np.random.default_rng(seed)
    means = np.eye(num_classes, dim) * 10.0
    labels = np.arange(num) % num_classes
    return rng.normal(size=(num, dim)) + means[labels] + 50.0, labels  # offset: standardisation handles it


def test_separable_features_reach_test_accuracy_one():
    train_x, train_y = _separable(90, seed=0)
    test_x, test_y = _separable(60, seed=1)
    result = linear_probe(train_x, train_y, test_x, test_y, epochs=10, batch_size=30, learning_rate=0.1, seed=0)
    assert set(result) == {"train_accuracy", "test_accuracy"}
    assert result["train_accuracy"] == 1.0 and result["test_accuracy"] == 1.0


def test_random_labels_stay_near_chance_and_runs_are_deterministic():
    rng = np.random.default_rng(2)
    train_x, test_x = rng.normal(size=(200, 8)), rng.normal(size=(400, 8))
    train_y, test_y = rng.integers(0, 4, 200), rng.integers(0, 4, 400)
    result = linear_probe(train_x, train_y, test_x, test_y, epochs=5, seed=0)
    # Chance is 0.25; with 400 test points the standard error is ~0.022.
    assert 0.15 < result["test_accuracy"] < 0.35
    assert linear_probe(train_x, train_y, test_x, test_y, epochs=5, seed=0) == result


def test_extract_audio_features_is_the_global_max_of_the_trunk_map():
    trunk = conv_trunk("small_audio", (32, 22, 1))
    audio = np.random.default_rng(0).random((5, 32, 22, 1)).astype("float32")
    maps = np.asarray(keras.ops.convert_to_numpy(trunk(audio)))
    expected = maps.max(axis=(1, 2))
    np.testing.assert_allclose(extract_audio_features(trunk, audio, batch_size=2), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extract_audio_features(trunk, {"audio": audio, "x": 0}), expected, rtol=1e-5, atol=1e-6)
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices({"audio": audio, "num_sources": np.ones(5, "int32")}).batch(2)
    np.testing.assert_allclose(extract_audio_features(trunk, dataset), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_labels": np.zeros(3, int)}, "one label per feature row"),
        ({"train_labels": np.zeros(4)}, "integer class indices"),
        ({"test_features": np.zeros((2, 5))}, "same width"),
        ({"num_classes": 1}, "labels go up to 1"),
    ],
)
def test_probe_bad_inputs(kwargs, message):
    base = dict(
        train_features=np.zeros((4, 3)),
        train_labels=np.array([0, 1, 0, 1]),
        test_features=np.zeros((2, 3)),
        test_labels=np.array([0, 1]),
    )
    with pytest.raises(ValueError, match=message):
        linear_probe(**{**base, **kwargs})


def test_extract_bad_inputs():
    trunk = conv_trunk("small_audio", (32, 22, 1))
    with pytest.raises(ValueError, match="no 'audio' entry"):
        extract_audio_features(trunk, {"spec": np.zeros((1, 32, 22, 1))})
    with pytest.raises(ValueError, match="must be a functional keras.Model"):
        extract_audio_features(object(), np.zeros((1, 32, 22, 1)))
