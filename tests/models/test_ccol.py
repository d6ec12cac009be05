"""CCoL's model: audio/object nets, GroundingNet, object-conditioned separator, CCoLModel."""

import keras
import numpy as np
import pytest

from avcourse import audio
from avcourse.data.pipelines import ccol_dataset
from avcourse.losses import grounding as G
from avcourse.models import CCOL_CONFIGS, CCoLModel, GroundingNet, ObjectConditionedSeparator
from avcourse.models.ccol import STAGE_LOSS_WEIGHTS, ccol_audio_net, ccol_object_net
from avcourse.testing import run_layer_test

CONFIG = audio.AudioConfig(clip_seconds=0.25, num_warped_bins=16)  # 16 x 11 spectrograms


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


@pytest.fixture(scope="module")
def batch():
    dataset = ccol_dataset(2, batch_size=2, crop_size=16, image_size=48, config=CONFIG, cache=False)
    return {key: np.asarray(value) for key, value in next(iter(dataset)).items()}


def test_paper_config_shapes():
    assert tuple(ccol_audio_net("vggish", (256, 256, 1)).output.shape) == (None, 512)
    assert tuple(ccol_object_net("resnet18").output.shape) == (None, 512)
    grounding = GroundingNet()
    grounding.build((None, 512), (None, 512))
    assert [tuple(layer.kernel.shape) for layer in grounding.hidden + [grounding.classifier]] == [
        (1024, 512),
        (512, 128),
        (128, 2),
    ]
    paper = CCOL_CONFIGS["paper"]
    assert (paper["separator_depth"], paper["separator_channels"]) == (7, 32)


def test_grounding_net_softmax():
    net = GroundingNet(units=(8, 4))
    rng = np.random.default_rng(0)
    a, o = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 6)).astype("float32")
    p = _np(net(a, o))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, _np(keras.ops.softmax(net.logits(a, o))), rtol=1e-6)
    assert GroundingNet.from_config(net.get_config()).get_config() == net.get_config()


def test_grounding_net_layer():
    rng = np.random.default_rng(0)
    inputs = {
        "audio_features": rng.normal(size=(3, 5)).astype("float32"),
        "object_features": rng.normal(size=(3, 6)).astype("float32"),
    }
    probabilities = run_layer_test(
        GroundingNet,
        {"units": (8, 4)},
        inputs,  # keyword arguments of the call
        (3, 2),
        expected_output_dtypes="float32",
        expected_num_trainable_weights=6,  # three Dense layers: kernel and bias each
        expected_num_non_trainable_weights=0,
    )[0]
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-6)


def test_object_conditioned_separator_layer():
    rng = np.random.default_rng(2)
    inputs = {
        "mixture": rng.uniform(size=(2, 16, 11, 1)).astype("float32"),
        "objects": rng.uniform(size=(2, 3, 16, 16, 3)).astype("float32"),
    }
    masks = run_layer_test(
        ObjectConditionedSeparator,
        dict(object_config="small", object_shape=(16, 16, 3), channels=4, depth=2, base_channels=4),
        inputs,
        (2, 3, 16, 11),
        call_kwargs={"training": False},
        # U-Net 11 + 6, small ResNet object net 36 + 24, the projection's kernel and bias, α and β
        expected_num_trainable_weights=51,
        expected_num_non_trainable_weights=30,
        mixed_output_dtypes="float32",  # the U-Net returns its audio map in float32, so are the masks
        atol=1e-5,
        rtol=1e-5,
    )[0]
    assert masks.min() >= 0 and masks.max() <= 1


