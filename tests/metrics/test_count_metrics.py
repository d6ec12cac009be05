"""Counting metrics (CAVL Table 2) against hand-computed values.

(Named ``test_count_metrics.py``: ``tests/models/test_counting.py`` exists and
the test folders have no ``__init__.py``, so two ``test_counting.py`` would clash.)
"""

import numpy as np
import pytest

from avcourse.metrics import count_accuracy, count_confusion, count_mae


def test_accuracy_by_hand():
    # 3 of 5 equal.
    assert count_accuracy([1, 2, 3, 4, 2], [1, 2, 4, 4, 1]) == pytest.approx(0.6)
    assert count_accuracy(np.array([[1, 2]]), np.array([1, 2])) == 1.0  # any shape, same number of counts
    assert count_accuracy([3.0], [3]) == 1.0  # whole-number floats are counts


def test_mae_by_hand():
    # |1-1| + |2-2| + |3-4| + |4-4| + |2-1| = 2 over 5.
    assert count_mae([1, 2, 3, 4, 2], [1, 2, 4, 4, 1]) == pytest.approx(0.4)
    # |1-4| + |4-1| = 6 over 2.
    assert count_mae([1, 4], [4, 1]) == pytest.approx(3.0)


def test_confusion_by_hand():
    matrix = count_confusion([1, 2, 3, 4, 2], [1, 2, 4, 4, 1], max_count=4)
    expected = np.zeros((5, 5), int)
    expected[1, 1] = 1
    expected[2, 2] = 1
    expected[3, 4] = 1
    expected[4, 4] = 1
    expected[2, 1] = 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64


def test_confusion_folds_large_counts_into_the_last_bin():
    matrix = count_confusion([0, 7, 2], [9, 3, 2], max_count=3)
    expected = np.zeros((4, 4), int)
    expected[0, 3] = 1  # predicted 9 -> "3 or more"
    expected[3, 3] = 1  # true 7, predicted 3
    expected[2, 2] = 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == 3


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: count_accuracy([1, 2], [1]), "same number of counts"),
        (lambda: count_mae([1, 2], [1.5, 2]), "`y_pred` must hold whole-number counts"),
        (lambda: count_accuracy([-1], [1]), "`y_true` must hold counts >= 0"),
        (lambda: count_mae([], []), "`y_true` is empty"),
        (lambda: count_accuracy([1, np.nan], [1, 1]), "NaN or Inf"),
        (lambda: count_confusion([1], [1], max_count=0), "`max_count` must be an integer >= 1"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()
