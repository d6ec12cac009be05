"""AlignmentDistance (Eq 4) and aligned_assignment (Eq 7) against numpy and hand results."""

import keras
import numpy as np
import pytest
from keras import ops

from avcourse.layers import AlignmentDistance, SoftKMeans, aligned_assignment
from avcourse.testing import compute_gradients, run_layer_test


def numpy_alignment(audio, visual, reduction="sum"):
    pairwise = np.sqrt(((audio[:, :, None, :] - visual[:, None, :, :]) ** 2).sum(-1))  # (B, ka, kv)
    nearest = pairwise.min(-1)
    distance = nearest.sum(-1) if reduction == "sum" else np.sqrt((nearest**2).sum(-1))
    return distance, pairwise.argmin(-1)


AUDIO = np.array([[[0.0, 0.0], [3.0, 4.0]]], dtype="float32")
VISUAL = np.array([[[0.0, 0.0], [3.0, 0.0], [10.0, 10.0]]], dtype="float32")


def test_hand_example():
    # min distances: audio (0,0) -> visual (0,0): 0; audio (3,4) -> visual (3,0): 4.
    distance, index = AlignmentDistance()([AUDIO, VISUAL])
    np.testing.assert_allclose(ops.convert_to_numpy(distance), [4.0], rtol=0, atol=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(index), [[0, 1]])
    assert keras.backend.standardize_dtype(index.dtype) == "int32"


def test_hand_example_l2():
    audio = np.array([[[3.0, 4.0], [6.0, 8.0]]], dtype="float32")
    visual = np.array([[[0.0, 0.0], [100.0, 0.0]]], dtype="float32")
    # minima 5 and 10: sum 15, l2 sqrt(125).
    d_sum, _ = AlignmentDistance("sum")([audio, visual])
    d_l2, index = AlignmentDistance("l2")([audio, visual])
    np.testing.assert_allclose(ops.convert_to_numpy(d_sum), [15.0], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(d_l2), [np.sqrt(125.0)], rtol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(index), [[0, 0]])


@pytest.mark.parametrize("reduction", ["sum", "l2"])
@pytest.mark.parametrize("ka, kv", [(1, 2), (2, 3), (4, 5), (3, 1)])
def test_matches_numpy(reduction, ka, kv):
    rng = np.random.default_rng(ka * 10 + kv)
    audio = rng.normal(size=(5, ka, 16)).astype("float32")
    visual = rng.normal(size=(5, kv, 16)).astype("float32")
    distance, index = AlignmentDistance(reduction)([audio, visual])
    ref_distance, ref_index = numpy_alignment(audio.astype(np.float64), visual.astype(np.float64), reduction)
    np.testing.assert_allclose(ops.convert_to_numpy(distance), ref_distance, rtol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(index), ref_index)


@pytest.mark.parametrize("reduction", ["sum", "l2"])
def test_finite_gradient_at_zero_distance(reduction):
    audio = np.array([[[1.0, 2.0], [3.0, 4.0]]], dtype="float32")
    visual = np.array([[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]], dtype="float32")  # audio centres coincide
    layer = AlignmentDistance(reduction)
    value, grads = compute_gradients(lambda a, v: ops.sum(layer([a, v])[0]), audio, visual)
    assert float(value) == 0.0
    for grad in grads:
        assert np.all(np.isfinite(grad))
    # Away from zero: "sum" gives the unit vector (a - v) / ||a - v||; "l2"
    # (both minima sqrt(0.5), S = 1) scales it by min_0 / S = sqrt(0.5).
    value, (grad_a, grad_v) = compute_gradients(lambda a, v: ops.sum(layer([a, v])[0]), audio + 0.5, visual)
    expected = [np.sqrt(0.5)] * 2 if reduction == "sum" else [0.5, 0.5]
    np.testing.assert_allclose(grad_a[0, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(grad_v[0, 0], -np.asarray(expected), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "l2"])
def test_layer_helper(reduction):
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(3, 2, 8)).astype("float32")
    visual = rng.normal(size=(3, 3, 8)).astype("float32")
    run_layer_test(
        AlignmentDistance,
        {"reduction": reduction},
        [audio, visual],
        ((3,), (3, 2)),
        expected_output_dtypes=["float32", "int32"],
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


def test_layer_helper_zero_distance():
    audio = np.zeros((2, 1, 4), dtype="float32")
    visual = np.zeros((2, 2, 4), dtype="float32")
    run_layer_test(AlignmentDistance, {}, [audio, visual], ((2,), (2, 1)), run_symbolic=False, run_saving=False)


def test_aligned_assignment():
    rng = np.random.default_rng(1)
    w = rng.uniform(size=(2, 6, 3)).astype("float32")
    index = np.array([[2, 0], [1, 1]], dtype="int32")
    np.testing.assert_allclose(ops.convert_to_numpy(aligned_assignment(w, index)), np.stack([w[0, :, 2], w[1, :, 1]]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(aligned_assignment(w, index, audio_center=1)), np.stack([w[0, :, 0], w[1, :, 1]])
    )
    per_sample = aligned_assignment(w, index, audio_center=np.array([1, 0]))
    np.testing.assert_allclose(ops.convert_to_numpy(per_sample), np.stack([w[0, :, 0], w[1, :, 1]]))


def test_localization_pipeline_shapes():
    rng = np.random.default_rng(2)
    audio_features = rng.normal(size=(2, 50, 8)).astype("float32")
    visual_features = rng.normal(size=(2, 50, 8)).astype("float32")  # a 5x10 map
    audio_centers, _ = SoftKMeans(1)(audio_features)
    visual_centers, visual_assignments = SoftKMeans(2)(visual_features)
    _, index = AlignmentDistance()([audio_centers, visual_centers])
    heatmap = ops.reshape(aligned_assignment(visual_assignments, index), (2, 5, 10))
    assert tuple(heatmap.shape) == (2, 5, 10)
    values = ops.convert_to_numpy(heatmap)
    assert np.all((values >= 0) & (values <= 1 + 1e-6))


def test_bad_inputs():
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        AlignmentDistance("mean")
    with pytest.raises(ValueError, match="expects a list of two inputs"):
        AlignmentDistance()(AUDIO)
    message = r"`audio_centers` of AlignmentDistance must have rank 3 \(batch, k, C\); received rank 2"
    with pytest.raises(ValueError, match=message):
        AlignmentDistance()([AUDIO[0], VISUAL])
    with pytest.raises(ValueError, match="`visual_centers` of AlignmentDistance must have rank 3"):
        AlignmentDistance()([AUDIO, VISUAL[..., None]])
    with pytest.raises(ValueError, match=r"same number of channels C; received C=2 \(shape \(1, 2, 2\)\) and C=3"):
        AlignmentDistance()([AUDIO, np.zeros((1, 3, 3), dtype="float32")])
    with pytest.raises(ValueError, match="same number of channels C; received C=2"):
        AlignmentDistance()([keras.Input((2, 2)), keras.Input((3, 3))])
    with pytest.raises(ValueError, match="`audio_center` must be in"):
        aligned_assignment(np.ones((1, 4, 3), "float32"), np.zeros((1, 2), "int32"), audio_center=2)
    with pytest.raises(ValueError, match="`assignments_v` must have rank 3"):
        aligned_assignment(np.ones((4, 3), "float32"), np.zeros((1, 2), "int32"))
