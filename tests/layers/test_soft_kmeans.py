"""SoftKMeans against a numpy EM written from Eq 2-3; numerics at degenerate inputs.

Backend-agnostic: run once with the default backend and once with
``KERAS_BACKEND=jax``.
"""

import keras
import numpy as np
import pytest
from keras import ops

from avcourse.layers import SoftKMeans
from avcourse.testing import compute_gradients, run_layer_test


def numpy_soft_kmeans(x, k, beta, iterations, init="strided"):
    """Reference soft k-means in float64, straight from the equations.

    E-step: w_ij = softmax_j(-beta * ||x_i - c_j||) (Eq 2, Euclidean distance,
    not squared); M-step: c_j = sum_i w_ij x_i / sum_i w_ij (Eq 3).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    if init == "strided":
        centers = x[:, np.arange(k) * (n // k), :]
    else:
        centers = x[:, :k, :]
    weights = None
    for _ in range(iterations):
        distances = np.sqrt(np.sum((x[:, :, None, :] - centers[:, None, :, :]) ** 2, axis=-1))  # (B, N, k)
        logits = -beta * distances
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        centers = np.einsum("bnk,bnc->bkc", weights, x) / weights.sum(axis=1)[:, :, None]
    return centers, weights


def grid_data(seed, batch=2, n=50, channels=8):
    """Data on a 1/4 grid: squared norms and dot products are exact in float32,
    so the first E-step's zero distances (centres initialised on data points)
    are exactly zero in the layer too."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-8, 9, size=(batch, n, channels)) / 4.0).astype("float32")


def empty_cluster_data():
    """1-D points where hard k-means (k=3, strided init) empties a cluster.

    Init: c = (0, 7, 1). Iteration 1 (4 is equidistant from 7 and 1):
    c = (0, 16/3, 2.5). Iteration 2: 1 joins the 0-cluster and 4 the
    16/3-cluster, so the third cluster receives no mass at all.
    """
    x = np.zeros((1, 6, 2), dtype="float32")
    x[0, :, 0] = [0.0, 4.0, 7.0, 4.0, 1.0, 5.0]
    return x


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("iterations", [1, 2, 4])
@pytest.mark.parametrize("beta", [1.0, 30.0])
@pytest.mark.parametrize("init", ["strided", "first"])
def test_matches_numpy_em(k, iterations, beta, init):
    x = grid_data(seed=k * 100 + iterations * 10 + int(beta))
    centers, assignments = SoftKMeans(k, stiffness=beta, iterations=iterations, init=init)(x)
    ref_centers, ref_assignments = numpy_soft_kmeans(x, k, beta, iterations, init)
    np.testing.assert_allclose(ops.convert_to_numpy(assignments), ref_assignments, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(centers), ref_centers, atol=1e-5)


@pytest.mark.parametrize(
    "init, expected",
    [
        # Strided: c = x_0, x_16, x_32 (stride 50 // 3 = 16), at 0, 160, 320.
        ("strided", {0: 0, 7: 0, 9: 1, 16: 1, 23: 1, 25: 2, 32: 2, 49: 2}),
        # First: c = x_0, x_1, x_2, at 0, 10, 20.
        ("first", {0: 0, 1: 1, 2: 2, 9: 2, 49: 2}),
    ],
)
def test_init(init, expected):
    # With one iteration and a huge stiffness every point goes to its nearest
    # initial centre; points at 0, 10, 20, … (shape shared with the tests
    # above, so JAX reuses their compiled ops) make the initial centres visible.
    x = np.zeros((2, 50, 8), dtype="float32")
    x[:, :, 0] = np.arange(50) * 10.0
    _, assignments = SoftKMeans(3, stiffness=1e4, iterations=1, init=init)(x)
    hard = ops.convert_to_numpy(assignments)[0].argmax(-1)
    assert {i: int(hard[i]) for i in expected} == expected


def test_assignments_rows_sum_to_one_and_are_the_last_e_step():
    x = np.random.default_rng(1).normal(size=(2, 50, 8)).astype("float32")
    centers, assignments = SoftKMeans(3, stiffness=5.0, iterations=3)(x)
    w = ops.convert_to_numpy(assignments).astype(np.float64)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    # The returned centres are the M-step of the returned assignments.
    expected = np.einsum("bnk,bnc->bkc", w, x) / w.sum(1)[:, :, None]
    np.testing.assert_allclose(ops.convert_to_numpy(centers), expected, atol=1e-5)
    # And not the E-step that follows them (which would differ here).
    _, next_w = numpy_soft_kmeans(x, 3, 5.0, 4)
    assert np.abs(next_w - w).max() > 1e-4


def test_layer_helper():
    x = np.random.default_rng(2).normal(size=(4, 30, 8)).astype("float32")
    run_layer_test(
        SoftKMeans,
        {"num_clusters": 3, "stiffness": 30.0, "iterations": 2},
        x,
        ((4, 3, 8), (4, 30, 3)),
        expected_output_dtypes=["float32", "float32"],
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "name, x, kwargs",
    [
        ("identical", np.full((2, 20, 4), 0.7, dtype="float32"), {"num_clusters": 3}),
        # Two distinct points, five clusters: some clusters get no mass.
        (
            "empty_clusters",
            np.concatenate([np.zeros((2, 10, 4)), np.full((2, 10, 4), 5.0)], axis=1).astype("float32"),
            {"num_clusters": 5},
        ),
        (
            "emptied_cluster",
            empty_cluster_data().repeat(2, axis=0).repeat(2, axis=2),
            {"num_clusters": 3, "stiffness": 1e4},
        ),
        (
            "huge_stiffness",
            np.random.default_rng(3).normal(size=(2, 20, 4)).astype("float32"),
            {"num_clusters": 3, "stiffness": 1e4},
        ),
    ],
)
def test_finite_at_degenerate_inputs(name, x, kwargs):
    # A finite objective means finite centres and assignments too.
    layer = SoftKMeans(**kwargs)

    def objective(inputs):
        c, w = layer(inputs)
        return ops.sum(ops.square(c)) + ops.sum(w * ops.arange(kwargs["num_clusters"], dtype="float32"))

    value, (grad,) = compute_gradients(objective, x)
    assert np.isfinite(value), name
    assert np.all(np.isfinite(grad)), name