def test_separator_mask_is_sigmoid_of_scaled_dot_product():
    sep = ObjectConditionedSeparator(object_config="small", object_shape=(16, 16, 3), channels=4, depth=2, base_channels=4)
    rng = np.random.default_rng(1)
    mixture = rng.uniform(size=(2, 16, 11, 1)).astype("float32")
    objects = rng.uniform(size=(2, 3, 16, 16, 3)).astype("float32")
    masks = _np(sep(mixture, objects))
    assert masks.shape == (2, 3, 16, 11) and masks.min() >= 0 and masks.max() <= 1
    features = _np(sep.unet({"mixture": mixture}))
    vectors = _np(sep.object_vectors(objects)) * _np(sep.scale)
    expected = 1 / (1 + np.exp(-(np.einsum("bftc,bkc->bkft", features, vectors) + _np(sep.bias))))
    np.testing.assert_allclose(masks, expected, rtol=1e-4, atol=1e-5)


def test_outputs_and_losses(batch, tiny_ccol):
    model = CCoLModel(stage="colearn", **tiny_ccol)
    out = model(batch)
    shapes = {key: tuple(value.shape) for key, value in out.items()}
    assert shapes == {
        "pair_logits": (2, 2, 2, 2, 2),
        "mixture_logits": (2, 2, 2, 2),
        "solo_scores": (2, 2, 2, 2),
        "mixture_scores": (2, 2, 2, 2),
        "masks": (2, 2, 2, 16, 11),
    }
    np.testing.assert_allclose(_np(out["solo_scores"]).sum(-1), 1.0, rtol=1e-5)
    components = {key: float(_np(value)) for key, value in model.loss_components(batch, out).items()}
    assert set(components) == {"l1", "l2", "l3", "l1_cyclic", "l3_cyclic", "l2_oracle"}
    assert all(np.isfinite(v) and v >= 0 for v in components.values())
    # l3 and l2* recomputed from the outputs with the pure loss functions.
    np.testing.assert_allclose(
        components["l3"], float(_np(G.mixture_grounding_loss(out["mixture_logits"], from_logits=True))), rtol=1e-5
    )
    weight = _np(audio.magnitude_weight(batch["mixture_magnitude"]))
    gates = _np(G.sounding_gates(out["mixture_logits"], from_logits=True))
    l2 = G.gated_separation_loss(masks=out["masks"], gates=gates, source_magnitudes=batch["source_magnitudes"], mixture_magnitude=batch["mixture_magnitude"], weight=weight)
    np.testing.assert_allclose(components["l2"], float(_np(l2)), rtol=1e-5)
    true_gates = batch["sounding"].reshape(-1, 2, 2)
    oracle = G.gated_separation_loss(masks=out["masks"], gates=true_gates, source_magnitudes=batch["source_magnitudes"], mixture_magnitude=batch["mixture_magnitude"], weight=weight)
    np.testing.assert_allclose(components["l2_oracle"], float(_np(oracle)), rtol=1e-5)
    for stage, weights in STAGE_LOSS_WEIGHTS.items():
        staged = model if stage == "colearn" else model.with_stage(stage)
        staged_out = staged(batch)
        # Fix the random negative object: the same seed state for both evaluations.
        state = _np(staged.seed_generator.state)
        loss = float(_np(staged.compute_loss(batch, None, staged_out)))
        staged.seed_generator.state.assign(state)
        parts = staged.loss_components(batch, staged_out)
        expected = sum(w * float(_np(parts[k])) for k, w in weights.items())
        np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert STAGE_LOSS_WEIGHTS["colearn"] == {"l2": 1.0, "l1": 0.25, "l3": 0.25}
    assert STAGE_LOSS_WEIGHTS["cyclic"] == {"l2": 1.0, "l3_cyclic": 0.25, "l1_cyclic": 0.5}


