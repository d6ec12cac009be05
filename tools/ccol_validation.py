"""Validation runs behind the CCoL reproduction's recipe (development tool, not shipped).

Runs :func:`avcourse.reproduce.ccol.run` with ``held_out="validation"``: the
nets are pretrained and every stage trains on ``split="fit"`` phrases, and
the tables are scored on ``split="validation"`` samples (seeds from
``VALIDATION_SEED``). The test split is never read. Recipe fields are
overridden with ``--set field=value`` (Python literals); ``--warmup-only``
stops after the grounding warm-up and prints its held-out grounding accuracy;
``--curve`` runs the warm-up, co-learning and the cyclic stage (no other
branch) and scores held-out grounding after every epoch: accuracy, the share
of sounding and of silent objects judged right, how often a video's sounding
object outranks its silent one, and, with the mixture, the share of sounding
objects found, by their sound's share of the mixture's energy on the network's
grid; with ``--equal-loudness`` the curve also scores the same validation
samples with the two sounds of each mixture equally loud (``ccol_dataset(...,
random_gain=False)``), to measure what a quiet source costs.

    python tools/ccol_validation.py --seed 0                          # the recipe
    python tools/ccol_validation.py --warmup-only --set freeze_audio_net=False
    python tools/ccol_validation.py --set train_samples=512 --set "epochs=(6, 4, 3)" --out runs/a.json
    python tools/ccol_validation.py --curve --set "epochs=(8, 6, 8)"  # docs/results.md, mixed-sound grounding
    python tools/ccol_validation.py --curve --equal-loudness --set train_samples=2048 --set "epochs=(4, 3, 2)"

Pretrained models are cached under ``--cache`` (keyed by the pretraining
settings, the seed and the code, :mod:`avcourse.reproduce.cache`) so that
runs that differ only after pretraining share them and give what a run that
pretrains would.
"""

import argparse
import ast
import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

from avcourse.reproduce import cache as reproduction_cache
from avcourse.reproduce import ccol
from avcourse.reproduce.tables import markdown_table
from avcourse.training import ccol as ccol_training
from avcourse.training.curriculum import run_curriculum

PRETRAINING_FIELDS = (
    "image_size", "crop_size", "clip_seconds", "num_warped_bins", "audio_net", "audio_pool", "object_pretrain_samples",
    "object_pretrain_epochs", "audio_pretrain_clips", "audio_pretrain_sources", "audio_pretrain_epochs", "pretrain_learning_rate", "batch_size",
    "test_samples",
)


def cached_pretraining(cache):
    """A drop-in for ccol.pretrained_model that keeps pretrained models in ``cache`` (:func:`avcourse.reproduce.cache.memoize`).

    The cache restores the random state the pretraining left, and the model
    built for a read draws nothing from it, so a run that reads the model
    trains and scores as one that pretrains it (and as ``ccol.run`` alone).
    """
    original = ccol.pretrained_model

    def pretrained_model(recipe, seed=0, split="train", held_out_split="test", log=print):
        key = {"recipe": {field: getattr(recipe, field) for field in PRETRAINING_FIELDS}, "seed": seed, "split": split,
               "held_out_split": held_out_split}
        computed = []  # the model a computing call pretrained, returned as is (rebuilding it would draw numbers)

        def compute(folder):
            model, accuracies = original(recipe, seed, split, held_out_split, log=log)
            weights = str(Path(folder) / "model.weights.h5")
            model.save_weights(weights)
            computed.append(model)
            return {"accuracies": accuracies, "weights": weights}

        with reproduction_cache.directory(cache):
            stored = reproduction_cache.memoize("ccol-validation-pretrain", key, compute, None, log=log)
        if computed:
            return computed[0], stored["accuracies"]
        state = reproduction_cache.random_state()
        model = ccol.CCoLModel(stage="grounding", seed=seed, **recipe.model_config())
        model.build()
        model.load_weights(stored["weights"])
        reproduction_cache.set_random_state(state)  # building the model drew numbers a computed pretraining does not
        return model, stored["accuracies"]

    return pretrained_model


