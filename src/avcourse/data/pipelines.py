"""``tf.data`` pipelines over the synthetic world for every task of the course.

Each pipeline draws scenes from :func:`avcourse.data.world.make_scene` in a
Python generator (deterministically: example ``i`` comes from seed
``seed + i``), turns waveforms into the network input with
:mod:`avcourse.audio`, and hands numpy arrays to ``tf.data``, which batches,
caches and prefetches them. Because features are computed before they enter
``tf.data``, the pipelines work whichever Keras backend trains on them.

* :func:`scene_dataset`: single scenes (picture, sound, count, ground truth).
* :func:`pair_dataset`: matched and mismatched picture/sound pairs.
* :func:`mix_separate_dataset`: mix-and-separate examples (N solo scenes mixed).
* :func:`ccol_dataset`: CCoL's four-clip samples with silent objects.

Every example goes through two functions that the shard pipelines of the
recipes share: :func:`log1p_features` (a sound as the network hears it) and
:func:`mixture_example` (solo sounds mixed, with the separation targets).

Taught in: tutorials/00_audio_visual_world.ipynb
"""

import inspect

import numpy as np

from avcourse import audio
from avcourse._validation import check_bool, check_choice, check_nonnegative_int, check_positive_int
from avcourse.data import world

__all__ = [
    "MAX_OBJECTS",
    "ccol_dataset",
    "log1p_features",
    "mix_separate_dataset",
    "mixture_example",
    "pair_dataset",
    "scene_dataset",
]

# Objects a scene's ground truth holds at most: 4 sounding, 1 silent instrument,
# 1 distractor in the default layout, and room for one more.
MAX_OBJECTS = 7


def _image(scene):
    return scene.image.astype(np.float32) / 255.0


def log1p_features(waveform, config):
    """The network's audio input: ``log1p`` of the warped magnitude, with a trailing channel axis.

    Args:
        waveform: numpy (..., samples).
        config: an :class:`~avcourse.audio.AudioConfig`.

    Returns:
        float32 numpy (..., num_warped_bins, frames, 1).
    """
    # One path with the shards (avcourse.data.shards.audio_features) and the models:
    # the front end's fused log1p-of-warped-magnitude step, not its parts chained here.
    return np.asarray(audio.log1p_magnitude(waveform, config)).astype(np.float32)[..., None]


def _warped_magnitude(waveform, config):
    return np.asarray(audio.log_freq_warp(audio.spectrogram(waveform, config), config)).astype(np.float32)


def mixture_example(waveforms, config, gains=None, *, with_waveforms=False):
    """Solo sounds mixed into one mix-and-separate example: the network's input and the separation targets.

    The mixture is ``Σ g_i s_i`` clipped to [-1, 1]
    (:func:`avcourse.audio.mix_sources`); its magnitude comes from one STFT.

    Args:
        waveforms: numpy (num_sources, samples), each as long as the config's clips.
        config: an :class:`~avcourse.audio.AudioConfig`.
        gains: per-source gains; default ``1 / num_sources`` each.
        with_waveforms: also return the mixture and the scaled sources as waveforms.

    Returns:
        dict of float32 numpy arrays: ``mixture`` (bins, frames, 1) network
        input (:func:`log1p_features`), ``mixture_magnitude`` (bins, frames)
        and ``source_magnitudes`` (num_sources, bins, frames), the warped
        magnitudes of the mixture and of the sources as they sound in it (the
        targets of ratio and binary masks); with ``with_waveforms`` also
        ``mixture_waveform`` (samples,) and ``source_waveforms`` (num_sources, samples).
    """
    mixture, sources = audio.mix_sources(waveforms, gains)
    magnitude = _warped_magnitude(mixture, config)
    example = {
        "mixture": np.log1p(magnitude)[..., None],
        "mixture_magnitude": magnitude,
        "source_magnitudes": _warped_magnitude(sources, config),
    }
    if with_waveforms:
        example["mixture_waveform"] = mixture.astype(np.float32)
        example["source_waveforms"] = sources.astype(np.float32)
    return example


