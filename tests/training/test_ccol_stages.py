"""CCoL's stage schedule through run_curriculum, and the Table 1 / Table 2 evaluations."""

import keras
import numpy as np
import pytest

from avcourse import audio
from avcourse.data.pipelines import ccol_dataset
from avcourse.models import CCoLModel
from avcourse.training import ccol as T
from avcourse.training.curriculum import Stage, run_curriculum

CONFIG = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=16)


def _dataset(count=4, **kwargs):
    return ccol_dataset(count, crop_size=16, image_size=48, config=CONFIG, **kwargs)


def test_default_stages_are_the_authors():
    stages = T.ccol_stages()
    assert [(s.variant, s.epochs, s.learning_rate, s.learning_rate_steps) for s in stages] == [
        ("grounding", 40, 1e-4, (20, 30)),
        ("colearn", 60, 1e-4, (30, 50)),
        ("cyclic", 60, 1e-5, (30, 50)),
    ]
    assert all(s.learning_rate_decay == 0.1 for s in stages)
    assert [s.variant for s in T.ccol_stages(2, variants=("grounding", "separate"))] == ["grounding", "separate"]
    # A CAVL stage keeps no variant and no decay: run_curriculum treats it exactly as before.
    cavl = Stage((1,), 1, 2, 1e-4, 1, "C1")
    assert cavl.variant is None and cavl.learning_rate_steps == ()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"variants": ("warmup",)}, "variants"),
        ({"epochs": (1, 2)}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rates": (1e-4,)}, "learning_rates"),
        ({"learning_rate_steps": ((1,),)}, "learning_rate_steps"),
    ],
)
def test_stage_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.ccol_stages(**kwargs)


class StagedModel(keras.Model):
    """A tiny model with CCoL's stage interface, to test run_curriculum's variant path and step decay."""

    def __init__(self, stage="grounding", **kwargs):
        super().__init__(**kwargs)
        self.stage = stage
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return keras.ops.mean(keras.ops.square(y_pred - y))

    def for_stage(self, stage):
        model = StagedModel(stage.variant)
        model(np.zeros((1, 3), "float32"))
        if self.built:
            model.set_weights(self.get_weights())
        return model


def test_run_curriculum_uses_the_variant_and_step_decay():
    data = (np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"))
    stages = T.ccol_stages((3, 1, 1), learning_rates=(1e-3, 1e-3, 1e-4), learning_rate_steps=((1, 2), (), ()))

    def make_dataset(stage):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(data).batch(4)

    model = StagedModel()
    model(data[0])

    def optimizer(learning_rate):
        return keras.optimizers.SGD(learning_rate)

    result = run_curriculum(model, make_dataset, stages, optimizer=optimizer)
    assert [m.stage for m in result.stage_models] == ["grounding", "colearn", "cyclic"]
    assert [len(h["loss"]) for h in result.histories] == [3, 1, 1]
    # x0.1 after epochs 1 and 2 of the first stage: 1e-3 → 1e-4 → 1e-5.
    np.testing.assert_allclose(float(result.stage_models[0].optimizer.learning_rate), 1e-5, rtol=1e-5)
    np.testing.assert_allclose(float(result.stage_models[2].optimizer.learning_rate), 1e-4, rtol=1e-6)


def test_evaluation_on_a_ccol_model(tiny_ccol):
    # One fit per CCoL stage runs in tests/reproduce/test_reproduce_ccol.py; here an untrained model.
    keras.utils.set_random_seed(0)
    model = CCoLModel(stage="cyclic", **tiny_ccol)
    test = T.collect(_dataset(2, batch_size=None, split="test", with_waveforms=True, cache=False))
    outputs = T.predict(model, test, batch_size=1)
    assert outputs["masks"].shape == (2, 2, 2, 16, 11)
    accuracy = T.grounding_accuracy(model, test)
    assert set(accuracy) == {"single", "mixed"} and all(0 <= v <= 1 for v in accuracy.values())
    for mode in ("predicted", "oracle"):
        scores = T.separation_scores(model, test, CONFIG, mode=mode, outputs=outputs)
        assert scores["scored"] == 4 and np.isfinite(scores["sdr"]) and np.isfinite(scores["sir"])
    assert np.isfinite(T.mixture_scores(test)["sdr"])
    with pytest.raises(ValueError, match="missing"):
        T.predict(model, {"objects": test["objects"]})


def test_grounding_accuracy_on_hand_made_outputs():
    sounding = np.array([[1, 0, 1, 0], [1, 0, 1, 0]], "float32")
    solo = np.zeros((2, 2, 2, 2), "float32")
    solo[..., 0] = [[[0.9, 0.1], [0.8, 0.3]], [[0.2, 0.4], [0.7, 0.6]]]  # p(sounding)
    mixed = np.zeros((2, 2, 2, 2), "float32")
    mixed[..., 0] = [[[0.9, 0.1], [0.6, 0.1]], [[0.6, 0.2], [0.7, 0.4]]]
    outputs = {"solo_scores": solo, "mixture_scores": mixed}
    accuracy = T.grounding_accuracy(None, {"sounding": sounding}, outputs=outputs)
    assert accuracy == {"single": 6 / 8, "mixed": 1.0}


def test_separation_gates():
    mixed = np.zeros((1, 2, 2, 2), "float32")
    mixed[..., 0] = [[[0.7, 0.6], [0.2, 0.4]]]  # video 0: both pass; video 1: none → its best object
    gates = T.separation_gates({"mixture_scores": mixed})
    np.testing.assert_array_equal(gates, [[[1, 1], [0, 1]]])
    oracle = T.separation_gates(None, {"sounding": np.array([[1, 0, 1, 0]])}, mode="oracle")
    np.testing.assert_array_equal(oracle, [[[1, 0], [1, 0]]])
    with pytest.raises(ValueError, match="mode"):
        T.separation_gates({"mixture_scores": mixed}, mode="best")


def test_separation_scores_needs_waveforms():
    with pytest.raises(ValueError, match="source_waveforms"):
        T.separation_scores(None, {"sounding": np.zeros((1, 4))})


def test_network_rate_optimizer_scales_each_group_through_fit():
    # Adam's first step moves every weight by about lr (its step ignores the gradient's scale):
    # a group at 0.1 x moves ten times less, a group at 0 not at all.
    inputs = keras.Input((3,))
    first, second, third = keras.layers.Dense(1), keras.layers.Dense(1), keras.layers.Dense(1)
    model = keras.Model(inputs, first(inputs) + second(inputs) + third(inputs))
    before = [keras.ops.convert_to_numpy(layer.kernel) for layer in (first, second, third)]
    optimizer = T.network_rate_optimizer(keras.optimizers.Adam(1e-2), [(second.trainable_variables, 0.1),
                                                                       (third.trainable_variables, 0.0)])
    assert isinstance(optimizer, keras.optimizers.Adam) and float(optimizer.learning_rate) == pytest.approx(1e-2)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.full((4, 1), 10.0, "float32"), epochs=1, batch_size=4, verbose=0)
    moves = [np.abs(keras.ops.convert_to_numpy(layer.kernel) - b).mean() for layer, b in zip((first, second, third), before)]
    np.testing.assert_allclose(moves[0], 1e-2, rtol=1e-3)
    np.testing.assert_allclose(moves[1], 1e-3, rtol=1e-3)
    assert moves[2] == 0
    # Re-wrapping keeps one subclass; a name is accepted.
    again = T.network_rate_optimizer(optimizer, [])
    assert type(again) is type(optimizer)
    assert isinstance(T.network_rate_optimizer("sgd", []), keras.optimizers.SGD)