FIT_SPLIT, VALIDATION_SPLIT, VALIDATION_SEED = ccol.HELD_OUT["validation"]


def validation_samples(recipe, **kwargs):
    """The validation samples every run scores, collected (``kwargs`` for :func:`avcourse.reproduce.ccol.samples`)."""
    return ccol_training.collect(ccol.samples(recipe, recipe.test_samples, VALIDATION_SEED, VALIDATION_SPLIT, batch_size=None,
                                              cache=False, **kwargs))


def _setup(recipe, seed):
    """The pretrained model, its held-out accuracies, the ``"fit"`` training samples and the validation samples."""
    keras.utils.set_random_seed(seed)
    model, pretraining = ccol.pretrained_model(recipe, seed, FIT_SPLIT, VALIDATION_SPLIT)
    train = ccol.samples(recipe, recipe.train_samples, ccol.TRAIN_SEED + seed, FIT_SPLIT, batch_size=recipe.batch_size,
                         shuffle=recipe.train_samples)
    return model, pretraining, train, validation_samples(recipe)


def warmup_only(recipe, seed):
    """Pretraining and the grounding warm-up only; the warm-up's accuracy on validation samples (and training ones)."""
    model, pretraining, train, held = _setup(recipe, seed)
    seen = ccol_training.collect(ccol.samples(recipe, recipe.test_samples, ccol.TRAIN_SEED + seed, FIT_SPLIT, batch_size=None,
                                              cache=False))
    epochs, rate = recipe.epochs[0], recipe.learning_rates[0]
    stages = ccol_training.ccol_stages((epochs,), learning_rates=(rate,), learning_rate_steps=(ccol.decay_steps(epochs),),
                                       variants=("grounding",))
    result = run_curriculum(model, lambda stage: train, stages)
    return {
        "pretraining": pretraining,
        "loss": [round(v, 4) for v in result.histories[0]["loss"]],
        "validation": ccol_training.grounding_accuracy(result.model, held, recipe.batch_size),
        "training samples": ccol_training.grounding_accuracy(result.model, seen, recipe.batch_size),
    }


ENERGY_SHARE_BINS = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)


def grounding_breakdown(model, held, batch_size):
    """Held-out grounding of ``model`` with each video's own sound and with the mixture, broken down.

    Per sound: ``accuracy``, ``sounding`` and ``silent`` (the share of sounding and
    of silent objects judged right), ``ranked`` (how often a video's sounding
    object scores above its silent one); for the mixture also ``found_by_share``,
    the share of sounding objects judged sounding per bin of ENERGY_SHARE_BINS
    of their sound's share of the mixture's energy.
    """
    # Each video's share of the mixture's energy on the grid the audio net reads (warped magnitudes squared).
    energy = np.sum(np.asarray(held["source_magnitudes"], "float64") ** 2, axis=(-2, -1))  # (samples, 2)
    share = energy / np.sum(energy, axis=-1, keepdims=True)
    outputs = ccol_training.predict(model, held, batch_size)
    truth = np.asarray(held["sounding"]).reshape(-1, 2, 2) > 0.5
    accuracy = ccol_training.grounding_accuracy(None, held, outputs=outputs)
    row = {}
    for key, name in (("solo_scores", "single"), ("mixture_scores", "mixed")):
        probability = outputs[key][..., 0]
        judged = probability > 0.5
        row[name] = {
            "accuracy": accuracy[name],
            "sounding": float(np.mean(judged[truth])),
            "silent": float(np.mean(~judged[~truth])),
            "ranked": float(np.mean(probability[truth] > probability[~truth])),
        }
    found = (outputs["mixture_scores"][..., 0] > 0.5)[truth].reshape(-1, 2)  # is video v's sounding object found in the mixture?
    edges = np.array(ENERGY_SHARE_BINS)
    which = np.clip(np.searchsorted(edges, share, side="right") - 1, 0, len(edges) - 2)
    row["mixed"]["found_by_share"] = {
        f"{edges[b]:.2f}-{edges[b + 1]:.2f}": [int(np.sum(which == b)), float(np.mean(found[which == b])) if np.any(which == b) else None]
        for b in range(len(edges) - 1)
    }
    return row


