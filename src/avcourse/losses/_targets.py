"""Shared argument handling of the losses."""

import keras
from keras import ops

from avcourse._validation import check_same_size


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
    prediction = ops.convert_to_tensor(prediction)
    dtype = keras.backend.standardize_dtype(prediction.dtype)
    if not dtype.startswith(("float", "bfloat")):
        _check_real(dtype, names[0])
        dtype = keras.config.floatx()
        prediction = ops.cast(prediction, dtype)
    target = ops.convert_to_tensor(target)
    _check_real(keras.backend.standardize_dtype(target.dtype), names[1])
    check_same_size(prediction, target, names[0], names[1])
    target = ops.cast(target, dtype)
    if tuple(target.shape) != tuple(prediction.shape):
        target = ops.reshape(target, ops.shape(prediction))
    return prediction, target


def _check_real(dtype, name):
    if not dtype.startswith(("float", "bfloat", "int", "uint", "bool")):
        raise ValueError(f"`{name}` must have a real numeric dtype; received dtype {dtype}.")
