"""Validation runs behind the CAVL reproduction's recipe (development tool, not shipped).

Pretrains the trunks on ``split="fit"`` scenes (phrases 0-7 of 16), trains
stage C1 on ``split="fit"`` one-source scenes and scores pointing, mask IoU
and the match ROC-AUC on 256 ``split="validation"`` scenes (phrases 8-11,
seeds from ``VALIDATION_SEED``), before ("zero-shot": the pretrained
classifiers' logits as projections) and after C1. The test split is never
read. docs/results.md quotes its printed lines.

    python tools/cavl_validation.py --seed 0            # the recipe's choices
    python tools/cavl_validation.py --seed 0 --freeze-audio never --no-centre --softmax-audio
    python tools/cavl_validation.py --c2-lr 1e-3 1e-4    # then C2 (two-source scenes) from that C1
    python tools/cavl_validation.py --curriculum         # Fig. 4b: ROC-AUC on three-source scenes a stage
    python tools/cavl_validation.py --visual-pooling average   # the visual classifier pretrained with an average pool
    python tools/cavl_validation.py --mask-iou-references      # maps made from the true masks: what the metric allows
    python tools/cavl_validation.py --extent-probe             # probes trained with the masks on the frozen trunk
    python tools/cavl_validation.py --pixel-scoring            # + the C1 heatmap scored against the pixel masks

With ``--extent-probe`` it trains per-cell probes of the frozen visual
trunk's features *with* the true masks (linear and one hidden layer) and
prints their mask IoU: whether the features hold the object's extent at all.

Every run first prints how well the pretrained visual classifier's own logit
map for the sounding instrument points at it and covers it (mask IoU): the
bound on what a heatmap read from the frozen trunk can mark.

With ``--c2-lr`` it also trains stage C2 (4 epochs on ``split="fit"``
two-source scenes) from the C1 model at each rate, and prints one-source
pointing and where the audio centres align on two-source validation scenes
(the reproduction's ``c2_alignment``), the C1 model's first.

With ``--curriculum`` it trains the recipe's C1 -> C2 -> C3 schedule and the
reproduction's other C3 starts, and prints the match ROC-AUC and per-source
pointing on 256 three-source validation scenes after every stage and for
every start: the pretrained model untrained, the curriculum after C1, C2 and
C3, C3 trained from the pretrained trunks for as many epochs as the
curriculum's C3 (at its rate and at the base rate) and for all the
curriculum's epochs, mixed 1-3 sources for all of them, and C3 from the
curriculum's C2 model at the base rate for C3's epochs and for all of them.
"""

import argparse
import dataclasses
import pickle
import time
from pathlib import Path

import keras
import numpy as np

