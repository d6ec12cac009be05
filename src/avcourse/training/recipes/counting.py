"""The ``counting`` task: CAVL's Poisson source counter (Table 2), scored by accuracy and MAE of the counts."""

import numpy as np

from avcourse.training.recipes.config import audio_shape
from avcourse.training.recipes.inputs import scenes
from avcourse.training.recipes.run import final_weights

__all__ = ["build_counter", "build_models", "evaluate", "train"]


def build_counter(config):
    """The :class:`~avcourse.models.SourceCounter` of the recipe, built."""
    from avcourse.models import SourceCounter

    counter = SourceCounter(audio_shape=audio_shape(config), **config["model"])
    counter.build()  # BackupAndRestore restores into built models only
    return counter


def build_models(config):
    """``{"counter": SourceCounter}`` at the recipe's sizes, untrained."""
    return {"counter": build_counter(config)}


def train(run):
    """SGD with momentum and the counter's step-decay schedule, as one resumable stage ``counting``."""
    from avcourse.models.counting import counting_lr_schedule, counting_optimizer

    config = run.config
    training = config["training"]
    model = build_counter(config)
    model.compile(optimizer=counting_optimizer(training["learning_rate"], training["momentum"]))
    dataset = run.dataset(lambda context, batch: scenes(config, "train", tuple(training["num_sources"]), batch, context))
    run.extra_callbacks.append(counting_lr_schedule(training["learning_rate"], training["lr_decay"]))
    return {"counting": run.fit("counting", model, dataset, training["epochs"])}


def evaluate(config, folder):
    """Count accuracy and MAE of the counter and of the constant median-count baseline."""
    from avcourse.metrics.counting import count_accuracy, count_mae

    model = build_counter(config)
    model.load_weights(final_weights(folder, "counting"))
    test = scenes(config, "test", tuple(config["training"]["num_sources"]), config["training"]["batch_size"])
    truth, predicted = [], []
    for batch in test.as_numpy_iterator():
        truth.append(batch["num_sources"])
        predicted.append(model.predict_counts(batch["audio"]))
    truth, predicted = np.concatenate(truth), np.concatenate(predicted)
    constant = np.full_like(truth, int(np.median(truth)))
    return {
        "counter": {"accuracy": float(count_accuracy(truth, predicted)), "mae": float(count_mae(truth, predicted))},
        "constant (median count)": {"accuracy": float(count_accuracy(truth, constant)), "mae": float(count_mae(truth, constant))},
    }
