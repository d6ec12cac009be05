"""Validation runs behind the counting recipe of the CAVL reproduction (development tool, not shipped).

Trains a :class:`avcourse.models.SourceCounter` (the paper's GlobalMaxPool ->
Dense 512 -> Dense 1 -> softplus head) on ``split="fit"`` scenes with 1-4
sources and scores it on 512 ``split="validation"`` scenes (phrases no fit
scene uses, seeds from ``VALIDATION_SEED``). The test split is never read.
Prints accuracy under rounding and under the paper's mode rule (⌊λ⌋), the
MAE, the mean and spread of λ for each true count and the confusion matrix.
docs/results.md quotes its printed lines.

    python tools/counting_validation.py --scenes 8192 --epochs 10 --lr 2e-3 --schedule cosine --layer-norm --trunk T   # the recipe
    python tools/counting_validation.py --scenes 8192 --epochs 10 --lr 2e-3 --schedule cosine --layer-norm   # random trunk
    python tools/counting_validation.py --scenes 2048 --epochs 20 --lr 1e-4 --schedule constant --trunk T   # the previous recipe
    python tools/counting_validation.py --scenes 8192 --epochs 30 --lr 1e-3 --schedule cosine --freeze-trunk --pooling mean_std --trunk T

``--trunk`` starts the audio trunk from saved weights instead of random ones:
``T`` is an audio trunk pretrained as the reproduction's validation column
does it (``cavl.pretrain(recipe, 0, folder, split="fit",
held_out_split="validation", modalities=("audio",))`` writes
``folder/audio_trunk.weights.h5``; ``tools/cavl_validation.py`` caches one
too). ``--layer-norm`` puts a ``LayerNormalization`` after the pooling
(``SourceCounter(feature_norm=True)``, the recipe's; not the paper's head),
``--pooling`` chooses ``SourceCounter``'s pooling (``max`` is the paper's),
``--freeze-trunk`` trains the head only (``SourceCounter(freeze_trunk=True)``)
and ``--batch-size`` overrides the recipe's batch size. The scenes' audio is
drawn once and cached under ``--cache``.
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from avcourse.data.world import VALIDATION_SEED
from avcourse.metrics.counting import count_accuracy, count_mae
from avcourse.models import SourceCounter
from avcourse.reproduce import cavl

TRAIN_SEED = 50_000
VALIDATION_SCENES = 512


def scenes(recipe, count, seed, split, cache):
    """Spectrograms (count, bins, frames, 1) and source counts of ``count`` scenes with 1-4 sources, cached as npz."""
    path = Path(cache) / f"counting_{split}_{count}_{seed}.npz"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = cavl.scene_data(recipe, count, [1, 2, 3, 4], seed, split)
        audio = np.concatenate([np.asarray(batch["audio"]) for batch in data])
        counts = np.concatenate([np.asarray(batch["num_sources"]) for batch in data])
        np.savez(path, audio=audio, counts=counts)
    stored = np.load(path)
    return stored["audio"], stored["counts"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2048, help="training scenes (split 'fit')")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam's (initial) learning rate")
    parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"], help="cosine: decay to 0 over all steps")
    parser.add_argument("--trunk", default=None, help="audio trunk weights (.weights.h5); default random")
    parser.add_argument("--layer-norm", action="store_true", help="LayerNormalization after the pooling (SourceCounter(feature_norm=True))")
    parser.add_argument("--pooling", default="max", choices=["max", "mean_std", "max_mean_std"], help="SourceCounter(pooling=...)")
    parser.add_argument("--freeze-trunk", action="store_true", help="train the head only (SourceCounter(freeze_trunk=True))")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="counting_validation")
    args = parser.parse_args()
    import tensorflow as tf

    recipe = cavl.RECIPES["small"]
    started = time.perf_counter()
    train_audio, train_counts = scenes(recipe, args.scenes, TRAIN_SEED, "fit", args.cache)
    val_audio, val_counts = scenes(recipe, VALIDATION_SCENES, VALIDATION_SEED, "validation", args.cache)
    keras.utils.set_random_seed(args.seed)
    batch_size = args.batch_size or recipe.batch_size
    train = (tf.data.Dataset.from_tensor_slices((train_audio, train_counts.astype("float32")))
             .shuffle(len(train_counts), seed=args.seed).batch(batch_size))
    steps = args.epochs * int(np.ceil(len(train_counts) / batch_size))
    rate = keras.optimizers.schedules.CosineDecay(args.lr, steps) if args.schedule == "cosine" else args.lr
    counter = SourceCounter(recipe.audio_trunk, audio_shape=train_audio.shape[1:], audio_weights=args.trunk,
                            freeze_trunk=args.freeze_trunk, pooling=args.pooling,
                            feature_norm=args.layer_norm)
    counter.compile(optimizer=keras.optimizers.Adam(rate, clipnorm=recipe.clipnorm))
    history = counter.fit(train, epochs=args.epochs, verbose=0)
    rates = counter.predict(val_audio, batch_size=64, verbose=0)
    rounded, floored = counter.counts_from_rates(rates, "round"), counter.counts_from_rates(rates, "mode")
    print(f"scenes {args.scenes} epochs {args.epochs} lr {args.lr:g} {args.schedule} trunk {args.trunk or 'random'}"
          f"{' layer-norm' if args.layer_norm else ''} pooling {args.pooling}{' frozen' if args.freeze_trunk else ''} batch {batch_size}: accuracy round {count_accuracy(val_counts, rounded):.3f} "
          f"floor {count_accuracy(val_counts, floored):.3f} mae {count_mae(val_counts, rounded):.3f} "
          f"(final training loss {history.history['loss'][-1]:.3f}) [{time.perf_counter() - started:.0f} s]")
    for count in range(1, 5):
        chosen = val_counts == count
        predicted = np.bincount(np.minimum(rounded[chosen], 5), minlength=6)
        print(f"  {count} sources: λ {rates[chosen].mean():.2f} ± {rates[chosen].std():.2f}; rounded to 0-5: {predicted.tolist()}")


if __name__ == "__main__":
    main()