def grounding_curve(recipe, seed, equal_loudness=False):
    """The warm-up, co-learning and cyclic stages on ``"fit"`` samples; :func:`grounding_breakdown` after every epoch.

    ``equal_loudness``: also the breakdown on the same validation samples
    mixed at equal loudness (key ``"equal loudness"`` of each row).
    """
    model, pretraining, train, held = _setup(recipe, seed)
    levelled = validation_samples(recipe, random_gain=False) if equal_loudness else None
    rows = []

    class EveryEpoch(keras.callbacks.Callback):
        def __init__(self, stage):
            super().__init__()
            self.stage = stage

        def on_epoch_end(self, epoch, logs=None):
            rows.append({"epoch": f"{self.stage} {epoch + 1}", **grounding_breakdown(self.model, held, recipe.batch_size)})
            if levelled is not None:
                rows[-1]["equal loudness"] = grounding_breakdown(self.model, levelled, recipe.batch_size)["mixed"]
            print(json.dumps(rows[-1]), flush=True)

    for variant, epochs, rate in zip(("grounding", "colearn", "cyclic"), recipe.epochs, recipe.learning_rates):
        stages = ccol_training.ccol_stages((epochs,), learning_rates=(rate,), learning_rate_steps=(ccol.decay_steps(epochs),),
                                           variants=(variant,))
        model = run_curriculum(model, lambda stage: train, stages, callbacks=[EveryEpoch(variant)]).model
    table = [["epoch", "single", "mixed", "mixed: sounding", "mixed: silent", "mixed: ranked"]]
    table += [[r["epoch"], r["single"]["accuracy"], r["mixed"]["accuracy"], r["mixed"]["sounding"], r["mixed"]["silent"],
               r["mixed"]["ranked"]] for r in rows]
    if equal_loudness:
        table[0] += ["equal loudness: mixed", "sounding", "silent"]
        for line, r in zip(table[1:], rows):
            line += [r["equal loudness"]["accuracy"], r["equal loudness"]["sounding"], r["equal loudness"]["silent"]]
    return {"pretraining": pretraining, "curve": rows, "table": table}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", choices=sorted(ccol.RECIPES))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a recipe field")
    parser.add_argument("--warmup-only", action="store_true")
    parser.add_argument("--curve", action="store_true", help="held-out grounding after every epoch (no other branch)")
    parser.add_argument("--equal-loudness", action="store_true",
                        help="with --curve, also score the validation samples mixed at equal loudness")
    parser.add_argument("--cache", default="ccol_validation", help="folder of pretrained models")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        field, _, value = item.partition("=")
        try:
            overrides[field] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[field] = value
    recipe = dataclasses.replace(ccol.RECIPES[args.size], **overrides)
    ccol.pretrained_model = cached_pretraining(args.cache)
    started = time.perf_counter()
    print(f"recipe: {dataclasses.asdict(recipe)}", flush=True)
    if args.warmup_only:
        result = warmup_only(recipe, args.seed)
        print(json.dumps(result, indent=1))
    elif args.curve:
        result = grounding_curve(recipe, args.seed, equal_loudness=args.equal_loudness)
        print(markdown_table(result["table"]))
    else:
        result = ccol.run(seed=args.seed, held_out="validation", recipe=recipe, log=lambda m: print(m, flush=True))
        for name in ("grounding", "separation", "cycle"):
            print(f"\n{name}\n{markdown_table(result[name])}")
        print("pretraining", result["pretraining"], "| warm-up", result["warmup"])
    result["seconds"] = time.perf_counter() - started
    print(f"{result['seconds']:.0f} s")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"overrides": overrides, "seed": args.seed, **result}, default=str, indent=1))


if __name__ == "__main__":
    main()
