"""The data of the recipes: scenes of the synthetic world or clips of the prepared shards, batched for ``fit``.

``data.source: shards`` reads the TFRecord shards written by ``avcourse
prepare`` (:func:`avcourse.data.shards.shard_dataset`); ``data.source:
synthetic`` draws scenes of the synthetic world (:mod:`avcourse.data.pipelines`),
training scenes from the recipe's ``seed`` and test scenes from
:data:`avcourse.data.world.TEST_SEED`, so the two never overlap.
"""

from avcourse.training.recipes.config import audio_config, audio_shape

__all__ = ["batches", "clip_inputs", "scenes", "shard", "shard_records", "synthetic"]


def synthetic(config, split):
    """Seed and count of a split of the synthetic world (test scenes never overlap training seeds)."""
    from avcourse.data.world import TEST_SEED

    data = config["data"]
    if split == "train":
        return config["seed"], data["num_train"]
    return TEST_SEED, data["num_test"]


def shard_records(config, split, input_context):
    """The records of the split's shards (``data.train`` or ``data.test``, a glob pattern)."""
    import tensorflow as tf

    from avcourse.data.shards import shard_dataset

    pattern = config["data"][split]
    if not pattern:
        raise ValueError(f"`data.{split}` must name the shards (a glob pattern) when data.source is 'shards'; received {pattern!r}.")
    return shard_dataset(pattern, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True, input_context=input_context)


def clip_inputs(config, example, with_ids=False):
    """Model inputs of one shard record: the middle frame and the clip's log1p warped spectrogram."""
    import tensorflow as tf

    from avcourse.data.shards import scene_inputs

    inputs = scene_inputs(example, audio_config(config), image_size=config["data"]["image_size"])
    # Keras models need static spectrogram sizes; the padded clip's length is only known at run time.
    inputs["audio"] = tf.ensure_shape(inputs["audio"], audio_shape(config))
    if with_ids:
        inputs["clip_id"] = example["clip_id"]
    return inputs


def shard(dataset, input_context):
    """This input pipeline's share of ``dataset`` (all of it without an ``input_context``)."""
    if input_context is None:
        return dataset
    return dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def batches(config, dataset, batch_size, training):
    """Shuffled (training, with ``data.shuffle_buffer``), batched and prefetched."""
    import tensorflow as tf

    if training and config["data"].get("shuffle_buffer"):
        dataset = dataset.shuffle(config["data"]["shuffle_buffer"], seed=config["seed"])
    # Equal batches on every step: replicas split a batch evenly.
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def scenes(config, split, num_sources, batch_size, input_context=None, with_ground_truth=False):
    """Scenes with ``num_sources`` sources (a tuple): synthetic, or shards filtered by their count."""
    import tensorflow as tf

    from avcourse.data import pipelines

    data = config["data"]
    training = split == "train"
    if data["source"] == "synthetic":
        seed, count = synthetic(config, split)
        dataset = pipelines.scene_dataset(
            count,
            num_sources=list(num_sources),
            seed=seed,
            batch_size=0,
            image_size=data["image_size"],
            config=audio_config(config),
            split=split,
            with_ground_truth=with_ground_truth,
            scene_options=data.get("scene_options"),
        )
        return batches(config, shard(dataset, input_context), batch_size, training)
    top = max(num_sources)
    wanted = tf.constant(list(num_sources), tf.int32)
    dataset = shard_records(config, split, input_context).filter(
        # The last stage also takes busier clips (C4 = "4 or more sources").
        lambda example: tf.reduce_any(tf.equal(tf.minimum(tf.cast(example["num_sources"], tf.int32), top), wanted))
    )
    dataset = dataset.map(lambda example: clip_inputs(config, example, with_ids=with_ground_truth), num_parallel_calls=tf.data.AUTOTUNE)
    return batches(config, dataset, batch_size, training)
