"""Supervised trunk pretraining: the classifier's logits by hand, learning a separable task, the labels pipeline."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from avcourse import audio
from avcourse.data import pipelines, world
from avcourse.models import CAVLModel
from avcourse.models.backbones import conv_trunk
from avcourse.training.pretrain import pretrain_trunk, trunk_classifier


def _labelled(images, labels, batch_size=8):
    return tf.data.Dataset.from_tensor_slices({"image": images, "labels": labels}).batch(batch_size)


def _colour_task(num=48, num_classes=3, seed=0):
    """Pictures whose class is the colour of one square: solvable from one patch."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.2, size=(num, 16, 16, 3)).astype("float32")
    classes = np.arange(num) % num_classes
    for index, label in enumerate(classes):
        top, left = rng.integers(0, 9, size=2)
        images[index, top : top + 8, left : left + 8, label] = 1.0
    return images, np.eye(num_classes, dtype="float32")[classes]


def test_classifier_is_the_global_max_of_the_trunk_map_then_dense():
    trunk = conv_trunk("patch_visual", (16, 16, 3))
    classifier = trunk_classifier(trunk, 4)
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    maps = keras.ops.convert_to_numpy(trunk(images))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in classifier.get_layer("logits").weights)
    expected = maps.max(axis=(1, 2)) @ kernel + bias
    np.testing.assert_allclose(keras.ops.convert_to_numpy(classifier(images)), expected, rtol=1e-5, atol=1e-5)
    assert classifier.layers[0] is trunk  # shared: training the classifier trains the trunk


def test_average_pooling_classifier_is_the_mean_of_the_trunk_map_then_dense():
    trunk = conv_trunk("patch_visual", (16, 16, 3))
    classifier = trunk_classifier(trunk, 4, pooling="average")
    images = np.random.default_rng(1).random((3, 16, 16, 3)).astype("float32")
    maps = keras.ops.convert_to_numpy(trunk(images)).astype(np.float64)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in classifier.get_layer("logits").weights)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(classifier(images)), maps.mean(axis=(1, 2)) @ kernel + bias,
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        trunk_classifier(trunk, 4, pooling="median")


def test_multi_label_pretraining_names_every_colour_in_the_picture():
    rng = np.random.default_rng(2)
    images = rng.uniform(0.0, 0.2, size=(96, 16, 16, 3)).astype("float32")
    labels = np.zeros((96, 3), "float32")
    for index in range(96):  # one or two coloured squares a picture, in distinct corners
        for corner, channel in zip([(0, 0), (8, 8)], rng.choice(3, size=1 + index % 2, replace=False)):
            images[index, corner[0] : corner[0] + 8, corner[1] : corner[1] + 8, channel] = 1.0
            labels[index, channel] = 1.0
    data = tf.data.Dataset.from_tensor_slices({"image": images, "visible_labels": labels}).batch(16)
    trunk = conv_trunk("patch_visual", (16, 16, 3))
    history = pretrain_trunk(trunk, data, modality="image", epochs=40, learning_rate=1e-2,
                             label_key="visible_labels", multi_label=True)
    assert history.history["accuracy"][-1] > 0.95  # per-class binary accuracy
    logits = keras.ops.convert_to_numpy(history.model(images))
    np.testing.assert_array_equal(logits > 0, labels > 0.5)


def test_pretraining_learns_a_separable_task_and_updates_the_trunk_in_place():
    keras.utils.set_random_seed(0)
    trunk = conv_trunk("patch_visual", (16, 16, 3))
    before = [keras.ops.convert_to_numpy(w).copy() for w in trunk.weights]
    images, labels = _colour_task()
    history = pretrain_trunk(trunk, _labelled(images, labels), modality="image", epochs=30, learning_rate=3e-3,
                             validation_data=_labelled(*_colour_task(seed=1)))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9  # chance is 1/3
    after = [keras.ops.convert_to_numpy(w) for w in trunk.weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_pretraining_hands_its_callbacks_to_fit():
    keras.utils.set_random_seed(0)
    ends = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append((epoch, sorted(logs))))
    images, labels = _colour_task(num=16)
    pretrain_trunk(conv_trunk("patch_visual", (16, 16, 3)), _labelled(images, labels), modality="image", epochs=2,
                   callbacks=[record])
    assert ends == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]


def test_pretrained_weights_load_into_a_cavl_model(tmp_path):
    keras.utils.set_random_seed(1)
    trunk = conv_trunk("patch_visual", (16, 16, 3), name="visual_trunk")
    pretrain_trunk(trunk, _labelled(*_colour_task()), modality="image", epochs=1)
    path = str(tmp_path / "visual.weights.h5")
    trunk.save_weights(path)
    model = CAVLModel("small_audio", "patch_visual", audio_shape=(32, 22, 1), image_shape=(16, 16, 3),
                      embedding_dim=8, visual_weights=path)
    images = np.random.default_rng(2).random((2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.visual_trunk(images)), keras.ops.convert_to_numpy(trunk(images)), rtol=1e-6
    )


def test_scene_dataset_labels_are_the_sounding_instruments():
    config = audio.AudioConfig(clip_seconds=0.5, num_warped_bins=32)
    dataset = pipelines.scene_dataset(4, num_sources=[1, 2], seed=7, batch_size=None, image_size=32, config=config,
                                      num_distractors=1, with_labels=True, cache=False)
    names = world.instrument_names()
    for index, example in enumerate(dataset):
        scene = world.make_scene([1, 2][index % 2], 7 + index, image_size=32, config=config, num_distractors=1)
        expected = {label for label, plays in zip(scene.labels, scene.sounding) if plays}
        labels = example["labels"].numpy()
        assert labels.shape == (len(names),) and set(np.unique(labels)) <= {0.0, 1.0}
        assert {names[i] for i in np.flatnonzero(labels)} == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [({"modality": "video"}, "`modality` must be one of"), ({"modality": "image", "epochs": 0}, "`epochs`")],
)
def test_bad_arguments(kwargs, message):
    images, labels = _colour_task(num=8)
    with pytest.raises(ValueError, match=message):
        pretrain_trunk(conv_trunk("patch_visual", (16, 16, 3)), _labelled(images, labels), **kwargs)


def test_dataset_without_labels_is_refused():
    dataset = tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 16, 16, 3), "float32")}).batch(2)
    with pytest.raises(ValueError, match="with_labels=True"):
        pretrain_trunk(conv_trunk("patch_visual", (16, 16, 3)), dataset, modality="image")