def _source_counts(num_sources, count):
    """Per-example source counts: a fixed int, or cycling through a sequence (mixed clips)."""
    expected = "`num_sources` must be an integer from 1 to 4 or a non-empty sequence of them"
    if isinstance(num_sources, (int, np.integer)) and not isinstance(num_sources, bool):
        choices = [num_sources]
    elif isinstance(num_sources, (str, bytes, dict)) or not hasattr(num_sources, "__iter__"):
        raise ValueError(f"{expected}; received {num_sources!r}.")
    else:
        choices = list(num_sources)
    if not choices:
        raise ValueError(f"{expected}; received an empty sequence.")
    for value in choices:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 4:
            raise ValueError(f"{expected}; received {num_sources!r}.")
    choices = [int(value) for value in choices]
    return [choices[i % len(choices)] for i in range(count)]


def _check_arguments(*, seed, batch_size, image_size, config, split, cache, shuffle=0):
    """Check the arguments every pipeline shares at construction (not at the first ``next``); return the config."""
    if config is None:
        config = audio.AudioConfig()
    elif not isinstance(config, audio.AudioConfig):
        raise ValueError(f"`config` must be an AudioConfig or None; received {type(config).__name__}.")
    minimum = config.n_fft // 2 + 1
    if config.num_samples < minimum:
        raise ValueError(
            f"`config` must give clips of at least n_fft // 2 + 1 = {minimum} samples for the STFT; "
            f"received clip_seconds={config.clip_seconds!r} ({config.num_samples} samples)."
        )
    check_nonnegative_int(seed, "seed")
    if batch_size is not None:
        check_nonnegative_int(batch_size, "batch_size")
    check_positive_int(image_size, "image_size")
    check_choice(split, "split", world.SPLITS)
    check_bool(cache, "cache")
    check_nonnegative_int(shuffle, "shuffle")
    return config


def _check_scene_options(scene_options, taken):
    """``scene_options`` must be None or a dict of ``make_scene`` keywords the pipeline does not set itself."""
    if scene_options is None:
        return {}
    if not isinstance(scene_options, dict):
        raise ValueError(f"`scene_options` must be a dict of make_scene arguments or None; received {scene_options!r}.")
    allowed = sorted(set(inspect.signature(world.make_scene).parameters) - set(taken))
    unknown = sorted(set(scene_options) - set(allowed))
    if unknown:
        raise ValueError(f"`scene_options` keys must be among {allowed}; received unknown {unknown}.")
    return dict(scene_options)


def _finish(dataset, count, batch_size, shuffle, seed, cache):
    """Declare the example count (so ``fit`` knows the epoch length), cache, shuffle, batch, prefetch."""
    import tensorflow as tf

    dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    if batch_size:
        dataset = dataset.batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _spec(shape, dtype="float32"):
    import tensorflow as tf

    return tf.TensorSpec(shape=shape, dtype=dtype)


def _waveform_signature(num_sources, config):
    return {
        "mixture_waveform": _spec((config.num_samples,)),
        "source_waveforms": _spec((num_sources, config.num_samples)),
    }


def _feature_shape(config):
    return (config.num_warped_bins, config.num_frames, 1)


