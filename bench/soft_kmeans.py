"""Benchmark: SoftKMeans forward + backward against a naive per-cluster loop.

At the paper's audio feature shape (batch 8, N = 64 x 54 = 3456 positions,
C = 512 channels, 4 iterations) this times one forward and backward pass of

- ``ours``: :class:`avcourse.layers.SoftKMeans` (squared distances from
  ``||x||² - 2 x·c + ||c||²``, one batched matmul per iteration), and
- ``baseline``: the textbook formulation written below, a Python loop over
  the clusters computing ``sqrt(sum((x - c_j)²))`` on the full ``(B, N, C)``
  difference and an M-step per cluster,

both compiled with ``tf.function`` (TensorFlow backend, ``tf.GradientTape``
for the backward pass), in the same process. It prints a markdown table of
the median time over the repeats after a warm-up call (and the minimum,
less sensitive to background load).

Usage:
    KERAS_BACKEND=tensorflow python bench/soft_kmeans.py [--quick] [--ks 1 2 3 4]
"""

import argparse
import os
import platform
import statistics
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from avcourse.layers import SoftKMeans  # noqa: E402

EPSILON = 1e-8
# The baseline's softmax over a single cluster (k = 1) triggers a Keras warning.
warnings.filterwarnings("ignore", message="You are using a softmax over axis")


def naive_soft_kmeans(x, k, stiffness=30.0, iterations=4):
    """Per-iteration, per-cluster loop; same maths as SoftKMeans (incl. epsilons)."""
    n = x.shape[1]
    centers = [x[:, j * (n // k), :] for j in range(k)]  # strided init, each (B, C)
    weights = None
    for _ in range(iterations):
        distances = [
            ops.sqrt(ops.sum(ops.square(x - ops.expand_dims(c, 1)), axis=-1) + EPSILON) for c in centers
        ]  # k x (B, N)
        weights = ops.softmax(-stiffness * ops.stack(distances, axis=-1), axis=-1)  # (B, N, k)
        new_centers = []
        for j in range(k):
            w_j = weights[:, :, j : j + 1]  # (B, N, 1)
            mass = ops.sum(w_j, axis=1)  # (B, 1)
            new_centers.append((ops.sum(w_j * x, axis=1) + EPSILON * centers[j]) / (mass + EPSILON))
        centers = new_centers
    return ops.stack(centers, axis=1), weights


def make_step(forward):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            centers, assignments = forward(x)
            ranks = ops.arange(assignments.shape[-1], dtype="float32")
            loss = ops.sum(ops.square(centers)) + ops.sum(assignments * ranks)
        return loss, tape.gradient(loss, x), centers

    return step


def time_ms(steps, x, repeats):
    """(median, min) wall time in ms of each step; the steps alternate within
    every repeat, so background load affects them alike."""
    for step in steps:
        step(x)[0].numpy()  # warm-up: tracing and graph optimisation
    times = [[] for _ in steps]
    for _ in range(repeats):
        for step, record in zip(steps, times):
            start = time.perf_counter()
            loss, grad, _ = step(x)
            loss.numpy(), grad.numpy()
            record.append((time.perf_counter() - start) * 1000.0)
    return [(statistics.median(record), min(record)) for record in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats instead of --repeats")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--n", type=int, default=3456, help="positions per sample (64 x 54 audio map)")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=4)
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else max(args.repeats, 5)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("bench/soft_kmeans.py uses tf.GradientTape: run it with KERAS_BACKEND=tensorflow.")

    x = tf.constant(np.random.default_rng(0).normal(size=(args.batch, args.n, args.channels)).astype("float32"))
    print(
        f"SoftKMeans forward+backward, B={args.batch}, N={args.n}, C={args.channels}, "
        f"iterations={args.iterations}, stiffness=30; median of {repeats} (interleaved) after 1 warm-up; "
        f"TF {tf.__version__}, Keras {keras.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| k | ours (ms) | baseline (ms) | speed-up | ours min (ms) | baseline min (ms) |")
    print("|---|---|---|---|---|---|")
    for k in args.ks:
        layer = SoftKMeans(k, stiffness=30.0, iterations=args.iterations, epsilon=EPSILON)
        ours = make_step(layer)
        baseline = make_step(lambda t, k=k: naive_soft_kmeans(t, k, 30.0, args.iterations))
        # Same maths: the two agree (up to float32 rounding of the distance forms).
        np.testing.assert_allclose(ours(x)[2].numpy(), baseline(x)[2].numpy(), rtol=1e-3, atol=1e-3)
        (ours_ms, ours_min), (base_ms, base_min) = time_ms([ours, baseline], x, repeats)
        print(
            f"| {k} | {ours_ms:.1f} | {base_ms:.1f} | {base_ms / ours_ms:.1f}x | {ours_min:.1f} | {base_min:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