def test_ccol_model_compile_applies_the_authors_rates(tiny_ccol):
    grounding = CCoLModel(stage="grounding", **tiny_ccol)
    grounding.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert type(grounding.optimizer) is keras.optimizers.Adam  # every rate the same: the optimizer as given
    colearn = grounding.with_stage("colearn")
    colearn.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert type(colearn.optimizer).__name__ == "NetworkRateAdam"
    colearn.optimizer.build(colearn.trainable_variables)
    multipliers = dict(zip((id(v) for v in colearn.trainable_variables), colearn.optimizer._multipliers))
    for name, variables in colearn.network_variables().items():
        expected = 1.0 if name == "separator" else 0.1
        assert variables and all(multipliers[id(v)] == expected for v in variables)


def test_cycle_choices_and_monitor(tiny_ccol):
    keras.utils.set_random_seed(0)
    model = CCoLModel(stage="cyclic", **tiny_ccol)
    data = T.collect(_dataset(2, batch_size=None, cache=False))
    choices = T.cycle_choices(model, data)
    assert set(choices) == {"d_n", "mil", "mixture_mil", "agree"} and all(0 <= v <= 1 for v in choices.values())
    # Hand-made outputs: the masks make d smallest for the sounding object, the scores pick the other one.
    sounding = data["sounding"].reshape(-1, 2, 2)
    ratio = np.clip(data["source_magnitudes"] / np.maximum(data["mixture_magnitude"][:, None], 1e-8), 0, 5)
    masks = np.where(sounding[..., None, None] > 0.5, ratio[:, :, None], 0.0).astype("float32")
    scores = np.stack([1 - sounding, sounding], axis=-1).astype("float32")  # p(sounding) high on the silent ones
    outputs = {"masks": masks, "solo_scores": scores, "mixture_scores": scores}
    assert T.cycle_choices(model, data, outputs=outputs) == {"d_n": 1.0, "mil": 0.0, "mixture_mil": 0.0, "agree": 0.0}
    records = []
    monitor = T.CycleMonitor(data, "cyclic", records=records)
    monitor.set_model(model)
    monitor.on_epoch_end(0)
    assert records[0]["stage"] == "cyclic" and records[0]["epoch"] == 1 and "d_n" in records[0]
