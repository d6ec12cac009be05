"""Reading the shards of ``avcourse prepare`` at scale, as a ``tf.data`` pipeline.

:func:`shard_dataset` lists the shard files, splits them between the input
pipelines of a distributed run (``tf.distribute.InputContext``), reads several
files at once (parallel interleave), parses and decodes the records in
parallel and prefetches. Each element is a dict:

| key | dtype, shape | content |
|---|---|---|
| ``clip_id`` | string, () | the clip's id (MUSIC: ``instrument/youtube_id``, duets ``cello+violin/youtube_id``) |
| ``waveform`` | float32, (samples,) | mono audio at 11025 Hz |
| ``frames`` | uint8, (F, H, W, 3) | RGB frames at 1 fps (F = 0 for audio-only clips) |
| ``labels`` | string, (L,) | instruments, AudioSet mids or the ESC-50 category |
| ``num_sources`` | int32, () | sound sources (AudioSet: level-3 count; 0 if unknown) |
| ``boxes`` | float32, (K, 4) | normalised ``[x1, y1, x2, y2]`` (SoundNet-Flickr's annotators; K = 0 elsewhere) |
| ``fold`` | int32, () | ESC-50 fold 1-5 (0 elsewhere) |

:func:`audio_features` and :func:`scene_inputs` turn these records into what
the models of the course take: the ``log1p`` warped magnitude of
:mod:`avcourse.data.pipelines` and ``{"image", "audio", "num_sources"}``
like :func:`avcourse.data.pipelines.scene_dataset`.

Used by: avcourse.training.recipes
"""

import numpy as np

from avcourse import audio
from avcourse.data import pipelines

__all__ = [
    "SHARD_SUFFIX",
    "audio_features",
    "crop_or_pad",
    "list_shards",
    "parse_record",
    "scene_inputs",
    "shard_dataset",
]

SHARD_SUFFIX = ".tfrecord"


def _feature_spec():
    import tensorflow as tf

    return {
        "clip_id": tf.io.FixedLenFeature([], tf.string),
        "waveform": tf.io.FixedLenFeature([], tf.string),
        "waveform_bits": tf.io.FixedLenFeature([], tf.int64),
        "waveform_scale": tf.io.FixedLenFeature([], tf.float32),
        "frames": tf.io.VarLenFeature(tf.string),
        "frame_size": tf.io.FixedLenFeature([2], tf.int64),
        "labels": tf.io.VarLenFeature(tf.string),
        "num_sources": tf.io.FixedLenFeature([], tf.int64),
        "boxes": tf.io.VarLenFeature(tf.float32),
        "fold": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }


def parse_record(serialized):
    """Parse and decode one serialized record of a shard into the element dict.

    Args:
        serialized: a scalar string tensor (one record of a ``.tfrecord``).

    Returns:
        dict with ``clip_id``, ``waveform``, ``frames``, ``labels``,
        ``num_sources``, ``boxes`` and ``fold`` (see the module docstring).
    """
    import tensorflow as tf

    parsed = tf.io.parse_single_example(serialized, _feature_spec())
    waveform = tf.cond(
        parsed["waveform_bits"] == 16,
        lambda: tf.cast(tf.io.decode_raw(parsed["waveform"], tf.int16, little_endian=True), tf.float32)
        * parsed["waveform_scale"],
        lambda: tf.io.decode_raw(parsed["waveform"], tf.float32, little_endian=True),
    )
    jpegs = tf.sparse.to_dense(parsed["frames"])
    height, width = parsed["frame_size"][0], parsed["frame_size"][1]
    shape = tf.stack([tf.shape(jpegs, out_type=tf.int64)[0], height, width, 3])
    # map_fn cannot stack zero frames of unknown size: audio-only clips take the other branch.
    frames = tf.cond(
        tf.size(jpegs) > 0,
        lambda: tf.reshape(
            tf.map_fn(
                lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
                jpegs,
                fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
            ),
            shape,
        ),
        lambda: tf.zeros(shape, tf.uint8),
    )
    return {
        "clip_id": parsed["clip_id"],
        "waveform": waveform,
        "frames": frames,
        "labels": tf.sparse.to_dense(parsed["labels"]),
        "num_sources": tf.cast(parsed["num_sources"], tf.int32),
        "boxes": tf.reshape(tf.sparse.to_dense(parsed["boxes"]), [-1, 4]),
        "fold": tf.cast(parsed["fold"], tf.int32),
    }


