"""The CAVL tasks: ``cavl_curriculum`` (stages C1..C4, CAVL §3.2) and ``cavl_localization`` (stage C1, §4.4).

Both train the same way (:func:`train`: the curriculum, or its no-curriculum
baseline, each stage resumable); :func:`evaluate` scores ``cavl_curriculum``
by the contrastive loss and match accuracy of every stage on held-out clips,
and ``cavl_localization`` by cIoU@0.5 / AUC of the aligned centre's heatmaps
and of the baselines.
"""

from pathlib import Path

import numpy as np

from avcourse.training.recipes.config import adam, audio_shape, image_shape
from avcourse.training.recipes.inputs import clip_inputs, scenes, shard_records
from avcourse.training.recipes.run import final_weights

__all__ = ["build_cavl", "build_models", "evaluate", "stages", "train"]


def build_cavl(config, section="model", num_audio_clusters=1):
    """The :class:`~avcourse.models.CAVLModel` of the recipe's ``section`` (``model``, or ``cavl`` for separation)."""
    from avcourse.models import CAVLModel

    return CAVLModel(
        audio_shape=audio_shape(config),
        image_shape=image_shape(config),
        num_audio_clusters=num_audio_clusters,
        **config[section],
    )


def build_models(config):
    """``{"cavl": CAVLModel}`` at the recipe's sizes, untrained."""
    return {"cavl": build_cavl(config)}


def stages(config):
    """The curriculum's stages (or the one no-curriculum stage) of the recipe's ``training`` section."""
    from avcourse.training.curriculum import curriculum_stages, no_curriculum_stage

    training = config["training"]
    if training.get("curriculum", True):
        return curriculum_stages(
            training["stages"],
            base_learning_rate=training["learning_rate"],
            decay=training["decay"],
            epochs=training["epochs"],
            accumulate=training.get("accumulate", False),
        )
    epochs = training["epochs"] if isinstance(training["epochs"], int) else sum(training["epochs"])
    return no_curriculum_stage(training["stages"], learning_rate=training["learning_rate"], epochs=epochs)


def train(run):
    """The curriculum (or its no-curriculum baseline), each stage resumable."""
    config = run.config

    def make_dataset(stage):
        return run.dataset(lambda context, batch: scenes(config, "train", stage.num_sources, batch, context))

    model, histories = run.run_stages(build_cavl(config), stages(config), make_dataset, adam(config))
    if run.distribution.is_chief:
        model.audio_trunk.save_weights(str(run.root / "audio_trunk.weights.h5"))
        model.visual_trunk.save_weights(str(run.root / "visual_trunk.weights.h5"))
    return histories


def evaluate(config, folder):
    """``cavl_curriculum``: match scores per stage; ``cavl_localization``: cIoU@0.5 and AUC."""
    if config["task"] == "cavl_localization":
        return _evaluate_localization(config, folder)
    return _evaluate_matching(config, folder)


def _trained(config, folder):
    """The CAVL model of a run directory, as its last stage left it."""
    schedule = stages(config)
    model = build_cavl(config, num_audio_clusters=schedule[-1].num_audio_clusters)
    model.build()
    model.load_weights(final_weights(folder, schedule[-1].name))
    return model, schedule


def _evaluate_matching(config, folder):
    """Contrastive loss and match accuracy of the final model on held-out clips of each stage."""
    model, schedule = _trained(config, folder)
    scores = {}
    for stage in schedule:
        staged = model.with_num_clusters(stage.num_audio_clusters, stage.num_visual_clusters)
        staged.compile()
        test = scenes(config, "test", stage.num_sources, config["training"]["batch_size"])
        scores[stage.name] = staged.evaluate(test, verbose=0, return_dict=True)
    return scores


def _flickr_maps(config, batch):
    """Consensus maps (B, 224, 224) of shard clips, from their annotation files."""
    from avcourse.data.flickr import flickr_gt_map

    folder = Path(config["data"]["annotations"])
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in np.asarray(batch["clip_id"])]
    return np.stack([flickr_gt_map(folder / f"{clip}.xml") for clip in ids]).astype("float32")


def _evaluate_localization(config, folder):
    """cIoU@0.5 and AUC of the aligned-centre heatmaps and the baselines (CAVL §4.4)."""
    from avcourse.training.evaluation import localization_results

    model, _ = _trained(config, folder)
    model = model.with_num_clusters(1)
    test = scenes(config, "test", (1,), config["training"]["batch_size"], with_ground_truth=True)
    if config["data"]["source"] == "shards":
        # Every test clip counts, whatever its label count; the maps come from the annotators' boxes.
        test = shard_records(config, "test", None).map(lambda example: clip_inputs(config, example, with_ids=True))
        test = (
            {"image": batch["image"], "audio": batch["audio"], "consensus_map": _flickr_maps(config, batch)}
            for batch in test.batch(config["training"]["batch_size"]).as_numpy_iterator()
        )
    results = localization_results(model, test, seed=config["seed"])
    return {name: {"ciou@0.5": float(r["ciou@0.5"]), "auc": float(r["auc"])} for name, r in results.items()}
