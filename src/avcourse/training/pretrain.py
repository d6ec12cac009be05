"""Supervised trunk pretraining: the synthetic world's stand-in for ImageNet and AudioSet.

CAVL does not learn its trunks from scratch: the visual trunk is VGG16
pretrained on ImageNet classification and the audio trunk VGGish pretrained on
a large labelled audio set (CAVL §4.1, DESIGN §3.2). Neither can be downloaded
here, so the course pretrains its small trunks the same way on data it can
make: instrument classification of one-object pictures and of solo clips drawn
from the synthetic world (:func:`avcourse.data.pipelines.scene_dataset` with
``with_labels=True``), from seeds no CAVL stage draws.

Like ImageNet labels, these say *what* is in a picture, never *where*: no box
or map enters pretraining, and the CAVL stages that follow still learn the
audio-visual correspondence from unlabelled pairs. The classifier is the trunk,
a global max-pool (so one distinctive cell of the feature map suffices, as in a
VGG classifier's final pooling) and one Dense layer of logits; only the trunk's
weights are kept.

Taught in: tutorials/04_localization.ipynb (why it is needed; the notebook trains from scratch),
used by ``avcourse reproduce cavl`` (:mod:`avcourse.reproduce.cavl`).
"""

import keras

from avcourse._validation import check_positive_int

MODALITIES = ("audio", "image")


def trunk_classifier(trunk, num_classes):
    """``trunk`` → GlobalMaxPool → Dense(num_classes) logits, as a ``keras.Sequential``.

    The trunk is shared, not copied: training the classifier trains the trunk.
    """
    check_positive_int(num_classes, "num_classes")
    return keras.Sequential(
        [trunk, keras.layers.GlobalMaxPooling2D(name="pool"), keras.layers.Dense(num_classes, name="logits")],
        name=f"{trunk.name}_classifier",
    )


def _inputs_and_labels(dataset, modality, argument):
    """``(inputs, labels)`` batches of a labelled scene dataset; ValueError naming ``argument`` without labels."""
    if not isinstance(dataset.element_spec, dict) or "labels" not in dataset.element_spec:
        raise ValueError(f"`{argument}` batches must hold `labels`; build it with scene_dataset(..., with_labels=True).")
    return dataset.map(lambda batch: (batch[modality], batch["labels"]))


def pretrain_trunk(trunk, dataset, *, modality, epochs=15, learning_rate=1e-3, validation_data=None, verbose=0):
    """Train ``trunk`` in place as an instrument classifier with ``model.fit``.

    Args:
        trunk: a trunk from :func:`avcourse.models.backbones.conv_trunk`
            (e.g. ``CAVLModel(...).audio_trunk`` or a fresh one).
        dataset: batched ``scene_dataset(..., with_labels=True)`` of
            one-source scenes: the sounding instrument's one-hot ``labels``.
        modality: ``"audio"`` (the trunk reads ``audio``) or ``"image"``.
        epochs: training epochs.
        learning_rate: Adam learning rate.
        validation_data: optional dataset like ``dataset`` (held-out scenes)
            whose accuracy is reported in the history as ``val_accuracy``.
        verbose: ``fit`` verbosity.

    Returns:
        the ``keras.callbacks.History`` of the classifier (``loss``,
        ``accuracy``, and ``val_*`` with ``validation_data``).

    Raises:
        ValueError: for an unknown ``modality``, a non-positive ``epochs`` or
            a dataset without ``labels``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"`modality` must be one of {MODALITIES}; received {modality!r}.")
    check_positive_int(epochs, "epochs")
    train = _inputs_and_labels(dataset, modality, "dataset")
    validation = _inputs_and_labels(validation_data, modality, "validation_data") if validation_data is not None else None
    classifier = trunk_classifier(trunk, int(dataset.element_spec["labels"].shape[-1]))
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return classifier.fit(train, epochs=epochs, validation_data=validation, verbose=verbose)
