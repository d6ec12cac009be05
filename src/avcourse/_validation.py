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


def check_choice(value, name, choices):
    """Raise unless ``value`` is one of ``choices`` (by ``==``; lists, dicts, sets and arrays never match)."""
    choices = tuple(choices)
    try:
        known = value in choices
    except Exception:  # e.g. a numpy array compared with strings
        known = False
    if not known or isinstance(value, (list, dict, set, np.ndarray)):
        raise ValueError(f"`{name}` must be one of {choices}; received {value!r}.")
    return value


def check_bool(value, name):
    """Raise unless ``value`` is True or False (numpy bools too; 0/1 and strings are not flags)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False; received {value!r}.")
    return bool(value)


def check_number(value, name, *, minimum=None, maximum=None, exclusive_minimum=False, exclusive_maximum=False):
    """Return ``value`` as a float after checking it is a finite real number (not a bool) in range.

    ``minimum``/``maximum`` bound it (inclusive unless ``exclusive_*``); the
    message states the range, e.g. "`margin` must be a number > 0; received 0".
    """
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"{'<' if exclusive_maximum else '<='} {maximum}")
    expected = f"`{name}` must be a {'number ' + ' and '.join(bounds) if bounds else 'finite number'}; received {value!r}."
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(expected)
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(expected[:-1] + " (not finite).")
    if minimum is not None and (number <= minimum if exclusive_minimum else number < minimum):
        raise ValueError(expected)
    if maximum is not None and (number >= maximum if exclusive_maximum else number > maximum):
        raise ValueError(expected)
    return number


# --- layers and losses: concrete (eager) inputs vs symbolic ones -------------------
#
# Layers and losses check the *values* of their inputs (NaN, range, empty) only
# when those values are known at the call: numpy arrays, Python lists, eager
# tensors. Inside a compiled graph (``tf.function``, ``jax.jit``, a Keras
# functional model) they are not checked per step; the computation then lets a
# NaN reach its output instead of turning it into a finite number.

_SYMBOLIC_CLASSES = ("KerasTensor", "SymbolicTensor", "Tracer")


def is_symbolic(value):
    """Whether ``value`` is a tensor whose values are not known yet.

    A Keras functional input, a ``tf.function`` graph tensor or a JAX tracer
    (``jax.jit``, ``jax.grad``).
    """
    return any(cls.__name__ in _SYMBOLIC_CLASSES for cls in type(value).__mro__)


def concrete_values(value):
    """``value`` in a form numpy can check when its values are known now, else ``None``.

    Numpy arrays, Python numbers and lists come back as they are; eager
    TensorFlow tensors, concrete JAX arrays and PyTorch tensors as numpy
    arrays; symbolic tensors (see :func:`is_symbolic`) give ``None``.
    """
    if value is None or is_symbolic(value):
        return None
    if isinstance(value, (list, tuple)):
        return None if any(concrete_values(item) is None for item in value) else value
    if isinstance(value, (np.ndarray, np.generic, int, float, complex, str, bytes)):
        return value
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    if hasattr(value, "__array__"):
        try:
            return np.asarray(value)
        except Exception:  # a graph tensor of an older TensorFlow
            return None
    return value  # anything else: the numpy checks reject it with the argument's name


def check_concrete(value, name, *, low=None, high=None, note="", allow_empty=False):
    """Check a layer's or loss's input whose values are known now; ``None`` when symbolic.

    Concrete inputs must be real-valued, finite, non-empty (unless
    ``allow_empty``) and within ``[low, high]`` (a bound of ``None`` is open);
    ``note`` is appended to the expectation in the message.

    Returns:
        the values as a floating numpy array, or ``None`` for a symbolic input.
    """
    values = concrete_values(value)
    if values is None:
        return None
    array = as_float_array(values, name, allow_empty=allow_empty)
    check_in_range(array, name, low=low, high=high, note=note)
    return array


def check_in_range(array, name, *, low=None, high=None, note=""):
    """Raise unless every value of ``array`` lies in ``[low, high]`` (a bound of ``None`` is open)."""
    array = np.asarray(array)
    if array.size == 0 or (low is None and high is None):
        return array
    smallest, largest = array.min(), array.max()
    if (low is not None and smallest < low) or (high is not None and largest > high):
        if high is None:
            expected = f">= {low:g}"
        elif low is None:
            expected = f"<= {high:g}"
        else:
            expected = f"in [{low:g}, {high:g}]"
        raise ValueError(f"`{name}` must be {expected}{note}; received values in [{smallest:g}, {largest:g}].")
    return array


def check_same_size(first, second, first_name, second_name):
    """Raise unless two arrays (or static shapes with ``None`` for unknown) hold the same number of elements."""
    sizes = []
    for item in (first, second):
        shape = tuple(getattr(item, "shape", np.shape(item)))
        sizes.append(None if any(d is None for d in shape) else int(np.prod(shape, dtype=np.int64)))
    if sizes[0] is not None and sizes[1] is not None and sizes[0] != sizes[1]:
        raise ValueError(
            f"`{second_name}` must have as many elements as `{first_name}` ({sizes[0]}); "
            f"received {sizes[1]} (shape {tuple(second.shape)})."
        )


def float_tensor(value, name, dtype=None):
    """``value`` as a backend tensor of a float dtype; only real numbers pass.

    Float tensors keep their dtype unless ``dtype`` is given; integer and bool
    ones are cast to ``dtype`` (default ``keras.config.floatx()``). Complex,
    string and other dtypes raise a ``ValueError`` naming the argument.
    """
    import keras

    tensor = keras.ops.convert_to_tensor(value)
    kind = keras.backend.standardize_dtype(tensor.dtype)
    if not kind.startswith(("float", "bfloat", "int", "uint", "bool")):
        raise ValueError(f"`{name}` must have a real numeric dtype; received dtype {kind}.")
    if dtype is None and not kind.startswith(("float", "bfloat")):
        dtype = keras.config.floatx()
    return tensor if dtype is None or dtype == kind else keras.ops.cast(tensor, dtype)


def check_finite_tensor(tensor, name):
    """Raise on NaN/Inf in a tensor whose values are known now (eager); symbolic ones pass, so NaN propagates.

    The test runs on the tensor's device; only one boolean comes back unless a value is bad.
    """
    import keras

    if not is_symbolic(tensor) and not bool(keras.ops.all(keras.ops.isfinite(tensor))):
        check_finite(keras.ops.convert_to_numpy(tensor), name)
    return tensor
