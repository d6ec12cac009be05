"""Validation runs behind the CCoL reproduction's recipe (development tool, not shipped).

Runs :func:`avcourse.reproduce.ccol.run` with ``held_out="validation"``: the
nets are pretrained and every stage trains on ``split="fit"`` phrases, and
the tables are scored on ``split="validation"`` samples (seeds from
``VALIDATION_SEED``). The test split is never read. Recipe fields are
overridden with ``--set field=value`` (Python literals); ``--warmup-only``
stops after the grounding warm-up and prints its held-out grounding accuracy.

    python tools/ccol_validation.py --seed 0                          # the recipe
    python tools/ccol_validation.py --warmup-only --set freeze_audio_net=False
    python tools/ccol_validation.py --set train_samples=512 --set "epochs=(6, 4, 3)" --out runs/a.json

Pretrained weights are cached under ``--cache`` (keyed by the pretraining
settings and the seed) so that runs that differ only after pretraining
share them.
"""

import argparse
import ast
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import keras

from avcourse.reproduce import ccol
from avcourse.reproduce.tables import markdown_table
from avcourse.training import ccol as ccol_training
from avcourse.training.curriculum import run_curriculum

PRETRAINING_FIELDS = (
    "image_size", "crop_size", "clip_seconds", "num_warped_bins", "audio_net", "audio_pool", "object_pretrain_samples",
    "object_pretrain_epochs", "audio_pretrain_clips", "audio_pretrain_sources", "audio_pretrain_epochs", "pretrain_learning_rate", "batch_size",
    "test_samples",
)


def _nets(model):
    return {"audio_net": model.audio_net, "object_net": model.object_net, "separation_object_net": model.separator.object_net}


def cached_pretraining(cache):
    """A drop-in for ccol.pretrained_model that reuses pretrained weights from ``cache``."""
    original = ccol.pretrained_model

    def pretrained_model(recipe, seed=0, split="train", held_out_split="test", log=print):
        key = json.dumps([getattr(recipe, f) for f in PRETRAINING_FIELDS] + [seed, split, held_out_split], default=str)
        folder = Path(cache) / hashlib.sha1(key.encode()).hexdigest()[:12]
        if (folder / "accuracies.json").is_file():
            model = ccol.CCoLModel(stage="grounding", seed=seed, **recipe.model_config())
            model.build()
            for name, net in _nets(model).items():
                net.load_weights(folder / f"{name}.weights.h5")
            accuracies = json.loads((folder / "accuracies.json").read_text())
            log(f"[ccol] pretrained nets from {folder}: {accuracies}")
            return model, accuracies
        model, accuracies = original(recipe, seed, split, held_out_split, log=log)
        folder.mkdir(parents=True, exist_ok=True)
        for name, net in _nets(model).items():
            net.save_weights(folder / f"{name}.weights.h5")
        (folder / "accuracies.json").write_text(json.dumps(accuracies))
        return model, accuracies

    return pretrained_model


def warmup_only(recipe, seed):
    """Pretraining and the grounding warm-up only; the warm-up's accuracy on validation samples (and training ones)."""
    split, held_split, held_seed = ccol.HELD_OUT["validation"]
    keras.utils.set_random_seed(seed)
    model, pretraining = ccol.pretrained_model(recipe, seed, split, held_split)
    train = ccol.samples(recipe, recipe.train_samples, ccol.TRAIN_SEED + seed, split, batch_size=recipe.batch_size,
                         shuffle=recipe.train_samples)
    held = ccol_training.collect(ccol.samples(recipe, recipe.test_samples, held_seed, held_split, batch_size=None, cache=False))
    seen = ccol_training.collect(ccol.samples(recipe, recipe.test_samples, ccol.TRAIN_SEED + seed, split, batch_size=None,
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", choices=sorted(ccol.RECIPES))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a recipe field")
    parser.add_argument("--warmup-only", action="store_true")
    parser.add_argument("--cache", default="ccol_validation", help="folder of pretrained weights")
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