from avcourse.data import world
from avcourse.data.world import VALIDATION_SEED
from avcourse.metrics import mask_iou, mask_to_grid, pointing_hit, resize_heatmap
from avcourse.reproduce import cavl
from avcourse.training.curriculum import curriculum_stages, no_curriculum_stage
from avcourse.training.evaluation import match_roc_auc, object_localization_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=7, help="k_v - k_a")
    parser.add_argument("--epochs", type=int, default=6, help="C1 epochs (0: zero-shot only)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--projection-init", default="classifier", choices=["classifier", "random"])
    parser.add_argument("--normalize", action="store_true", help="spherical clustering (the recipe's default is off)")
    parser.add_argument("--no-centre", action="store_true", help="projections from the raw logits layers, not centred")
    parser.add_argument("--softmax-audio", action="store_true", help="pretrain the audio trunk with a softmax, not a sigmoid a class")
    parser.add_argument("--freeze-audio", default="c1", choices=["never", "c1", "always"], help="stages with a frozen audio trunk")
    parser.add_argument("--stiffness", type=float, default=None, help="soft k-means beta (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="pretraining and C1 seed")
    parser.add_argument("--cache", default="cavl_validation", help="folder of pretrained weights, reused when present")
    parser.add_argument("--c2-lr", type=float, nargs="*", default=[], help="train C2 from the C1 model at these rates")
    parser.add_argument("--c2-epochs", type=int, default=4)
    parser.add_argument("--fixed-margin", action="store_true", help="C2 keeps C1's margin instead of k_a times it")
    parser.add_argument("--visual-pooling", default="max", choices=["max", "average"],
                        help="the visual classifier's pooling in pretraining (recipe.visual_pretrain_pooling)")
    parser.add_argument("--curriculum", action="store_true", help="Fig. 4b: three-source ROC-AUC after each stage and start")
    parser.add_argument("--c2-freeze-audio", default="c1", choices=["c1", "always"], help="'always': C2 keeps the audio trunk frozen")
    parser.add_argument("--mask-iou-references", action="store_true",
                        help="mask IoU of maps made from the true masks (no training) and stop")
    parser.add_argument("--pixel-scoring", action="store_true",
                        help="after C1, also score the aligned heatmap upsampled against the pixel masks")
    parser.add_argument("--extent-probe", action="store_true",
                        help="supervised per-cell probes of the frozen visual trunk's features (the bound on mask IoU) and stop")
    args = parser.parse_args()
    recipe = dataclasses.replace(
        cavl.RECIPES["small"], extra_visual_clusters=args.extra, learning_rate=args.lr,
        projection_init=args.projection_init, normalize=args.normalize, centre_projection=not args.no_centre,
        audio_multi_label=not args.softmax_audio, stiffness=args.stiffness or cavl.RECIPES["small"].stiffness, freeze_audio_trunk=args.freeze_audio,
        visual_pretrain_pooling=args.visual_pooling,
    )
    if args.mask_iou_references:
        mask_iou_references(recipe)
        return
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    pooling = "" if args.visual_pooling == "max" else f"_{args.visual_pooling}_visual"
    cache = Path(args.cache) / f"{'softmax' if args.softmax_audio else 'sigmoid'}_audio{pooling}_seed{args.seed}"
    if (cache / "pretrained.pkl").is_file():
        pretrained = pickle.loads((cache / "pretrained.pkl").read_bytes())
    else:
        pretrained, accuracy = cavl.pretrain(recipe, args.seed, cache, split="fit", held_out_split="validation")
        print("pretraining held-out accuracy (validation):", accuracy)
        (cache / "pretrained.pkl").write_bytes(pickle.dumps(pretrained))
    recipe = cavl.calibrate_margin(recipe, pretrained, args.seed, split="fit")
    print(f"margin {recipe.margin:.2f}")
    model = cavl.build_model(recipe, pretrained)
    validation = cavl.scene_data(recipe, 256, 1, VALIDATION_SEED, "validation", with_ground_truth=True)

    def report(tag, m):
        scores = object_localization_results(m, validation, seed=args.seed)
        rows = {k: (round(v["pointing"], 3), round(v["mask_iou"], 3)) for k, v in scores.items() if k != "sources"}
        print(tag, "pointing, mask IoU:", rows, "ROC-AUC:", round(match_roc_auc(m, validation), 3),
              f"[{time.perf_counter() - started:.0f} s]", flush=True)

    if args.curriculum:
        curriculum_starts(recipe, pretrained, args.seed, started)
        return
    class_map_extent(model, pretrained, recipe, args.seed)
    if args.extent_probe:
        extent_probe(model, recipe, args.seed)
        return
    report("zero-shot", model)
    if args.epochs:
        c1_recipe = dataclasses.replace(recipe, epochs_per_stage=(args.epochs,) + recipe.epochs_per_stage[1:])
        result = cavl.train_stages(c1_recipe, cavl.c1_stage(c1_recipe), args.seed, model, split="fit")
        print("C1 loss per epoch:", [round(x, 4) for x in result.histories[0]["loss"]])
        report("after C1", result.model)
        if args.pixel_scoring:
            pixel_mask_iou("after C1", result.model, validation)
        two_sources = cavl.scene_data(recipe, 256, 2, VALIDATION_SEED, "validation", with_ground_truth=True)

        def alignment(tag, m):
            shares = cavl.alignment_targets(m.with_num_clusters(2, 2 + args.extra), two_sources)
            print(tag, "two-source alignment:", {k: round(v, 3) for k, v in shares.items()}, flush=True)

        alignment("after C1", result.model)
        for rate in args.c2_lr:
            stage = curriculum_stages(2, base_learning_rate=rate, decay=1.0, epochs=[1, args.c2_epochs])[1:]
            c2_recipe = dataclasses.replace(recipe, freeze_audio_trunk=args.c2_freeze_audio, margin_per_source=not args.fixed_margin)
            c2 = cavl.train_stages(c2_recipe, stage, args.seed,
                                   result.model, split="fit").model
            report(f"after C2 at {rate}", c2.with_num_clusters(1, 1 + args.extra))
            alignment(f"after C2 at {rate}", c2)


def class_map_extent(model, pretrained, recipe, seed):
    """Pointing and mask IoU of the pretrained visual classifier's own logit map for the sounding instrument.

    No CAVL heatmap read from the frozen trunk through the class axes can mark
    the object's extent better than the classifier's map for the right class.
    """
    kernel, bias = pretrained["image_logits"]
    scenes = cavl.scene_data(recipe, 256, 1, VALIDATION_SEED, "validation", with_ground_truth=True, with_labels=True)
    hits, overlaps = [], []
    for batch in scenes:
        logits = np.asarray(model.visual_trunk(batch["image"], training=False)) @ kernel + bias
        masks = np.asarray(batch["object_masks"]) > 0.5
        sounding = np.asarray(batch["object_sounding"]) > 0.5
        for index, label in enumerate(np.asarray(batch["labels"]).argmax(axis=-1)):
            grid = mask_to_grid(masks[index][np.argmax(sounding[index])], logits.shape[1:3])
            hits.append(pointing_hit(logits[index, ..., label], grid))
            overlaps.append(mask_iou(logits[index, ..., label], grid))
    print(f"the visual classifier's map of the sounding class: pointing {np.mean(hits):.3f}, mask IoU {np.mean(overlaps):.3f}",
          flush=True)


def pixel_mask_iou(tag, model, scenes):
    """Mask IoU of the aligned heatmap brought to the picture (bilinear and nearest) against the pixel mask."""
    scores = {"bilinear": [], "nearest": []}
    for batch in scenes:
        maps = model.localization_maps(batch, aligned=True)
        masks = np.asarray(batch["object_masks"]) > 0.5
        sounding = np.asarray(batch["object_sounding"]) > 0.5
        for index, heatmap in enumerate(maps):
            mask = masks[index][np.argmax(sounding[index])]
            cell = mask.shape[0] // heatmap.shape[0]
            scores["bilinear"].append(mask_iou(resize_heatmap(heatmap, mask.shape), mask))
            scores["nearest"].append(mask_iou(np.kron(heatmap, np.ones((cell, cell))), mask))
    print(tag, "aligned heatmap against the pixel mask, mask IoU:",
          {name: round(float(np.mean(values)), 3) for name, values in scores.items()}, flush=True)


def mask_iou_references(recipe, scenes=256):
    """Mask IoU of maps made from the sounding object's true pixels, on the grid and at pixel resolution.

    What the yardstick allows: ``object_localization_results`` scores a
    16 x 16 heatmap against the cells the object touches. A map that grades
    each cell by the share of it the object covers (perfect pixel knowledge
    brought to the grid), the cells at least half covered and the object's
    exact box are scored there and, upsampled, against the pixel mask.
    """
    image_size, grid = recipe.image_size, 16
    cell = image_size // grid

    def upsample(cells):
        return np.kron(cells.astype(float), np.ones((cell, cell)))

    scores = {}
    for index in range(scenes):
        scene = world.make_scene(1, VALIDATION_SEED + index, image_size=image_size, config=recipe.audio_config,
                                 split="validation")
        mask = scene.sounding_masks[0]
        touched = mask_to_grid(mask, grid)
        coverage = mask.reshape(grid, cell, grid, cell).mean(axis=(1, 3))
        rows, cols = np.nonzero(mask)
        box = np.zeros(mask.shape, bool)
        box[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1] = True
        for name, value in (
            ("coverage share of each cell, on the cells", mask_iou(coverage, touched)),
            ("cells at least half covered, on the cells", mask_iou((coverage >= 0.5).astype(float), touched)),
            ("exact box, on the cells", mask_iou(mask_to_grid(box, grid).astype(float), touched)),
            ("touched cells, on the pixels", mask_iou(upsample(touched), mask)),
            ("cells at least half covered, on the pixels", mask_iou(upsample(coverage >= 0.5), mask)),
            ("coverage share upsampled bilinearly, on the pixels", mask_iou(resize_heatmap(coverage, mask.shape), mask)),
            ("exact box, on the pixels", mask_iou(box.astype(float), mask)),
        ):
            scores.setdefault(name, []).append(value)
    for name, values in scores.items():
        print(f"mask IoU of the sounding object's {name}: {np.mean(values):.3f}", flush=True)


def extent_probe(model, recipe, seed, train_scenes=1024, test_scenes=256):
    """Mask IoU of per-cell probes trained *with* the object masks on the frozen visual trunk's features.

    Each probe maps one cell's features to, for every instrument, "this cell
    touches an object of that instrument" (the grid cells that
    ``object_localization_results`` scores), trained on ``split="fit"``
    scenes with every object's true mask; it is scored like the CAVL heatmap,
    with its map for the sounding instrument, on the validation scenes. A
    linear probe bounds any heatmap that the trunk's features give through a
    linear read-out (CAVL's projection and distances); the one-hidden-layer
    probe asks whether the extent is in the features at all.
    """
    instruments = world.instrument_names()

    def cells(first_seed, count, split):
        features, targets, sounding = [], [], []
        for index in range(count):
            scene = world.make_scene(1, first_seed + index, image_size=recipe.image_size, config=recipe.audio_config,
                                     split=split)
            image = scene.image[None].astype("float32") / 255.0
            feature_map = np.asarray(model.visual_trunk(image, training=False))[0]
            size = feature_map.shape[:2]
            target = np.zeros(size + (len(instruments),), "float32")
            for mask, label in zip(scene.object_masks, scene.labels):
                if label in instruments:
                    target[..., instruments.index(label)] = np.maximum(
                        target[..., instruments.index(label)], mask_to_grid(mask, size))
            features.append(feature_map)
            targets.append(target)
            sounding.append((instruments.index(scene.source_labels[0]),
                             mask_to_grid(scene.sounding_masks[0], size)))
        return np.stack(features), np.stack(targets), sounding

    fit_x, fit_y, _ = cells(50_000 + seed, train_scenes, "fit")
    test_x, _, test_sounding = cells(VALIDATION_SEED, test_scenes, "validation")
    channels = fit_x.shape[-1]
    for name, hidden in (("linear", []), ("one hidden layer (128 ReLU)", [128])):
        keras.utils.set_random_seed(seed)
        probe = keras.Sequential([keras.Input((channels,))] + [keras.layers.Dense(units, activation="relu") for units in hidden]
                                 + [keras.layers.Dense(len(instruments), activation="sigmoid")])
        probe.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        probe.fit(fit_x.reshape(-1, channels), fit_y.reshape(-1, len(instruments)), batch_size=256, epochs=10, verbose=0)
        maps = probe.predict(test_x.reshape(-1, channels), verbose=0).reshape(test_x.shape[:3] + (len(instruments),))
        hits = [pointing_hit(maps[i, ..., label], grid) for i, (label, grid) in enumerate(test_sounding)]
        overlaps = [mask_iou(maps[i, ..., label], grid) for i, (label, grid) in enumerate(test_sounding)]
        print(f"supervised {name} probe of the trunk's cells, map of the sounding instrument: "
              f"pointing {np.mean(hits):.3f}, mask IoU {np.mean(overlaps):.3f}", flush=True)


def curriculum_starts(recipe, pretrained, seed, started):
    """Fig. 4b on validation: where the three-source ROC-AUC goes, stage by stage and start by start."""
    three = cavl.scene_data(recipe, 256, 3, VALIDATION_SEED, "validation", with_ground_truth=True)

    def report(tag, m):
        m = m.with_num_clusters(3, 3 + recipe.extra_visual_clusters)
        pointing = object_localization_results(m, three, seed=seed)["aligned"]["pointing"]
        print(f"{tag:48s} ROC-AUC {match_roc_auc(m, three):.3f}  pointing {pointing:.3f}  "
              f"[{time.perf_counter() - started:.0f} s]", flush=True)

    epochs = list(recipe.epochs_per_stage)
    stages = curriculum_stages(3, base_learning_rate=recipe.learning_rate, decay=recipe.stage_decay, epochs=epochs)
    report("pretrained, untrained", cavl.build_model(recipe, pretrained))
    curriculum = cavl.train_stages(recipe, stages, seed, cavl.build_model(recipe, pretrained), split="fit")
    for name, m in zip(("C1", "C2", "C3 (from C2)"), curriculum.stage_models):
        report(f"curriculum after {name}", m)
    starts = {
        f"C3 from pretrained, {epochs[2]} epochs at C3's rate": [stages[2]],
        f"C3 from pretrained, {epochs[2]} epochs at the base rate": [
            dataclasses.replace(stages[2], learning_rate=recipe.learning_rate)],
        f"C3 from pretrained, {sum(epochs)} epochs at the base rate": [
            dataclasses.replace(stages[2], epochs=sum(epochs), learning_rate=recipe.learning_rate)],
        f"mixed 1-3 sources, {sum(epochs)} epochs at the base rate": no_curriculum_stage(
            3, learning_rate=recipe.learning_rate, epochs=sum(epochs)),
    }
    for name, schedule in starts.items():
        report(name, cavl.train_stages(recipe, schedule, seed, cavl.build_model(recipe, pretrained), split="fit").model)
    for c3_epochs in (epochs[2], sum(epochs)):
        schedule = [dataclasses.replace(stages[2], epochs=c3_epochs, learning_rate=recipe.learning_rate)]
        report(f"C3 from the curriculum's C2, {c3_epochs} epochs at the base rate",
               cavl.train_stages(recipe, schedule, seed, curriculum.stage_models[1], split="fit").model)


if __name__ == "__main__":
    main()
