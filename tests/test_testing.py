"""avcourse.testing: run_layer_test's inputs (array, list, keyword dict), weight counts and precision step."""

import keras
import numpy as np
import pytest
from keras import ops

from avcourse.testing import PRECISION_POLICIES, compute_gradients, run_layer_test, run_loss_test


@keras.saving.register_keras_serializable(package="avcourse_tests")
class ScaledSum(keras.layers.Layer):
    """``scale · (w ⊙ first + second)``: two keyword tensors, a non-tensor call argument, one weight."""

    def build(self, first_shape, second_shape=None):
        self.w = self.add_weight(shape=(first_shape[-1],), initializer="random_normal", name="w")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, first, second, scale=1.0):
        return scale * (first * self.w + second)

    def compute_output_shape(self, first_shape, second_shape=None):
        return first_shape


@keras.saving.register_keras_serializable(package="avcourse_tests")
class AlwaysFloat32(keras.layers.Layer):
    """Returns float32 whatever the policy (as a layer that keeps its numerics in float32 on purpose)."""

    def call(self, x):
        return ops.cast(x, "float32") * 2.0


@keras.saving.register_keras_serializable(package="avcourse_tests")
class HalfWeights(keras.layers.Layer):
    """Creates its weight in the compute dtype: wrong under a mixed policy (weights must stay float32)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", dtype=self.compute_dtype, name="w")

    def call(self, x):
        return x * ops.cast(self.w, x.dtype)


def _pair(batch=3, width=4):
    rng = np.random.default_rng(0)
    return {"first": rng.normal(size=(batch, width)).astype("float32"), "second": rng.normal(size=(batch, width)).astype("float32")}


def test_dict_inputs_are_keyword_arguments_with_call_kwargs():
    data = _pair()
    outputs = run_layer_test(
        ScaledSum,
        {},
        data,
        (3, 4),
        call_kwargs={"scale": 2.0},
        expected_output_dtypes="float32",
        expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=1,
    )
    keras.utils.set_random_seed(0)  # the helper builds every instance after this seed: the same weights
    layer = ScaledSum()
    np.testing.assert_allclose(outputs[0], ops.convert_to_numpy(layer(**data, scale=2.0)), rtol=1e-6)


def test_wrong_weight_counts_fail():
    with pytest.raises(AssertionError, match="1 trainable weights, expected 2"):
        run_layer_test(ScaledSum, {}, _pair(), (3, 4), expected_num_trainable_weights=2, run_saving=False)
    with pytest.raises(AssertionError, match="1 non-trainable weights, expected 0"):
        run_layer_test(ScaledSum, {}, _pair(), (3, 4), expected_num_non_trainable_weights=0, run_saving=False)


def test_precision_step_checks_output_dtypes():
    x = np.ones((2, 3), "float32")
    with pytest.raises(AssertionError, match="mixed_float16: output 0 has dtype float32, expected float16"):
        run_layer_test(AlwaysFloat32, {}, x, (2, 3))
    # a layer that returns float32 on purpose says so
    run_layer_test(AlwaysFloat32, {}, x, (2, 3), mixed_output_dtypes="float32")
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy is restored, even after a failure


def test_precision_step_checks_weight_dtypes():
    with pytest.raises(AssertionError, match="weight .* has dtype float16, expected float32"):
        run_layer_test(HalfWeights, {}, np.ones((2, 3), "float32"), (2, 3), run_saving=False, run_training=False)
    assert PRECISION_POLICIES == ("mixed_float16", "mixed_bfloat16")


def test_compute_gradients_and_loss_helper():
    value, (grad,) = compute_gradients(lambda x: ops.sum(ops.square(x)), np.array([1.0, -2.0], "float32"))
    assert float(value) == 5.0 and grad.tolist() == [2.0, -4.0]
    y_true, y_pred = np.zeros((4, 1), "float32"), np.full((4, 1), 0.5, "float32")
    assert run_loss_test(keras.losses.MeanSquaredError(), y_true, y_pred, expected_value=0.25) == pytest.approx(0.25)
