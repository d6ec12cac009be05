"""ResNet-18 trunk (paper config 224 → 7 x 7 x 512) and its small CPU config."""

import keras
import numpy as np
import pytest

from avcourse.models.resnet import RESNET_CONFIGS, ResidualBlock, resnet18
from avcourse.testing import run_layer_test


def test_paper_config_shapes():
    trunk = resnet18()
    assert tuple(trunk.input.shape) == (None, 224, 224, 3)
    assert tuple(trunk.output.shape) == (None, 7, 7, 512)
    blocks = [layer for layer in trunk.layers if isinstance(layer, ResidualBlock)]
    assert [block.filters for block in blocks] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [block.strides for block in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]
    # ResNet-18 without its classifier has about 11.2 M parameters.
    assert 11.1e6 < trunk.count_params() < 11.3e6


def test_small_config_runs_and_weights_round_trip(tmp_path):
    trunk = resnet18("small_resnet")
    x = np.random.default_rng(0).uniform(size=(2, 48, 48, 3)).astype("float32")
    y = np.asarray(trunk(x))
    assert y.shape == (2, 6, 6, 64) and np.all(y >= 0)
    path = str(tmp_path / "trunk.weights.h5")
    trunk.save_weights(path)
    again = resnet18("small_resnet", weights=path)
    np.testing.assert_allclose(np.asarray(again(x)), y, rtol=1e-5, atol=1e-6)
    model_path = str(tmp_path / "trunk.keras")
    trunk.save(model_path)
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(model_path)(x)), y, rtol=1e-5, atol=1e-6)


def test_residual_block_layer():
    run_layer_test(
        ResidualBlock,
        {"filters": 4, "strides": 2},
        np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32"),
        (2, 4, 4, 4),
        # conv1, bn1 (γ, β), conv2, bn2 and the strided shortcut's conv and bn; each bn has 2 moving statistics
        expected_num_trainable_weights=9,
        expected_num_non_trainable_weights=6,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"config": "resnet50"}, "config"),
        ({"config": "small_resnet", "input_shape": (4, 4, 3)}, "input_shape"),
        ({"config": "small_resnet", "input_shape": (48, 48)}, "input_shape"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet18(**kwargs)
    assert set(RESNET_CONFIGS) == {"resnet18", "small_resnet"}


def test_block_validation():
    with pytest.raises(ValueError, match="strides"):
        ResidualBlock(4, strides=3)
    with pytest.raises(ValueError, match="filters"):
        ResidualBlock(0)