def list_shards(paths_or_pattern):
    """The shard files named by a folder, a glob pattern, one path or a list of them, sorted.

    Args:
        paths_or_pattern: a folder (every ``*.tfrecord`` in it), a glob
            pattern (``"shards/music-*.tfrecord"``), a file, or a list of these.

    Returns:
        sorted list of file paths (str), without duplicates.

    Raises:
        ValueError: if nothing matches.
    """
    from pathlib import Path

    import tensorflow as tf

    entries = [paths_or_pattern] if isinstance(paths_or_pattern, (str, Path)) else list(paths_or_pattern)
    files = set()
    for entry in entries:
        entry = str(entry)
        if tf.io.gfile.isdir(entry):
            files.update(tf.io.gfile.glob(str(Path(entry) / f"*{SHARD_SUFFIX}")))
        else:
            files.update(tf.io.gfile.glob(entry))
    if not files:
        raise ValueError(
            f"`paths_or_pattern` must name shard files (a folder of *{SHARD_SUFFIX}, a glob pattern or paths); "
            f"nothing matches {paths_or_pattern!r}. Make shards with `avcourse prepare`."
        )
    return sorted(files)


def shard_dataset(
    paths_or_pattern,
    *,
    num_parallel_calls=None,
    deterministic=True,
    input_context=None,
    shuffle_files=False,
    seed=None,
    prefetch=None,
    cycle_length=4,
    block_length=1,
):
    """Read shards of ``avcourse prepare`` as a ``tf.data.Dataset`` of record dicts.

    Pipeline: list files → split them between input pipelines → (shuffle
    files) → parallel interleave of ``TFRecordDataset`` s → parallel parse and
    decode → prefetch. With ``deterministic=True`` the order depends only on
    the files, ``cycle_length``, ``block_length`` and ``seed``, not on
    ``num_parallel_calls``; ``False`` lets a fast file overtake a slow one.

    With an ``input_context`` each input pipeline (worker) reads
    ``1 / num_input_pipelines`` of the data: whole files when there are at
    least as many files as pipelines, else every ``num_input_pipelines``-th
    record of a deterministic stream, so the workers' records are disjoint
    and together complete in both cases (record-level sharding keeps the
    interleave deterministic and shuffles files once, with ``seed`` or 0).

    Args:
        paths_or_pattern: folder, glob pattern, file or list (see
            :func:`list_shards`).
        num_parallel_calls: files read and records decoded at once; None or
            ``tf.data.AUTOTUNE`` lets ``tf.data`` tune it.
        deterministic: keep a reproducible element order.
        input_context: a ``tf.distribute.InputContext`` (as passed to the
            dataset function of ``distribute_datasets_from_function``), or None.
        shuffle_files: shuffle the file order every epoch (seeded by ``seed``).
        seed: seed of the file shuffle.
        prefetch: elements to prefetch; None lets ``tf.data`` tune it, 0 none.
        cycle_length: files interleaved at once.
        block_length: consecutive records taken from a file before the next.

    Returns:
        a ``tf.data.Dataset`` of dicts (``clip_id``, ``waveform``, ``frames``,
        ``labels``, ``num_sources``, ``boxes``, ``fold``; see the module
        docstring), unbatched: waveforms and frame counts vary per clip.

    Raises:
        ValueError: if no file matches or an argument is invalid.

    Examples:
        >>> dataset = shard_dataset("shards/music-*.tfrecord", num_parallel_calls=4)  # doctest: +SKIP
        >>> element = next(iter(dataset))  # doctest: +SKIP
        >>> element["frames"].shape, element["waveform"].dtype  # doctest: +SKIP
        (TensorShape([60, 224, 224, 3]), tf.float32)
    """
    import tensorflow as tf

    files = list_shards(paths_or_pattern)
    if num_parallel_calls is None or num_parallel_calls == tf.data.AUTOTUNE:
        parallel = tf.data.AUTOTUNE
    else:
        parallel = _positive(num_parallel_calls, "num_parallel_calls")
    cycle_length = _positive(cycle_length, "cycle_length")
    block_length = _positive(block_length, "block_length")
    if not isinstance(deterministic, bool):
        raise ValueError(f"`deterministic` must be True or False; received {deterministic!r}.")
    if prefetch is not None and (isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0):
        raise ValueError(f"`prefetch` must be an int >= 0 or None; received {prefetch!r}.")
    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
    shard_records = num_pipelines > 1 and len(files) < num_pipelines

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if num_pipelines > 1 and not shard_records:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if shuffle_files:
        # Record-level sharding needs one stream that every worker sees the same way:
        # a seed shared by the workers (0 if none is given), without reshuffling.
        if shard_records and seed is None:
            seed = 0
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=not shard_records)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=cycle_length,
        block_length=block_length,
        num_parallel_calls=parallel,
        deterministic=deterministic or shard_records,
    )
    if shard_records:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    dataset = dataset.map(parse_record, num_parallel_calls=parallel, deterministic=deterministic)
    if prefetch != 0:
        dataset = dataset.prefetch(tf.data.AUTOTUNE if prefetch is None else prefetch)
    return dataset


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {value!r}.")
    return value


