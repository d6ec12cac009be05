"""Shared argument handling of the losses."""

import keras
from keras import ops


def cast_target_like(prediction, target):
    """Cast ``prediction`` to a float dtype and ``target`` to it, with the prediction's shape.

    Keras hands targets of shape ``(batch, 1)`` next to predictions of shape
    ``(batch,)``; reshaping (same number of elements) avoids a silent
    ``(batch, batch)`` broadcast.

    Returns:
        ``(prediction, target)`` as tensors of one float dtype.
    """
    prediction = ops.convert_to_tensor(prediction)
    dtype = keras.backend.standardize_dtype(prediction.dtype)
    if not dtype.startswith(("float", "bfloat")):
        dtype = keras.config.floatx()
        prediction = ops.cast(prediction, dtype)
    target = ops.cast(ops.convert_to_tensor(target), dtype)
    if tuple(target.shape) != tuple(prediction.shape):
        target = ops.reshape(target, ops.shape(prediction))
    return prediction, target
