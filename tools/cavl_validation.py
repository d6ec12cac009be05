"""Validation runs behind the CAVL reproduction's recipe (development tool, not shipped).

Pretrains the trunks on ``split="fit"`` scenes (phrases 0-7 of 16), trains
stage C1 on ``split="fit"`` one-source scenes and scores pointing, mask IoU
and the match ROC-AUC on 256 ``split="validation"`` scenes (phrases 8-11,
seeds from ``VALIDATION_SEED``), before ("zero-shot": the pretrained
classifiers' logits as projections) and after C1. The test split is never
read. docs/results.md quotes its printed lines.

    python tools/cavl_validation.py --extra 7 --lr 1e-3 --epochs 6
    python tools/cavl_validation.py --extra 7 --lr 1e-3 --epochs 6 --normalize
    python tools/cavl_validation.py --c2-lr 1e-3 1e-4    # then C2 (two-source scenes) from that C1

With ``--c2-lr`` it also trains stage C2 (4 epochs on ``split="fit"``
two-source scenes) from the C1 model at each rate, and prints one-source
pointing and where the audio centres align on two-source validation scenes
(the reproduction's ``c2_alignment``), the C1 model's first.
"""

import argparse
import dataclasses
import pickle
import time
from pathlib import Path

import keras

from avcourse.data.world import VALIDATION_SEED
from avcourse.reproduce import cavl
from avcourse.training.curriculum import curriculum_stages, run_curriculum
from avcourse.training.evaluation import match_roc_auc, object_localization_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=7, help="k_v - k_a")
    parser.add_argument("--epochs", type=int, default=6, help="C1 epochs (0: zero-shot only)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--projection-init", default="classifier", choices=["classifier", "random"])
    parser.add_argument("--normalize", action="store_true", help="spherical clustering (the recipe's default is off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="cavl_validation_pretrained.pkl", help="pretrained weights, reused when present")
    parser.add_argument("--c2-lr", type=float, nargs="*", default=[], help="train C2 from the C1 model at these rates")
    parser.add_argument("--c2-epochs", type=int, default=4)
    args = parser.parse_args()
    recipe = dataclasses.replace(
        cavl.RECIPES["small"], extra_visual_clusters=args.extra, learning_rate=args.lr,
        projection_init=args.projection_init, normalize=args.normalize,
    )
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    cache = Path(args.cache)
    if cache.is_file():
        pretrained = pickle.loads(cache.read_bytes())
    else:
        pretrained, accuracy = cavl.pretrain(recipe, args.seed, cache.with_suffix(""), split="fit", held_out_split="validation")
        print("pretraining held-out accuracy (validation):", accuracy)
        cache.write_bytes(pickle.dumps(pretrained))
    recipe = cavl.calibrate_margin(recipe, pretrained, args.seed, split="fit")
    print(f"margin {recipe.margin:.2f}")
    model = cavl.build_model(recipe, pretrained)
    validation = cavl.scene_data(recipe, 256, 1, VALIDATION_SEED, "validation", with_ground_truth=True)

    def report(tag, m):
        scores = object_localization_results(m, validation, seed=args.seed)
        rows = {k: (round(v["pointing"], 3), round(v["mask_iou"], 3)) for k, v in scores.items() if k != "sources"}
        print(tag, "pointing, mask IoU:", rows, "ROC-AUC:", round(match_roc_auc(m, validation), 3),
              f"[{time.perf_counter() - started:.0f} s]", flush=True)

    report("zero-shot", model)
    if args.epochs:
        train = cavl.scene_data(recipe, recipe.train_scenes, 1, args.seed, "fit", shuffle=recipe.train_scenes)
        stage = dataclasses.replace(curriculum_stages(1, base_learning_rate=args.lr, epochs=[args.epochs])[0],
                                    num_visual_clusters=1 + args.extra)
        result = run_curriculum(model, lambda _: train, [stage],
                                optimizer=lambda lr: keras.optimizers.Adam(lr, clipnorm=recipe.clipnorm))
        print("C1 loss per epoch:", [round(x, 4) for x in result.histories[0]["loss"]])
        report("after C1", result.model)
        two_sources = cavl.scene_data(recipe, 256, 2, VALIDATION_SEED, "validation", with_ground_truth=True)
        pairs = cavl.scene_data(recipe, recipe.train_scenes, 2, args.seed, "fit", shuffle=recipe.train_scenes)

        def alignment(tag, m):
            shares = cavl.alignment_targets(m.with_num_clusters(2, 2 + args.extra), two_sources)
            print(tag, "two-source alignment:", {k: round(v, 3) for k, v in shares.items()}, flush=True)

        alignment("after C1", result.model)
        for rate in args.c2_lr:
            stage = dataclasses.replace(curriculum_stages(2, base_learning_rate=rate, decay=1.0, epochs=[1, args.c2_epochs])[1],
                                        num_visual_clusters=2 + args.extra)
            c2 = run_curriculum(result.model, lambda _: pairs, [stage],
                                optimizer=lambda lr: keras.optimizers.Adam(lr, clipnorm=recipe.clipnorm)).model
            report(f"after C2 at {rate}", c2.with_num_clusters(1, 1 + args.extra))
            alignment(f"after C2 at {rate}", c2)


if __name__ == "__main__":
    main()