def scene_dataset(
    num_scenes,
    *,
    num_sources=1,
    seed=0,
    batch_size=16,
    image_size=128,
    config=None,
    split="train",
    num_distractors=None,
    with_ground_truth=False,
    with_labels=False,
    shuffle=0,
    cache=True,
    scene_options=None,
):
    """Single scenes: ``{"image", "audio", "num_sources"}`` (+ ground truth, labels).

    Args:
        num_scenes: examples per epoch.
        num_sources: sources per scene, or a sequence cycled through (e.g.
            ``[1, 2, 3]`` for the no-curriculum baseline's mixed clips).
        seed: seed of the first scene; scene ``i`` uses ``seed + i``.
        batch_size: batch size, or 0/None for unbatched examples.
        image_size: picture side in pixels.
        config: ``AudioConfig`` (clip length, warped bins).
        split: phrase split of the world (``"train"``, ``"test"``, ``"fit"``,
            ``"validation"`` or ``"all"``).
        num_distractors: silent non-instrument objects per scene (default:
            the layout's, 0 or 1 at random in the ``"instruments"`` layout).
        with_ground_truth: also yield, for localization, ``consensus_map``
            (224 x 224), ``sounding_boxes`` (4 x 4 padded with -1),
            ``object_masks`` (MAX_OBJECTS, H, W) float 0/1 of every object
            (zero-padded), ``object_sounding`` (MAX_OBJECTS,) 1 for the
            sounding ones, 0 for silent ones and padding, and
            ``num_objects`` int32.
        with_labels: also yield ``labels``, the multi-hot (num_instruments,)
            float32 vector of the sounding instruments in the order of
            :func:`~avcourse.data.world.instrument_names`, and
            ``visible_labels``, the same for every instrument in the picture,
            sounding or silent (for supervised pretraining,
            :mod:`avcourse.training.pretrain`).
        shuffle: shuffle buffer size (0: keep the order).
        cache: cache the generated examples after the first epoch.
        scene_options: further keyword arguments of ``make_scene`` (e.g.
            ``{"layout": "flickr"}`` for one large object, the paper's protocol).

    Returns:
        a ``tf.data.Dataset`` of dicts with ``image`` (H, W, 3) float32 in
        [0, 1], ``audio`` (bins, frames, 1) ``log1p`` warped magnitude and
        ``num_sources`` int32.
    """
    import tensorflow as tf

    check_positive_int(num_scenes, "num_scenes")
    config = _check_arguments(
        seed=seed, batch_size=batch_size, image_size=image_size, config=config, split=split, cache=cache, shuffle=shuffle
    )
    counts = _source_counts(num_sources, num_scenes)
    with_ground_truth = check_bool(with_ground_truth, "with_ground_truth")
    with_labels = check_bool(with_labels, "with_labels")
    instruments = world.instrument_names()
    options = _check_scene_options(scene_options, ("num_sources", "seed", "image_size", "config", "split"))
    if num_distractors is not None:
        options["num_distractors"] = check_nonnegative_int(num_distractors, "num_distractors")
    # Fail here, not at the first `next(iter(dataset))`: draw the first scene once (make_scene checks the options).
    world.make_scene(counts[0], seed, image_size=image_size, config=config, split=split, **options)
    if with_ground_truth:
        # The most objects a scene can hold: the defaults add 1 silent instrument and up to 1 distractor.
        crowded = options.get("layout", "instruments") == "instruments"
        silent = options.get("num_silent_instruments")
        distractors = options.get("num_distractors")
        most = max(counts) + (int(crowded) if silent is None else silent) + (int(crowded) if distractors is None else distractors)
        if most > MAX_OBJECTS:
            raise ValueError(
                f"`num_sources` and `scene_options` give up to {most} objects per scene; at most {MAX_OBJECTS} "
                "fit the ground truth (with_ground_truth=True)."
            )

    def generate():
        for index, count in enumerate(counts):
            scene = world.make_scene(count, seed + index, image_size=image_size, config=config, split=split, **options)
            example = {
                "image": _image(scene),
                "audio": log1p_features(scene.mixture, config),
                "num_sources": np.int32(scene.num_sources),
            }
            if with_ground_truth:
                boxes = np.full((4, 4), -1, np.int32)
                boxes[: scene.num_sources] = scene.sounding_boxes
                example["consensus_map"] = scene.consensus_map
                example["sounding_boxes"] = boxes
                num_objects = len(scene.labels)
                if num_objects > MAX_OBJECTS:
                    raise ValueError(f"`scene_options` give {num_objects} objects; at most {MAX_OBJECTS} fit the ground truth.")
                masks = np.zeros((MAX_OBJECTS, image_size, image_size), np.float32)
                masks[:num_objects] = scene.object_masks
                example["object_masks"] = masks
                example["object_sounding"] = np.pad(scene.sounding.astype(np.float32), (0, MAX_OBJECTS - num_objects))
                example["num_objects"] = np.int32(num_objects)
            if with_labels:
                example["labels"] = np.isin(instruments, scene.source_labels).astype(np.float32)
                example["visible_labels"] = np.isin(instruments, scene.labels).astype(np.float32)
            yield example

    signature = {
        "image": _spec((image_size, image_size, 3)),
        "audio": _spec(_feature_shape(config)),
        "num_sources": _spec((), "int32"),
    }
    if with_ground_truth:
        signature["consensus_map"] = _spec((224, 224))
        signature["sounding_boxes"] = _spec((4, 4), "int32")
        signature["object_masks"] = _spec((MAX_OBJECTS, image_size, image_size))
        signature["object_sounding"] = _spec((MAX_OBJECTS,))
        signature["num_objects"] = _spec((), "int32")
    if with_labels:
        signature["labels"] = _spec((len(instruments),))
        signature["visible_labels"] = _spec((len(instruments),))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return _finish(dataset, num_scenes, batch_size, shuffle, seed, cache)


