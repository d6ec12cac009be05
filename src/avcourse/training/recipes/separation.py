"""The ``separation`` task: a U-Net guided by CAVL's visual centre or mask-pooled features (CAVL Table 4).

``guidance: center`` or ``mask`` takes one visual vector per source from a C1
CAVL model (``cavl_weights``, or trained first as stage ``cavl_c1``);
``guidance: oracle`` gives the separator the instrument's identity (synthetic
world only). :func:`evaluate` scores the separated sources and the
unprocessed mixture with BSS-eval.
"""

import keras
import numpy as np

from avcourse import audio
from avcourse.training.recipes.cavl import build_cavl
from avcourse.training.recipes.config import adam, audio_config
from avcourse.training.recipes.inputs import batches, scenes, shard, shard_records, synthetic
from avcourse.training.recipes.run import final_weights

__all__ = ["build_models", "evaluate", "train"]

# The arrays of one mix-and-separate example, in the order the shard pipeline's numpy function returns them.
_MIXTURE_KEYS = ("mixture", "mixture_magnitude", "source_magnitudes", "mixture_waveform", "source_waveforms")


def build_models(config):
    """``{"cavl", "separator"}``: the C1 CAVL model giving the visual vectors and the U-Net, untrained."""
    cavl_model = build_cavl(config, "cavl")
    separator = _unet(config, _vector_dim(config, cavl_model))
    separator.build()
    return {"cavl": cavl_model, "separator": separator}


def train(run):
    """The C1 CAVL model (unless ``cavl_weights`` are given), then the separator, each a resumable stage."""
    config = run.config
    histories = {}
    cavl_model = _separation_cavl(config, run.root, run) if _check_guidance(config) else None
    if "cavl_c1" in run.progress["histories"]:
        histories["cavl_c1"] = run.progress["histories"]["cavl_c1"]
    model = _separator_model(config, _vector_dim(config, cavl_model))
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(config["training"]["learning_rate"]))

    def make(context, batch):
        batches_ = _mixtures(config, "train", batch, context)
        return batches_ if cavl_model is None else _with_visual(config, batches_, cavl_model)

    histories["separator"] = run.fit("separator", model, run.dataset(make), config["training"]["epochs"])
    return histories


def evaluate(config, folder):
    """SDR / SIR / SAR (BSS-eval) of the separated sources and of the unprocessed mixture."""
    from avcourse import baselines
    from avcourse.metrics.separation import bss_eval_batch

    cavl_model = _separation_cavl(config, folder) if _check_guidance(config) else None
    model = _separator_model(config, _vector_dim(config, cavl_model))
    model.build()
    model.load_weights(final_weights(folder, "separator"))
    test = _mixtures(config, "test", config["training"]["batch_size"])
    if cavl_model is not None:
        test = _with_visual(config, test, cavl_model)
    settings = audio_config(config)
    scores = {"separator": [[], [], []], "mixture (unprocessed)": [[], [], []]}
    for batch in test.as_numpy_iterator():
        masks = np.asarray(model.predict_on_batch(batch))
        mixtures = np.stack([baselines.mixture_as_estimate(m, masks.shape[1]) for m in batch["mixture_waveform"]])
        separated = audio.reconstruct_sources(masks, batch["mixture_waveform"], settings)
        for name, estimates in (("separator", separated), ("mixture (unprocessed)", mixtures)):
            result = bss_eval_batch(batch["source_waveforms"], estimates)
            for total, metric in zip(scores[name], ("sdr", "sir", "sar")):
                total.append(result[metric].ravel())
    return {
        name: {metric: float(np.nanmean(np.concatenate(values))) for metric, values in zip(("sdr", "sir", "sar"), totals)}
        for name, totals in scores.items()
    }