def crop_or_pad(waveform, num_samples):
    """The first ``num_samples`` of a waveform tensor, zero-padded if shorter (inside ``tf.data``).

    Args:
        waveform: float tensor (samples,).
        num_samples: output length.

    Returns:
        float32 tensor (num_samples,).
    """
    import tensorflow as tf

    _positive(num_samples, "num_samples")
    waveform = waveform[:num_samples]
    # A record's length is unknown in the graph, the output's is not: say so, so that the
    # front end frames it as it frames a numpy clip (an unknown length takes keras.ops.stft's
    # framing, whose float32 rounding differs).
    return tf.ensure_shape(tf.pad(waveform, [[0, num_samples - tf.shape(waveform)[0]]]), [num_samples])


def audio_features(waveform, config=None):
    """The network input of a waveform inside ``tf.data``: ``log1p`` warped magnitude, (bins, frames, 1).

    The same computation as :mod:`avcourse.data.pipelines` feeds the models
    (its :func:`~avcourse.data.pipelines.log1p_features`, i.e.
    :func:`avcourse.audio.log1p_magnitude`: spectrogram, log-frequency warp,
    ``log1p``), so shards and the synthetic world give the same inputs (up to
    the float32 rounding of XLA, which compiles the front end's eager calls on
    TensorFlow: a few ulps). With the TensorFlow backend the
    :mod:`avcourse.audio` functions run in the ``tf.data`` graph (parallel,
    no Python); with another backend ``log1p_features`` itself runs through
    ``tf.numpy_function``.

    Args:
        waveform: float32 tensor (samples,) at the config's rate, e.g.
            ``crop_or_pad(record["waveform"], config.num_samples)``.
        config: an ``AudioConfig`` (default: the course's).

    Returns:
        float32 tensor (num_warped_bins, frames, 1); static when the waveform
        length is static.
    """
    import keras
    import tensorflow as tf

    config = config or audio.AudioConfig()
    if keras.backend.backend() == "tensorflow":
        features = audio.log1p_magnitude(waveform, config)[..., None]
    else:
        features = tf.numpy_function(
            lambda samples: pipelines.log1p_features(np.asarray(samples, np.float32), config), [waveform], tf.float32, stateful=False
        )
    frames = None
    if waveform.shape.rank == 1 and waveform.shape[0] is not None:
        frames = 1 + waveform.shape[0] // config.hop_length
    return tf.ensure_shape(features, (config.num_warped_bins, frames, 1))


def scene_inputs(record, config=None, *, frame_index=None, image_size=None):
    """Map a shard record to the inputs of :func:`avcourse.data.pipelines.scene_dataset`.

    Use as ``shard_dataset(...).map(scene_inputs)``: the CAVL, localization and
    counting models read ``{"image", "audio", "num_sources"}``.

    Args:
        record: an element of :func:`shard_dataset`.
        config: an ``AudioConfig``; the clip's first ``config.num_samples``
            samples are used (zero-padded if shorter).
        frame_index: which frame is the picture; None takes the middle one.
            Audio-only clips give a black picture.
        image_size: resize the picture to this side (this also gives the
            static shape that batching into a Keras model needs); None keeps
            the shard's size, unknown until run time.

    Returns:
        dict with ``image`` float32 (H, W, 3) in [0, 1], ``audio``
        (bins, frames, 1) and ``num_sources`` int32.
    """
    import tensorflow as tf

    config = config or audio.AudioConfig()
    if frame_index is not None and (isinstance(frame_index, bool) or not isinstance(frame_index, int) or frame_index < 0):
        raise ValueError(f"`frame_index` must be an int >= 0 or None; received {frame_index!r}.")
    if image_size is not None:
        _positive(image_size, "image_size")
    frames = record["frames"]
    count = tf.shape(frames)[0]
    index = count // 2 if frame_index is None else tf.minimum(frame_index, tf.maximum(count - 1, 0))
    image = tf.cond(
        count > 0,
        lambda: tf.gather(frames, tf.maximum(index, 0)),
        lambda: tf.zeros(tf.shape(frames)[1:], tf.uint8),
    )
    image = tf.cast(image, tf.float32) / 255.0
    if image_size is not None:
        image = tf.image.resize(image, (image_size, image_size))
    return {
        "image": image,
        "audio": audio_features(crop_or_pad(record["waveform"], config.num_samples), config),
        "num_sources": record["num_sources"],
    }