def pair_dataset(num_pairs, *, num_sources=1, seed=0, batch_size=16, image_size=64, config=None, split="train", cache=True):
    """Matched and mismatched picture/sound pairs, alternating.

    Even examples pair a scene's picture with its own sound (``is_match = 1``);
    odd ones with the sound of a different scene with as many sources
    (``is_match = 0``), the negatives of CAVL's contrastive loss (Eq 5).

    Returns:
        a ``tf.data.Dataset`` of dicts ``{"image", "audio", "is_match"}``.
    """
    import tensorflow as tf

    check_positive_int(num_pairs, "num_pairs")
    config = _check_arguments(
        seed=seed, batch_size=batch_size, image_size=image_size, config=config, split=split, cache=cache
    )
    counts = _source_counts(num_sources, num_pairs)

    def generate():
        for index, count in enumerate(counts):
            scene = world.make_scene(count, seed + index, image_size=image_size, config=config, split=split)
            is_match = index % 2 == 0
            if is_match:
                sound = scene.mixture
            else:  # a different scene's sound: offset far from every other seed of this set
                sound = world.make_scene(count, seed + num_pairs + index, image_size=16, config=config, split=split).mixture
            yield {"image": _image(scene), "audio": log1p_features(sound, config), "is_match": np.float32(is_match)}

    signature = {
        "image": _spec((image_size, image_size, 3)),
        "audio": _spec(_feature_shape(config)),
        "is_match": _spec(()),
    }
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return _finish(dataset, num_pairs, batch_size, 0, seed, cache)


