"""Shared argument handling of the losses."""

import keras
from keras import ops

from avcourse._validation import check_same_size, float_tensor


def cast_target_like(prediction, target, names=("y_pred", "y_true")):
    """Cast ``prediction`` to a float dtype and ``target`` to it, with the prediction's shape.

    Keras hands targets of shape ``(batch, 1)`` next to predictions of shape
    ``(batch,)``; reshaping (same number of elements) avoids a silent
    ``(batch, batch)`` broadcast.

    Args:
        prediction: the prediction (its dtype wins if floating).
        target: the target, with as many elements.
        names: the arguments' names ``(prediction, target)`` for error messages.

    Returns:
        ``(prediction, target)`` as tensors of one float dtype.

    Raises:
        ValueError: a non-numeric dtype, or static element counts that differ.
    """
    prediction = float_tensor(prediction, names[0])
    dtype = keras.backend.standardize_dtype(prediction.dtype)
    target = float_tensor(target, names[1], dtype)
    check_same_size(prediction, target, names[0], names[1])
    if tuple(target.shape) != tuple(prediction.shape):
        target = ops.reshape(target, ops.shape(prediction))
    return prediction, target

