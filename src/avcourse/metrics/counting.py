"""Counting metrics: accuracy, mean absolute error and the confusion matrix (CAVL Table 2).

The inputs are whole-number counts: the true number of sources and the
predicted one (for :class:`avcourse.models.SourceCounter`, the most likely
count ``argmax_y P(y | λ)`` from ``predict_counts``, not the rate ``λ``).
Numpy only.

Taught in: tutorials/05_counting.ipynb
"""

import numpy as np

from avcourse._validation import as_float_array

__all__ = ["count_accuracy", "count_confusion", "count_mae"]


def _counts(value, name):
    array = as_float_array(value, name, allow_empty=False).reshape(-1)
    if np.any(array < 0):
        raise ValueError(f"`{name}` must hold counts >= 0; received a minimum of {array.min()}.")
    if np.any(array != np.round(array)):
        raise ValueError(
            f"`{name}` must hold whole-number counts; received e.g. {array[array != np.round(array)][0]!r} "
            "(for a Poisson rate λ, take the predicted count with `avcourse.losses.poisson_mode`)."
        )
    return array.astype(np.int64)


def _pair(y_true, y_pred):
    true, pred = _counts(y_true, "y_true"), _counts(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same number of counts; received {true.size} and {pred.size}."
        )
    return true, pred


def count_accuracy(y_true, y_pred):
    """Fraction of clips whose predicted count equals the true count.

    Args:
        y_true: true counts, array-like of whole numbers ``>= 0`` (any shape).
        y_pred: predicted counts, the same number of elements.

    Returns:
        float in [0, 1].

    Examples:
    >>> count_accuracy([1, 2, 3, 4], [1, 2, 2, 4])
    0.75
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.mean(true == pred))


def count_mae(y_true, y_pred):
    """Mean absolute error ``mean(|predicted − true|)`` of the counts.

    Args:
        y_true: true counts, array-like of whole numbers ``>= 0``.
        y_pred: predicted counts, the same number of elements.

    Returns:
        float ``>= 0``.

    Examples:
    >>> count_mae([1, 2, 3, 4], [1, 3, 1, 4])
    0.75
    """
    true, pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(true - pred)))


def count_confusion(y_true, y_pred, max_count=4):
    """Confusion matrix of counts: ``matrix[t, p]`` = clips with true count ``t`` predicted as ``p``.

    Rows and columns are the counts ``0 … max_count``; counts above
    ``max_count`` fall into the last row or column (read it as
    "``max_count`` or more").

    Args:
        y_true: true counts, array-like of whole numbers ``>= 0``.
        y_pred: predicted counts, the same number of elements.
        max_count: the largest count with its own row and column (4 for the
            synthetic world's 1-4 sources).

    Returns:
        int64 numpy array (max_count + 1, max_count + 1); its sum is the
        number of clips.

    Examples:
    >>> count_confusion([1, 1, 2, 6], [1, 2, 2, 3], max_count=3).tolist()
    [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    """
    if isinstance(max_count, bool) or not isinstance(max_count, (int, np.integer)) or max_count < 1:
        raise ValueError(f"`max_count` must be an integer >= 1; received {max_count!r}.")
    true, pred = _pair(y_true, y_pred)
    matrix = np.zeros((max_count + 1, max_count + 1), np.int64)
    np.add.at(matrix, (np.minimum(true, max_count), np.minimum(pred, max_count)), 1)
    return matrix
