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
a global pool and one Dense layer of logits; only the trunk's weights are kept
(and, for :class:`~avcourse.models.CAVLModel`, optionally the logits layer as
the initial projection, see :func:`pretrain_trunk`). The pool is a max by
default (one distinctive cell of the feature map suffices, as in a VGG
classifier's final pooling); an average makes every cell carry the class,
which is what a CAVL audio centre, a mean over all time-frequency cells,
needs. With ``label_key="visible_labels"`` and ``multi_label=True`` the
pictures show several instruments and the classifier names all of them (a
sigmoid per class, like multi-label image tagging): under the max-pool every
object's cells must fire for their own class and no background cell may,
which is what the visual clustering needs.

Taught in: tutorials/04_localization.ipynb (why it is needed; the notebook trains from scratch),
used by ``avcourse reproduce cavl`` (:mod:`avcourse.reproduce.cavl`).
"""

import keras

from avcourse._validation import check_positive_int

__all__ = ["MODALITIES", "POOLINGS", "pretrain_trunk", "trunk_classifier"]

MODALITIES = ("audio", "image")


POOLINGS = ("max", "average")


def trunk_classifier(trunk, num_classes, pooling="max"):
    """``trunk`` → global pool → Dense(num_classes) logits, as a ``keras.Sequential``.

    The trunk is shared, not copied: training the classifier trains the trunk.
    ``pooling`` is ``"max"`` (GlobalMaxPool) or ``"average"`` (GlobalAveragePool).
    """
    check_positive_int(num_classes, "num_classes")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}; received {pooling!r}.")
    pool = keras.layers.GlobalMaxPooling2D(name="pool") if pooling == "max" else keras.layers.GlobalAveragePooling2D(name="pool")
    return keras.Sequential([trunk, pool, keras.layers.Dense(num_classes, name="logits")], name=f"{trunk.name}_classifier")


def _inputs_and_labels(dataset, modality, argument, label_key="labels"):
    """``(inputs, labels)`` batches of a labelled scene dataset; ValueError naming ``argument`` without labels."""
    if not isinstance(dataset.element_spec, dict) or label_key not in dataset.element_spec:
        raise ValueError(f"`{argument}` batches must hold `{label_key}`; build it with scene_dataset(..., with_labels=True).")
    return dataset.map(lambda batch: (batch[modality], batch[label_key]))


def pretrain_trunk(
    trunk,
    dataset,
    *,
    modality,
    epochs=15,
    learning_rate=1e-3,
    validation_data=None,
    verbose=0,
    pooling="max",
    label_key="labels",
    multi_label=False,
    callbacks=None,
):
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
        pooling: the classifier's global pool, ``"max"`` or ``"average"``.
        label_key: ``"labels"`` (the sounding instruments) or
            ``"visible_labels"`` (every instrument in the picture).
        multi_label: a sigmoid per class with binary cross-entropy (several
            instruments a picture; ``accuracy`` is then the per-class binary
            accuracy at logit 0) instead of a softmax over classes.
        callbacks: Keras callbacks for ``fit`` (e.g.
            :class:`avcourse.notebook.EpochProgress`).

    Returns:
        the ``keras.callbacks.History`` of the classifier (``loss``,
        ``accuracy``, and ``val_*`` with ``validation_data``); its ``model``
        is the classifier, whose ``"logits"`` layer
        :meth:`~avcourse.models.CAVLModel` can take as its projection.

    Raises:
        ValueError: for an unknown ``modality``, a non-positive ``epochs`` or
            a dataset without ``labels``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"`modality` must be one of {MODALITIES}; received {modality!r}.")
    check_positive_int(epochs, "epochs")
    train = _inputs_and_labels(dataset, modality, "dataset", label_key)
    validation = (
        _inputs_and_labels(validation_data, modality, "validation_data", label_key) if validation_data is not None else None
    )
    classifier = trunk_classifier(trunk, int(dataset.element_spec[label_key].shape[-1]), pooling)
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    else:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    classifier.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[accuracy])
    return classifier.fit(train, epochs=epochs, validation_data=validation, verbose=verbose, callbacks=callbacks)
