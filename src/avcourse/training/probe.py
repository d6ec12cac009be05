"""Linear probe of frozen audio features (CAVL Table 1 analogue).

How good are the features an audio trunk learned without labels? Freeze the
trunk, max-pool its feature map over time and frequency into one vector per
clip (:func:`extract_audio_features`), and train only a linear softmax
classifier on top (:func:`linear_probe`). A better trunk gives linearly
separable classes and a higher test accuracy; a random trunk is the baseline.

In the synthetic world the classes are the instruments of 1-source scenes,
e.g. ``world.instrument_names().index(world.make_scene(1, seed).source_labels[0])``.

Taught in: tutorials/05_counting.ipynb
"""

import keras
import numpy as np

from avcourse._validation import as_float_array, check_positive_int

__all__ = ["extract_audio_features", "linear_probe"]


def _pooled_trunk(trunk):
    trunk = getattr(trunk, "audio_trunk", trunk)  # a CAVLModel / SourceCounter gives its audio trunk
    if not isinstance(trunk, keras.Model) or len(trunk.outputs or []) != 1 or len(trunk.output.shape) != 4:
        raise ValueError(
            "`trunk` must be a functional keras.Model with one (B, h, w, C) output (e.g. `conv_trunk(...)`), "
            f"or a model with such an `audio_trunk`; received {type(trunk).__name__}."
        )
    pooled = keras.layers.GlobalMaxPooling2D()(trunk.output)
    return keras.Model(trunk.inputs, pooled, name=f"{trunk.name}_pooled")


def extract_audio_features(trunk, dataset_or_array, key="audio", batch_size=64):
    """Global-max-pooled trunk features of every clip, as numpy.

    Args:
        trunk: the frozen audio trunk (a ``conv_trunk`` functional model), or
            a model with an ``audio_trunk`` attribute (``CAVLModel``,
            ``SourceCounter``). Its weights are not changed.
        dataset_or_array: the spectrograms (N, bins, frames, 1) as a numpy
            array, a dict holding them under ``key``, or a batched
            ``tf.data.Dataset`` of such dicts (or of plain tensors).
        key: the entry holding the spectrograms in dicts.
        batch_size: batch size for array inputs.

    Returns:
        float32 numpy array (N, C): per clip, the maximum of each channel of
        the trunk's feature map.
    """
    model = _pooled_trunk(trunk)
    data = dataset_or_array
    if isinstance(data, dict):
        if key not in data:
            raise ValueError(f"`dataset_or_array` dict has no {key!r} entry; received keys {sorted(data)}.")
        data = data[key]
    if hasattr(data, "element_spec"):  # tf.data.Dataset
        spec = data.element_spec
        if isinstance(spec, dict):
            if key not in spec:
                raise ValueError(f"dataset elements have no {key!r} entry; received keys {sorted(spec)}.")
            data = data.map(lambda element: element[key])
            spec = spec[key]
        if len(spec.shape) == 3:  # unbatched examples
            data = data.batch(batch_size)
        return np.asarray(model.predict(data, verbose=0), np.float32)
    array = as_float_array(data, "dataset_or_array", ndim=4)
    return np.asarray(model.predict(array.astype(np.float32), batch_size=batch_size, verbose=0), np.float32)


def _labels(value, name, length):
    labels = np.asarray(value)
    if labels.ndim != 1 or len(labels) != length:
        raise ValueError(
            f"`{name}` must be a 1-D array with one label per feature row ({length}); received shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"`{name}` must hold integer class indices >= 0; received dtype {labels.dtype}.")
    return labels.astype(np.int64)


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    num_classes=None,
    epochs=100,
    batch_size=32,
    learning_rate=1e-2,
    seed=0,
):
    """Train a linear softmax classifier on frozen features; report train and test accuracy.

    The features are standardised with the training set's mean and standard
    deviation (constant features are left centred at 0), then
    ``keras.Sequential([Dense(num_classes, softmax)])`` is trained with Adam and
    sparse categorical cross-entropy via ``model.fit``. The run is
    deterministic given ``seed`` (seeded initialiser, one seeded shuffle of
    the training set, no shuffling inside ``fit``) and changes no global
    random state.

    Args:
        train_features: float array (N_train, C).
        train_labels: int array (N_train,) of class indices ``0 … num_classes − 1``.
        test_features: float array (N_test, C).
        test_labels: int array (N_test,).
        num_classes: number of classes; default ``1 + max(label)`` over both sets.
        epochs: training epochs.
        batch_size: mini-batch size.
        learning_rate: Adam's learning rate.
        seed: seed of the initialiser and of the shuffle.

    Returns:
        ``{"train_accuracy": float, "test_accuracy": float}``.

    Examples:
    >>> rng = np.random.default_rng(0)
    >>> labels = np.arange(40) % 2
    >>> features = rng.normal(size=(40, 3)) + 4.0 * labels[:, None]
    >>> linear_probe(features[:20], labels[:20], features[20:], labels[20:], epochs=20)["test_accuracy"]
    1.0
    """
    train_x = as_float_array(train_features, "train_features", ndim=2)
    test_x = as_float_array(test_features, "test_features", ndim=2)
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            "`train_features` and `test_features` must have the same width; "
            f"received {train_x.shape[1]} and {test_x.shape[1]}."
        )
    train_y = _labels(train_labels, "train_labels", len(train_x))
    test_y = _labels(test_labels, "test_labels", len(test_x))
    found = int(max(train_y.max(), test_y.max())) + 1
    num_classes = found if num_classes is None else check_positive_int(num_classes, "num_classes")
    if found > num_classes:
        raise ValueError(f"labels go up to {found - 1}, but `num_classes` is {num_classes}.")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")

    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    train_x = ((train_x - mean) / std).astype(np.float32)
    test_x = ((test_x - mean) / std).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(train_x))

    model = keras.Sequential(
        [
            keras.Input((train_x.shape[1],)),
            keras.layers.Dense(
                num_classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=seed)
            ),
        ],
        name="linear_probe",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(train_x[order], train_y[order], epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)

    def accuracy(x, y):
        return float(np.mean(model.predict(x, batch_size=256, verbose=0).argmax(axis=1) == y))

    return {"train_accuracy": accuracy(train_x, train_y), "test_accuracy": accuracy(test_x, test_y)}
