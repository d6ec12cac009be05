"""The ``ccol`` task: grounding warm-up → co-learning → cyclic co-learning (CCoL), on the synthetic world.

:func:`evaluate` gives grounding accuracy (CCoL Table 1) and separation with
predicted and oracle gates (Table 2), with the unprocessed mixture's scores.
"""

from avcourse.training.recipes.config import adam, audio_config, audio_shape
from avcourse.training.recipes.inputs import batches, shard, synthetic
from avcourse.training.recipes.run import final_weights

__all__ = ["build_ccol", "build_models", "evaluate", "stages", "train"]


def stages(config):
    """CCoL's stages (:func:`avcourse.training.ccol.ccol_stages`) of the recipe's ``training`` section."""
    from avcourse.training.ccol import ccol_stages

    training = config["training"]
    return ccol_stages(
        training["epochs"],
        learning_rates=training["learning_rates"],
        learning_rate_steps=[tuple(steps) for steps in training["learning_rate_steps"]],
        decay=training["decay"],
        variants=training["variants"],
    )


def build_ccol(config, stage=None):
    """The :class:`~avcourse.models.ccol.CCoLModel` for ``stage`` (default: the first variant), built."""
    from avcourse.models.ccol import CCoLModel

    crop = config["data"]["crop_size"]
    model = CCoLModel(
        stage=stage or config["training"]["variants"][0], audio_shape=audio_shape(config), object_shape=(crop, crop, 3), **config["model"]
    )
    model.build()
    return model


def build_models(config):
    """``{"ccol": CCoLModel}`` at the recipe's sizes, untrained."""
    return {"ccol": build_ccol(config)}


def train(run):
    """Grounding warm-up → co-learning → cyclic co-learning (CCoL), each stage resumable."""
    config = run.config

    def make_dataset(stage):
        return run.dataset(lambda context, batch: _samples(config, "train", batch, context))

    _, histories = run.run_stages(build_ccol(config), stages(config), make_dataset, adam(config))
    return histories


def evaluate(config, folder):
    """Grounding accuracy (CCoL Table 1) and separation with predicted and oracle gates (Table 2)."""
    from avcourse.training.ccol import collect, grounding_accuracy, mixture_scores, separation_scores

    last = stages(config)[-1]
    model = build_ccol(config, last.variant)
    model.load_weights(final_weights(folder, last.name))
    data = collect(_samples(config, "test", config["training"]["batch_size"]))
    settings = audio_config(config)
    return {
        "grounding accuracy": grounding_accuracy(model, data),
        "separation (predicted grounding)": separation_scores(model, data, config=settings),
        "separation (oracle grounding)": separation_scores(model, data, config=settings, mode="oracle"),
        "mixture (unprocessed)": mixture_scores(data),
    }


def _samples(config, split, batch_size, input_context=None):
    """CCoL's four-clip samples (synthetic world; shards need object detections, see the recipe's README)."""
    from avcourse.data import pipelines

    data = config["data"]
    if data["source"] != "synthetic":
        raise ValueError(
            "the ccol task reads the synthetic world only: its samples need per-object crops, which the shards "
            "of `avcourse prepare` do not hold; received data.source 'shards'."
        )
    seed, count = synthetic(config, split)
    dataset = pipelines.ccol_dataset(
        count, seed=seed, batch_size=0, image_size=data["image_size"], crop_size=data["crop_size"],
        config=audio_config(config), split=split, with_waveforms=split != "train",
    )
    return batches(config, shard(dataset, input_context), batch_size, split == "train")