def mix_separate_dataset(
    num_examples,
    *,
    num_mix=2,
    seed=0,
    batch_size=8,
    image_size=64,
    config=None,
    split="train",
    random_gain=False,
    with_waveforms=False,
    cache=True,
    scene_options=None,
):
    """Mix-and-separate examples: ``num_mix`` one-source scenes of different instruments, summed.

    The mixture is ``Σ g_i s_i`` with ``g_i = 1 / num_mix`` (or uniform in
    [0.5, 1.5] / num_mix with ``random_gain``), clipped to [-1, 1]; each
    scene's picture shows the object whose sound must be recovered.

    Returns:
        a ``tf.data.Dataset`` of dicts with ``images`` (num_mix, H, W, 3),
        ``mixture`` (bins, frames, 1) network input, ``mixture_magnitude``
        (bins, frames) and ``source_magnitudes`` (num_mix, bins, frames) warped
        magnitudes (targets for ratio/binary masks), ``labels`` (num_mix,)
        instrument indices, and with ``with_waveforms`` also
        ``mixture_waveform`` (samples,) and ``source_waveforms`` (num_mix, samples).

    ``scene_options`` are further keyword arguments of ``make_scene`` for each
    one-source scene, which by default shows its instrument alone (no silent
    instrument, no distractor: the picture names the source to recover), e.g.
    ``{"num_silent_instruments": 1}`` for a picture that also shows a silent one.
    """
    import tensorflow as tf

    check_positive_int(num_examples, "num_examples")
    config = _check_arguments(
        seed=seed, batch_size=batch_size, image_size=image_size, config=config, split=split, cache=cache
    )
    names = world.instrument_names()
    if isinstance(num_mix, bool) or not isinstance(num_mix, (int, np.integer)) or not 2 <= num_mix <= len(names):
        raise ValueError(f"`num_mix` must be an integer between 2 and {len(names)}; received {num_mix!r}.")
    num_mix = int(num_mix)
    random_gain = check_bool(random_gain, "random_gain")
    with_waveforms = check_bool(with_waveforms, "with_waveforms")
    scene_options = _check_scene_options(
        scene_options, ("num_sources", "seed", "instruments", "image_size", "config", "split")
    )
    # Fail here, not at the first `next(iter(dataset))`: draw one scene with the options.
    world.make_scene(
        1, seed, instruments=names[:1], image_size=image_size, config=config, split=split,
        **{"num_silent_instruments": 0, "num_distractors": 0, **scene_options},
    )

    def generate():
        for index in range(num_examples):
            rng = np.random.default_rng([seed, index])
            chosen = rng.choice(names, size=num_mix, replace=False)
            scenes = [
                world.make_scene(
                    1,
                    seed + index * num_mix + k,
                    instruments=[name],
                    image_size=image_size,
                    config=config,
                    split=split,
                    **{"num_silent_instruments": 0, "num_distractors": 0, **scene_options},
                )
                for k, name in enumerate(chosen)
            ]
            gains = (rng.uniform(0.5, 1.5, num_mix) if random_gain else np.ones(num_mix)) / num_mix
            yield {
                "images": np.stack([_image(s) for s in scenes]),
                "labels": np.array([names.index(n) for n in chosen], np.int32),
                **mixture_example(np.stack([s.mixture for s in scenes]), config, gains, with_waveforms=with_waveforms),
            }

    bins, frames = config.num_warped_bins, config.num_frames
    signature = {
        "images": _spec((num_mix, image_size, image_size, 3)),
        "mixture": _spec((bins, frames, 1)),
        "mixture_magnitude": _spec((bins, frames)),
        "source_magnitudes": _spec((num_mix, bins, frames)),
        "labels": _spec((num_mix,), "int32"),
    }
    if with_waveforms:
        signature.update(_waveform_signature(num_mix, config))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return _finish(dataset, num_examples, batch_size, 0, seed, cache)


