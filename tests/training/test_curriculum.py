"""The curriculum's schedule and its stage-by-stage fit loop."""

import numpy as np
import pytest
import tensorflow as tf

from avcourse.models import CAVLModel
from avcourse.training.curriculum import curriculum_stages, no_curriculum_stage, run_curriculum

AUDIO_SHAPE, IMAGE_SHAPE = (32, 22, 1), (32, 32, 3)


def test_paper_schedule():
    stages = curriculum_stages(3, epochs=[2, 1, 1])
    assert [s.num_sources for s in stages] == [(1,), (2,), (3,)]
    assert [(s.num_audio_clusters, s.num_visual_clusters) for s in stages] == [(1, 2), (2, 3), (3, 4)]
    np.testing.assert_allclose([s.learning_rate for s in stages], [1e-4, 1e-5, 1e-6])
    assert [s.epochs for s in stages] == [2, 1, 1] and [s.name for s in stages] == ["C1", "C2", "C3"]
    assert curriculum_stages(2, accumulate=True)[1].num_sources == (1, 2)
    baseline = no_curriculum_stage(3, learning_rate=1e-3)
    assert len(baseline) == 1 and baseline[0].num_sources == (1, 2, 3) and baseline[0].num_audio_clusters == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_stages": 0}, "`num_stages` must be an integer from 1 to 4"),
        ({"num_stages": 2, "epochs": [1]}, "one entry per stage"),
        ({"num_stages": 1, "epochs": 0}, "`epochs` must be a positive integer"),
    ],
)
def test_bad_schedules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        curriculum_stages(**kwargs)


def _dataset(stage):
    rng = np.random.default_rng(len(stage.num_sources) + stage.num_audio_clusters)
    images = rng.random((8,) + IMAGE_SHAPE).astype("float32")
    audio = rng.random((8,) + AUDIO_SHAPE).astype("float32")
    return tf.data.Dataset.from_tensor_slices({"image": images, "audio": audio}).batch(4)


class _RecordStart:
    """Callback recording the weights and learning rate each stage starts with."""

    def __init__(self):
        import keras

        record = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                record.starts.append([w.copy() for w in self.model.get_weights()])
                record.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
                record.clusters.append(self.model.num_audio_clusters)

            def on_train_end(self, logs=None):
                record.ends.append([w.copy() for w in self.model.get_weights()])

        self.starts, self.ends, self.rates, self.clusters, self.callback = [], [], [], [], Callback()


def test_run_curriculum_warm_starts_each_stage():
    model = CAVLModel("small_audio", "small_visual", audio_shape=AUDIO_SHAPE, image_shape=IMAGE_SHAPE, embedding_dim=8)
    recorder = _RecordStart()
    result = run_curriculum(model, _dataset, curriculum_stages(2, base_learning_rate=1e-3, epochs=[2, 1]), callbacks=[recorder.callback])
    assert recorder.clusters == [1, 2]
    np.testing.assert_allclose(recorder.rates, [1e-3, 1e-4], rtol=1e-6)
    assert [len(h["loss"]) for h in result.histories] == [2, 1]
    assert [m.num_audio_clusters for m in result.stage_models] == [1, 2]
    assert len(result.concatenated("loss")) == 3 and "match_accuracy" in result.histories[0]
    assert result.model.num_audio_clusters == 2
    # stage 2 starts exactly where stage 1 ended, and stage 1 did move the weights
    for end_of_1, start_of_2 in zip(recorder.ends[0], recorder.starts[1]):
        np.testing.assert_array_equal(end_of_1, start_of_2)
    assert any(not np.array_equal(a, b) for a, b in zip(recorder.starts[0], recorder.ends[0]))


def test_run_curriculum_needs_stages():
    with pytest.raises(ValueError, match="`stages` must hold at least one Stage"):
        run_curriculum(None, _dataset, [])