def test_training_step_at_identical_points():
    # One fit step through the helper: d = 0 everywhere, finite loss and weights.
    x = np.full((2, 20, 4), 0.7, dtype="float32")
    run_layer_test(SoftKMeans, {"num_clusters": 3}, x, ((2, 3, 4), (2, 20, 3)), run_symbolic=False, run_saving=False)


def test_identical_points_stay_put():
    x = np.full((2, 50, 8), 2.5, dtype="float32")
    centers, assignments = SoftKMeans(2)(x)
    np.testing.assert_allclose(ops.convert_to_numpy(centers), 2.5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(assignments), 0.5, atol=1e-6)


def test_empty_cluster_keeps_its_centre():
    centers, assignments = SoftKMeans(3, stiffness=1e4, iterations=4)(empty_cluster_data())
    centers = ops.convert_to_numpy(centers)
    mass = ops.convert_to_numpy(assignments).sum(axis=1)
    assert mass[0, 2] < 1e-30  # really empty
    np.testing.assert_allclose(centers[0, :, 0], [0.5, 5.0, 2.5], atol=1e-5)  # third centre kept at 2.5
    np.testing.assert_allclose(centers[0, :, 1], 0.0, atol=1e-6)


def test_symbolic_unknown_n():
    inputs = keras.Input(shape=(None, 5))
    centers, assignments = SoftKMeans(2)(inputs)
    assert tuple(centers.shape) == (None, 2, 5)
    assert tuple(assignments.shape) == (None, None, 2)


def test_config_keeps_raw_arguments():
    layer = SoftKMeans(3, stiffness=10, iterations=2, init="first", epsilon=1e-6, name="sk")
    config = layer.get_config()
    assert {k: config[k] for k in ("num_clusters", "stiffness", "iterations", "init", "epsilon")} == {
        "num_clusters": 3,
        "stiffness": 10,
        "iterations": 2,
        "init": "first",
        "epsilon": 1e-6,
    }
    assert SoftKMeans.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_clusters": 0}, "`num_clusters` must be a positive integer; received 0"),
        ({"num_clusters": 2.0}, "`num_clusters` must be a positive integer; received 2.0"),
        ({"num_clusters": 2, "iterations": 0}, "`iterations` must be a positive integer; received 0"),
        ({"num_clusters": 2, "stiffness": 0.0}, "`stiffness` must be a number > 0; received 0.0"),
        ({"num_clusters": 2, "stiffness": -1}, "`stiffness` must be a number > 0; received -1"),
        ({"num_clusters": 2, "init": "random"}, "`init` must be one of ('strided', 'first', 'farthest'); received 'random'"),
        ({"num_clusters": 2, "epsilon": 0}, "`epsilon` must be a number > 0; received 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        SoftKMeans(**kwargs)
    assert message in str(info.value)


def test_bad_rank():
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, N, C\); received rank 2 with shape \(4, 8\)"):
        SoftKMeans(2)(np.zeros((4, 8), dtype="float32"))
    with pytest.raises(ValueError, match="received rank 4"):
        SoftKMeans(2)(keras.Input(shape=(3, 4, 5)))


def test_fewer_points_than_clusters():
    with pytest.raises(ValueError, match=r"at least `num_clusters`=4 vectors per sample; received N=3"):
        SoftKMeans(4)(np.zeros((2, 3, 5), dtype="float32"))
    with pytest.raises(ValueError, match="received N=3"):
        SoftKMeans(4)(keras.Input(shape=(3, 5)))


def _numpy_farthest_seeds(x, k):
    """Farthest-point seeding written out: c_0 = x_0, then the point farthest from all chosen seeds."""
    seeds = [0]
    for _ in range(1, k):
        gaps = np.min([np.linalg.norm(x - x[s], axis=1) for s in seeds], axis=0)
        seeds.append(int(np.argmax(gaps)))
    return x[seeds]


def test_farthest_init_seeds_the_outlying_cluster():
    rng = np.random.default_rng(4)
    background = rng.normal(0.0, 0.05, size=(30, 3))
    background[0] = 0.0  # x_0 is background, as the top-left corner of a picture is
    obj = rng.normal(5.0, 0.05, size=(6, 3))
    x = np.concatenate([background, obj])[None].astype("float32")
    seeds = _numpy_farthest_seeds(x[0].astype("float64"), 2)
    assert np.all(seeds[1] > 4.0)  # the second seed is an object vector
    centers, assignments = SoftKMeans(2, stiffness=30.0, iterations=1, init="farthest")(x)
    centers = keras.ops.convert_to_numpy(centers)[0]
    np.testing.assert_allclose(sorted(centers[:, 0]), [background[:, 0].mean(), obj[:, 0].mean()], atol=1e-4)
    # strided seeds x_0 and x_18 are both background: the object shares a cluster with background points
    strided, _ = SoftKMeans(2, stiffness=30.0, iterations=1, init="strided")(x)
    assert keras.ops.convert_to_numpy(strided)[0, :, 0].max() < 4.0