def ccol_dataset(
    num_samples,
    *,
    seed=0,
    batch_size=8,
    image_size=128,
    crop_size=48,
    config=None,
    split="train",
    with_waveforms=False,
    cache=True,
    shuffle=0,
    random_gain=True,
):
    """CCoL's four-clip samples with silent objects (CCoL §3, DESIGN §3.6).

    Four instruments A, B, C, D of different classes. Video 1 shows A and B
    with A's sound; video 2 shows C and D with C's sound (B and D are silent
    objects); the mixture is ``(s(A) + s(C)) / 2``. Each video is a picture
    of the world's default ``"instruments"`` layout (``image_size`` px, the
    world's 128 by default) with one sounding instrument and one silent
    instrument of another class and no distractor; objects are cropped from
    their exact boxes (``Scene.boxes``) and resized to ``crop_size``. Within
    each video the two objects come in a random order, so that no position
    means "sounding": a loss that breaks ties towards the first object (an
    ``argmin`` of equal values) gains nothing. ``shuffle`` is a shuffle
    buffer over the samples (0: keep their order). ``random_gain``: each
    video's sound at the world's random loudness
    (:func:`avcourse.data.world.make_scene`: RMS drawn from 0.05 to 0.12),
    so that one source of a mixture can be about 2.4 times louder than the other;
    ``False``: both at the same loudness (the same pictures and phrases), to
    measure what a quiet source costs.

    Returns:
        a ``tf.data.Dataset`` of dicts with ``objects`` (4, crop, crop, 3):
        video 1's two objects, then video 2's; ``sounding`` (4,) which of them
        plays (one per video, e.g. [0, 1, 1, 0]); ``labels`` (4,) their
        instrument indices; ``audio`` (2, bins, frames, 1) the solo sounds of
        video 1 and 2; ``mixture`` (bins, frames, 1); ``mixture_magnitude``
        (bins, frames); ``source_magnitudes`` (2, bins, frames) of A and C in
        the mixture; with ``with_waveforms`` also ``mixture_waveform`` and
        ``source_waveforms`` (2, samples).
    """
    import tensorflow as tf

    check_positive_int(num_samples, "num_samples")
    config = _check_arguments(
        seed=seed, batch_size=batch_size, image_size=image_size, config=config, split=split, cache=cache, shuffle=shuffle
    )
    check_positive_int(crop_size, "crop_size")
    with_waveforms = check_bool(with_waveforms, "with_waveforms")
    random_gain = check_bool(random_gain, "random_gain")
    names = world.instrument_names()
    if len(names) < 4:
        raise ValueError(f"ccol_dataset needs 4 different instruments; the bundled samples hold {len(names)}.")

    def video(pair, scene_seed, rng):
        scene = world.make_scene(
            1,
            scene_seed,
            num_silent_instruments=1,
            num_distractors=0,
            instruments=list(pair),
            image_size=image_size,
            config=config,
            split=split,
            random_gain=random_gain,
        )
        order = rng.permutation(len(scene.labels))
        crops = [world.crop_object(scene, i, crop_size) for i in order]
        return scene, crops, [scene.labels[i] for i in order], scene.sounding[order]

    def generate():
        for index in range(num_samples):
            rng = np.random.default_rng([seed, index])
            a_b_c_d = rng.choice(names, size=4, replace=False)
            scene_1, crops_1, labels_1, sounding_1 = video(a_b_c_d[:2], seed + 2 * index, rng)
            scene_2, crops_2, labels_2, sounding_2 = video(a_b_c_d[2:], seed + 2 * index + 1, rng)
            solos = np.stack([scene_1.mixture, scene_2.mixture])
            yield {
                "objects": (np.stack(crops_1 + crops_2).astype(np.float32) / 255.0),
                "sounding": np.concatenate([sounding_1, sounding_2]).astype(np.float32),
                "labels": np.array([names.index(n) for n in labels_1 + labels_2], np.int32),
                "audio": np.stack([log1p_features(solo, config) for solo in solos]),
                **mixture_example(solos, config, with_waveforms=with_waveforms),
            }

    bins, frames = config.num_warped_bins, config.num_frames
    signature = {
        "objects": _spec((4, crop_size, crop_size, 3)),
        "sounding": _spec((4,)),
        "labels": _spec((4,), "int32"),
        "audio": _spec((2, bins, frames, 1)),
        "mixture": _spec((bins, frames, 1)),
        "mixture_magnitude": _spec((bins, frames)),
        "source_magnitudes": _spec((2, bins, frames)),
    }
    if with_waveforms:
        signature.update(_waveform_signature(2, config))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return _finish(dataset, num_samples, batch_size, shuffle, seed, cache)
