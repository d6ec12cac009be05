"""Benchmark: UNetSeparator training and inference speed, Keras default vs XLA.

For two configurations of :class:`avcourse.models.UNetSeparator`

* ``tutorial``: the small recipe of ``avcourse.reproduce.separation`` (depth 4,
  channels 16-32-64-128, 64-unit visual layer; visual vector of 64 here) on the
  tutorials' 64 x 44 spectrograms, and
* ``paper``: the CAVL supplement 6.4 network (depth 6, 16-...-512, visual
  vector and layer 512) on 256 x 256 spectrograms,

it times

* training: ``model.train_on_batch`` on a fixed synthetic batch (the
  separator fitted on its own: ``x`` = mixture, visual vector and mixture
  magnitude, ``y`` = source magnitude, loss = the separator's ratio-mask L1),
  Adam, reported as steps/s;
* inference: ``model.predict_on_batch`` at batch 8, reported as clips/s.

Each is measured twice in the same process, on the same weights and batch:
with Keras' default ``jit_compile="auto"`` (which, on the TensorFlow backend,
compiles with ``tf.function`` but without XLA for these models) and with
``jit_compile=True`` (XLA). Every model is warmed up first (tracing and, for
XLA, compilation, which is not timed), then the two variants alternate within
every repeat so that background load hits them alike; the table shows the
median over the repeats.

Usage (with avcourse installed, e.g. ``pip install -e .``)::

    KERAS_BACKEND=tensorflow python bench/separator.py            # full run
    KERAS_BACKEND=tensorflow python bench/separator.py --quick    # fewer repeats
"""

import argparse
import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _machine import machine_line, timed  # noqa: E402

from avcourse.models.separator import UNetSeparator  # noqa: E402

CONFIGS = {
    # name: (constructor kwargs, (bins, frames), train batch)
    "tutorial": (dict(depth=4, base_channels=16, visual_dim=64, visual_units=64), (64, 44), 8),
    "paper": (dict(depth=6, base_channels=16, max_channels=512, visual_dim=512, visual_units=512), (256, 256), 8),
}


def machine_info():
    import tensorflow as tf

    return machine_line(
        {"numpy": np.__version__, "tensorflow": tf.__version__, "keras": f"{keras.__version__} (backend {keras.backend.backend()})"}
    )


def synthetic_batch(batch, bins, frames, visual_dim, seed=0):
    rng = np.random.default_rng(seed)
    sources = rng.gamma(0.5, 1.0, size=(2, batch, bins, frames)).astype("float32")
    mixture_magnitude = sources.sum(axis=0)
    x = {
        "mixture": np.log1p(mixture_magnitude)[..., None],
        "visual": rng.normal(size=(batch, visual_dim)).astype("float32"),
        "mixture_magnitude": mixture_magnitude,
    }
    return x, sources[0]


def make_model(kwargs, jit_compile, weights=None):
    keras.utils.set_random_seed(0)
    model = UNetSeparator(mask_type="ratio", **kwargs)
    model.build()
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer="adam", jit_compile=jit_compile)
    return model


def interleaved(calls, repeats):
    """Median seconds per call of each callable, the callables alternating in every repeat."""
    return [statistics.median(record) for record in timed(calls, repeats)]


def bench_config(name, repeats, infer_batch=8, train_batch=None):
    kwargs, (bins, frames), default_train_batch = CONFIGS[name]
    train_batch = train_batch or default_train_batch
    x_train, y_train = synthetic_batch(train_batch, bins, frames, kwargs["visual_dim"])
    x_infer, _ = synthetic_batch(infer_batch, bins, frames, kwargs["visual_dim"], seed=1)
    x_infer = {"mixture": x_infer["mixture"], "visual": x_infer["visual"]}

    default = make_model(kwargs, "auto")
    xla = make_model(kwargs, True, weights=default.get_weights())
    models = (default, xla)

    # Same weights, same batch: the two predictions agree before any training.
    a, b = (m.predict_on_batch(x_infer) for m in models)  # also the inference warm-up
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    for m in models:  # training warm-up: tracing / XLA compilation
        m.train_on_batch(x_train, y_train)

    infer_s = interleaved([lambda m=m: m.predict_on_batch(x_infer) for m in models], repeats)
    train_s = interleaved([lambda m=m: m.train_on_batch(x_train, y_train) for m in models], repeats)
    return {
        "config": name,
        "input": f"{bins}x{frames}",
        "train_batch": train_batch,
        "infer_batch": infer_batch,
        "train": [1.0 / s for s in train_s],
        "infer": [infer_batch / s for s in infer_s],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of --repeats")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--paper-train-batch", type=int, default=8, help="training batch of the paper config")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else max(args.repeats, 3)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("bench/separator.py compares TensorFlow's default with XLA: run it with KERAS_BACKEND=tensorflow.")

    print(
        f"UNetSeparator (ratio mask, Adam) train_on_batch / predict_on_batch; median of {repeats} "
        f"(interleaved) after warm-up; {machine_info()}\n",
        flush=True,
    )
    print(
        "| config | input | batch (train / infer) | train steps/s (default) | train steps/s (XLA) "
        "| XLA / default (train) | inference clips/s (default) | inference clips/s (XLA) | XLA / default (infer) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.configs:
        row = bench_config(name, repeats, train_batch=args.paper_train_batch if name == "paper" else None)
        (t_def, t_xla), (i_def, i_xla) = row["train"], row["infer"]
        print(
            f"| {row['config']} | {row['input']} | {row['train_batch']} / {row['infer_batch']} "
            f"| {t_def:.2f} | {t_xla:.2f} | {t_xla / t_def:.2f}x | {i_def:.1f} | {i_xla:.1f} | {i_xla / i_def:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