def _mixtures(config, split, batch_size, input_context=None):
    """Batches of mix-and-separate examples (the keys of ``mix_separate_dataset``)."""
    import tensorflow as tf

    from avcourse.data import pipelines

    data, settings = config["data"], audio_config(config)
    num_mix = data["num_mix"]
    training = split == "train"
    if data["source"] == "synthetic":
        seed, count = synthetic(config, split)
        dataset = pipelines.mix_separate_dataset(
            count, num_mix=num_mix, seed=seed, batch_size=0, image_size=data["image_size"], config=settings,
            split=split, with_waveforms=not training,
        )
        return batches(config, shard(dataset, input_context), batch_size, training)

    def mix(waveforms):
        waveforms = np.stack([audio.fit_length(w, settings.num_samples) for w in waveforms])
        example = pipelines.mixture_example(waveforms, settings, with_waveforms=True)
        return tuple(example[key] for key in _MIXTURE_KEYS)

    def example(group):
        outputs = tf.numpy_function(mix, [group["waveform"]], [tf.float32] * 5)
        bins, frames = settings.num_warped_bins, settings.num_frames
        for tensor, shape in zip(outputs, [(bins, frames, 1), (bins, frames), (num_mix, bins, frames), (settings.num_samples,), (num_mix, settings.num_samples)]):
            tensor.set_shape(shape)
        middle = tf.map_fn(lambda frames_: frames_[tf.shape(frames_)[0] // 2], group["frames"])
        images = tf.image.resize(tf.cast(middle, tf.float32) / 255.0, (data["image_size"],) * 2)
        result = {"images": images, **dict(zip(_MIXTURE_KEYS[:3], outputs[:3]))}
        if not training:
            result.update(zip(_MIXTURE_KEYS[3:], outputs[3:]))
        return result

    # Consecutive (shuffled) solo clips form one mixture.
    dataset = shard_records(config, split, input_context)
    if training and data.get("shuffle_buffer"):
        dataset = dataset.shuffle(data["shuffle_buffer"], seed=config["seed"])
    dataset = dataset.map(lambda e: {"waveform": e["waveform"], "frames": e["frames"]}).batch(num_mix, drop_remainder=True)
    return dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _with_visual(config, batches_, cavl_model):
    """Add CAVL's visual vectors (B, num_mix, dim) to every batch (``guidance`` center or mask)."""
    import tensorflow as tf

    from avcourse.models.separator import cavl_visual_vectors

    mode, num_mix = config["guidance"], config["data"]["num_mix"]

    def generate():
        for batch in batches_.as_numpy_iterator():
            count = len(batch["images"])
            # Each source's picture with its own solo sound (mixed at gain 1 / num_mix), CAVL supp. 6.4.
            solo = np.log1p(batch["source_magnitudes"] * num_mix)[..., None]
            images = batch["images"].reshape((-1,) + batch["images"].shape[2:])
            vectors = cavl_visual_vectors(cavl_model, images, solo.reshape((-1,) + solo.shape[2:]), mode=mode)
            yield {**batch, "visual": vectors.reshape(count, num_mix, -1)}

    spec = batches_.element_spec
    signature = {**spec, "visual": tf.TensorSpec((None, num_mix, _vector_dim(config, cavl_model)), tf.float32)}
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(tf.data.AUTOTUNE)


def _vector_dim(config, cavl_model):
    """Size of the visual vectors: the centre's (``embedding_dim``), or the visual trunk's channels (``mask``)."""
    if cavl_model is None:  # oracle: one-hot identities zero-padded to the centre's size
        return config["cavl"]["embedding_dim"]
    return cavl_model.visual_trunk.output.shape[-1] if config["guidance"] == "mask" else cavl_model.embedding_dim


def _unet(config, visual_dim):
    from avcourse.models.separator import UNetSeparator

    return UNetSeparator(visual_dim=visual_dim, **config["model"])


def _separator_model(config, visual_dim):
    from avcourse.models.separator import VisuallyGuidedSeparator

    conditioning = "oracle" if config["guidance"] == "oracle" else "visual"
    return VisuallyGuidedSeparator(_unet(config, visual_dim), conditioning=conditioning)


def _separation_cavl(config, folder, run=None):
    """The C1 CAVL model giving the visual vectors: from ``cavl_weights``, or trained as stage ``cavl_c1``."""
    model = build_cavl(config, "cavl")
    model.build()
    if config["cavl_weights"]:
        model.load_weights(config["cavl_weights"])
    elif run is None:  # evaluating: the run trained it
        model.load_weights(final_weights(folder, "cavl_c1"))
    else:
        training = config["cavl_training"]
        model.compile(optimizer=adam(config)(training["learning_rate"]))
        dataset = run.dataset(lambda context, batch: scenes(config, "train", (1,), batch, context))
        run.fit("cavl_c1", model, dataset, training["epochs"])
    return model


def _check_guidance(config):
    if config["guidance"] not in ("center", "mask", "oracle"):
        raise ValueError(f"`guidance` must be 'center', 'mask' or 'oracle'; received {config['guidance']!r}.")
    if config["guidance"] == "oracle" and config["data"]["source"] != "synthetic":
        raise ValueError("`guidance` 'oracle' needs the synthetic world's instrument labels; received data.source 'shards'.")
    return config["guidance"] != "oracle"