def test_grounding_stage_does_not_train_the_separator(batch, tiny_ccol):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("uses tf.GradientTape on the model's variables")
    model = CCoLModel(stage="grounding", **tiny_ccol)
    model(batch)
    separator_ids = {id(v) for v in model.separator.trainable_variables}
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = model.compute_loss(batch, None, model(batch, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads):
        if id(variable) in separator_ids:
            assert grad is None or np.all(np.asarray(grad) == 0)
    assert any(g is not None and np.any(np.asarray(g) != 0) for g in grads)
    assert not model.with_stage("separate").grounding.trainable  # grounding-only baseline: frozen grounding


def test_keras_round_trip(batch, tmp_path, tiny_ccol):
    model = CCoLModel(stage="cyclic", **tiny_ccol)
    before = model(batch)
    config = model.get_config()
    assert CCoLModel.from_config(config).get_config() == config
    path = str(tmp_path / "ccol.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.stage == "cyclic"
    after = reloaded(batch)
    for key in before:
        np.testing.assert_allclose(_np(after[key]), _np(before[key]), rtol=1e-5, atol=1e-6)
    copy = model.with_stage("colearn")
    np.testing.assert_allclose(_np(copy(batch)["masks"]), _np(before["masks"]), rtol=1e-5, atol=1e-6)


def test_oracle_stage_trains_only_the_separator_and_needs_labels(batch, tiny_ccol):
    model = CCoLModel(stage="oracle", **tiny_ccol)
    out = model(batch)
    assert model.stage_loss_weights == {"l2_oracle": 1.0}
    assert not model.grounding.trainable and not model.audio_net.trainable and not model.object_net.trainable
    assert model.separator.trainable
    with pytest.raises(ValueError, match="sounding"):
        model.compute_loss({k: v for k, v in batch.items() if k != "sounding"}, None, out)


def test_frozen_nets_pooling_and_rate_multipliers(batch, tiny_ccol):
    model = CCoLModel(stage="grounding", freeze_object_net=True, freeze_audio_net=True, audio_pool="average", **tiny_ccol)
    model(batch)
    variables = model.network_variables()
    assert variables["object_net"] == [] and variables["audio_net"] == [] and variables["grounding"]
    assert isinstance(model.audio_net.layers[-1], keras.layers.GlobalAveragePooling2D)
    # The flags survive the stage copies (they are config), and the authors' rates are the default.
    colearn = model.with_stage("colearn")
    assert not colearn.object_net.trainable and not colearn.audio_net.trainable
    assert colearn.stage_learning_rate_multipliers == {"audio_net": 0.1, "object_net": 0.1, "grounding": 0.1, "separator": 1.0}
    assert model.stage_learning_rate_multipliers == dict.fromkeys(("audio_net", "object_net", "grounding", "separator"), 1.0)
    given = CCoLModel(stage="cyclic", learning_rate_multipliers={"grounding": 0.5}, **tiny_ccol)
    assert given.stage_learning_rate_multipliers["grounding"] == 0.5
    assert given.with_stage("colearn").stage_learning_rate_multipliers["audio_net"] == 1.0
    assert CCoLModel.from_config(given.get_config()).get_config() == given.get_config()
    with pytest.raises(ValueError, match="learning_rate_multipliers"):
        CCoLModel(learning_rate_multipliers={"unet": 0.1}, **tiny_ccol)
    with pytest.raises(ValueError, match="audio_pool"):
        CCoLModel(audio_pool="median", **tiny_ccol)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stage": "warmup"}, "stage"),
        ({"audio_net": "vgg16"}, "audio_net"),
        ({"object_shape": (16, 16)}, "object_shape"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"loss_weights": {"l9": 1.0}}, "loss_weights"),
    ],
)
def test_validation(kwargs, match, tiny_ccol):
    with pytest.raises(ValueError, match=match):
        CCoLModel(**{**tiny_ccol, **kwargs})


def test_input_validation(batch, tiny_ccol):
    model = CCoLModel(**tiny_ccol)
    with pytest.raises(ValueError, match="objects"):
        model({key: value for key, value in batch.items() if key != "objects"})
    with pytest.raises(ValueError, match="'objects' must have shape"):
        model({**batch, "objects": batch["objects"][:, :2]})
    with pytest.raises(ValueError, match="mixture_magnitude"):
        model.compute_loss({"objects": batch["objects"]}, None, model(batch))
