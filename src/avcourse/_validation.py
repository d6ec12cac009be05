"""Input checks shared by the public functions.

Every check raises ``ValueError`` that names the argument and says what was
expected and what was received, so that a student sees at once what went wrong.
"""

import numpy as np


def as_float_array(value, name, *, ndim=None, min_ndim=None, allow_empty=False):
    """Return ``value`` as a floating numpy array after checking it.

    Args:
        value: array-like to check.
        name: the argument's name, used in error messages.
        ndim: exact rank expected, or ``None``.
        min_ndim: minimum rank expected, or ``None``.
        allow_empty: whether an array with zero elements is accepted.
    """
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and other non-arrays
        raise ValueError(f"`{name}` must be array-like; received {type(value).__name__}: {error}") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating)
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"`{name}` must have a real numeric dtype; received dtype {array.dtype}.")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"`{name}` must have rank {ndim}; received rank {array.ndim} with shape {array.shape}.")
    if min_ndim is not None and array.ndim < min_ndim:
        raise ValueError(
            f"`{name}` must have rank >= {min_ndim}; received rank {array.ndim} with shape {array.shape}."
        )
    if array.size == 0 and not allow_empty:
        raise ValueError(f"`{name}` is empty (shape {array.shape}); expected at least one element.")
    check_finite(array, name)
    return array


def check_finite(array, name):
    """Raise if ``array`` holds NaN or Inf."""
    array = np.asarray(array)
    if array.size and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"`{name}` contains {bad} NaN or Inf value(s); expected only finite values.")


def check_positive_int(value, name):
    """Raise unless ``value`` is an int > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")
    return int(value)


def check_nonnegative_int(value, name):
    """Raise unless ``value`` is an int >= 0 (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0; received {value!r}.")
    return int(value)


def check_not_silent(waveform, name, threshold=1e-5):
    """Raise if ``waveform`` carries no signal (peak amplitude <= ``threshold``)."""
    peak = float(np.max(np.abs(waveform))) if np.size(waveform) else 0.0
    if peak <= threshold:
        raise ValueError(
            f"`{name}` is silent (peak amplitude {peak:.2e} <= {threshold:.0e}); expected audible audio."
        )
