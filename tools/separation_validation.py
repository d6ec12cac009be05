"""Validation runs behind the separation reproduction's recipe (development tool, not shipped).

Trains the oracle-box separator (one-hot instrument identity as the visual
vector, :mod:`avcourse.reproduce.separation`) on ``split="fit"`` two-source
mixtures (seeds from ``SEPARATION_TRAIN_SEED + seed``) and scores it with
BSS-eval on ``split="validation"`` mixtures (phrases no ``"fit"`` mixture
plays, seeds from ``VALIDATION_SEED``), next to the ideal ratio mask on the
separator's grid (its ceiling). The test split is never read. The recipe's
docstring (``SeparationRecipe``) quotes the printed lines.

    python tools/separation_validation.py --grid-only --rows 64 128 256   # the grid's ceiling only
    python tools/separation_validation.py --baselines                    # + NMF, IRM/IBM 512, mixture
    python tools/separation_validation.py --mask-type ratio --unweighted  # CAVL's Eq 8
    python tools/separation_validation.py --train-mixtures 4096 --epochs 10  # the small recipe (masks normalised)
    python tools/separation_validation.py --raw-masks --train-mixtures 2048 --epochs 20  # the recipe before it
    python tools/separation_validation.py --depth 5 --base-channels 32 --epochs 8 --score-epochs 2 4 6

Every setting defaults to the ``"small"`` recipe's; ``--train-mixtures`` and
``--epochs`` default to smaller values so that one run takes minutes.
``--cache DIR`` keeps the drawn mixtures (``.npz``) for the next runs.
"""

import argparse
import dataclasses
import time
from pathlib import Path

import keras
import numpy as np

from avcourse.data.world import SEPARATION_TRAIN_SEED, VALIDATION_SEED
from avcourse.reproduce import separation


def _mixtures(recipe, count, seed, split, with_waveforms, cache):
    """:func:`separation.mixtures` without pictures (the oracle reads none), cached as ``.npz`` under ``cache``."""
    name = f"{split}_{count}_{seed}_{recipe.warped_bins}rows_{recipe.clip_seconds:g}s{'_wave' if with_waveforms else ''}.npz"
    path = None if cache is None else Path(cache) / name
    if path is not None and path.is_file():
        with np.load(path) as stored:
            return dict(stored)
    data = separation.mixtures(recipe, count, seed, split, with_waveforms=with_waveforms, image_size=8)
    data.pop("images")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **data)
    return data


def _line(label, scores):
    return f"{label}: SDR {scores['sdr']:.2f} SIR {scores['sir']:.2f} SAR {scores['sar']:.2f} dB"


class _ScoreAfter(keras.callbacks.Callback):
    """Scores the separator on the validation mixtures after the given epochs (a learning curve from one run)."""

    def __init__(self, epochs, evaluate):
        super().__init__()
        self.epochs, self.evaluate = set(epochs), evaluate

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.evaluate(self.model, f"after epoch {epoch + 1}, training loss {logs['loss']:.4f}")


def main():
    small = separation.RECIPES["small"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[small.warped_bins], help="warped rows of the separator's grid")
    parser.add_argument("--clip-seconds", type=float, default=small.clip_seconds)
    parser.add_argument("--train-mixtures", type=int, default=512, help="fit mixtures (the recipe: %d)" % small.train_mixtures)
    parser.add_argument("--validation-mixtures", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=8, help="(the recipe: %d)" % small.epochs)
    parser.add_argument("--score-epochs", type=int, nargs="*", default=[], help="also score after these epochs")
    parser.add_argument("--batch-size", type=int, default=small.batch_size)
    parser.add_argument("--lr", type=float, default=small.learning_rate)
    parser.add_argument("--depth", type=int, default=small.depth)
    parser.add_argument("--base-channels", type=int, default=small.base_channels)
    parser.add_argument("--visual-units", type=int, default=small.visual_units)
    parser.add_argument("--mask-type", default=small.mask_type, choices=["ratio", "binary"])
    weighting = parser.add_mutually_exclusive_group()
    weighting.add_argument("--weighted", dest="weighted", action="store_true", default=small.weighted,
                           help="log1p(|S_mix|) weighting of the mask loss")
    weighting.add_argument("--unweighted", dest="weighted", action="store_false")
    normalising = parser.add_mutually_exclusive_group()
    normalising.add_argument("--normalize-masks", dest="normalize_masks", action="store_true", default=small.normalize_masks,
                             help="divide a mixture's masks by their sum in every bin, in training and at inference")
    normalising.add_argument("--raw-masks", dest="normalize_masks", action="store_false")
    parser.add_argument("--grid-only", action="store_true", help="print the grid IRM (and --baselines) and stop")
    parser.add_argument("--baselines", action="store_true", help="also NMF, the 512-bin ideal masks and the mixture")
    parser.add_argument("--seed", type=int, default=0, help="training seed (fit mixtures from SEPARATION_TRAIN_SEED + seed)")
    parser.add_argument("--cache", default=None, help="folder for the drawn mixtures (.npz), reused when present")
    args = parser.parse_args()

    for rows in args.rows:
        recipe = dataclasses.replace(
            small,
            train_mixtures=args.train_mixtures,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            depth=args.depth,
            base_channels=args.base_channels,
            visual_units=args.visual_units,
            mask_type=args.mask_type,
            weighted=args.weighted,
            normalize_masks=args.normalize_masks,
            warped_bins=rows,
            clip_seconds=args.clip_seconds,
        )
        started = time.perf_counter()
        validation = _mixtures(recipe, args.validation_mixtures, VALIDATION_SEED, "validation", True, args.cache)
        references = validation["source_waveforms"]
        where = f"{args.validation_mixtures} validation mixtures, {args.clip_seconds:g} s, {rows} rows"
        names = None if args.baselines else ["grid IRM"]
        baselines = separation.baseline_estimates(recipe, validation, args.seed, names=names)
        for name, (outputs, permute) in baselines.items():
            print(_line(f"{name} ({where})", separation.score(references, outputs, permute)), flush=True)
        if args.grid_only:
            continue

        train = _mixtures(recipe, args.train_mixtures, SEPARATION_TRAIN_SEED + args.seed, "fit", False, args.cache)
        label = (f"oracle-box {recipe.mask_type}{' weighted' if recipe.weighted else ''}"
                 f"{', masks normalised' if recipe.normalize_masks else ''}, depth {recipe.depth}, "
                 f"base {recipe.base_channels}, {args.train_mixtures} fit mixtures, bs {recipe.batch_size}, lr {recipe.learning_rate:g}")

        def evaluate(model, when):
            outputs = separation.separate_mixtures(recipe, model, validation)
            line = _line(f"{label}, {when} ({where})", separation.score(references, outputs))
            print(f"{line} [{time.perf_counter() - started:.0f} s]", flush=True)

        callbacks = [_ScoreAfter([e for e in args.score_epochs if e < args.epochs], evaluate)]
        trained = time.perf_counter()
        model, loss = separation.train_separator(recipe, "oracle-box", train, None, args.seed, callbacks=callbacks)
        seconds = time.perf_counter() - trained
        evaluate(model, f"{args.epochs} epochs, training loss {loss:.4f}, {seconds:.0f} s of training")


if __name__ == "__main__":
    main()
