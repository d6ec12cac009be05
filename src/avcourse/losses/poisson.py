"""Poisson negative log-likelihood for source counting (CAVL Eq 6) and the predicted count.

Taught in: tutorials/05_counting.ipynb
"""

import keras
import numpy as np
from keras import ops

from avcourse._api import register
from avcourse._validation import check_concrete, check_nonnegative_int, check_number
from avcourse.losses._targets import cast_target_like

__all__ = ["PoissonNLL", "poisson_mode", "poisson_nll"]


def _check_epsilon(epsilon):
    check_number(epsilon, "epsilon", minimum=0, exclusive_minimum=True)
    return epsilon


def _nll(y_true, rate, epsilon, names):
    """The per-element NLL; ``names`` = the user's names for ``(y_true, rate)``."""
    check_concrete(y_true, names[0], low=0, note=" (counts)")
    check_concrete(rate, names[1], low=0, note=" (a Poisson rate)")
    rate, y_true = cast_target_like(rate, y_true, names[::-1])
    return rate - y_true * ops.log(rate + epsilon)


def poisson_nll(*, y_true, rate, epsilon=1e-7):
    """Poisson negative log-likelihood without its constant ``ln(y!)`` (Eq 6).

    For a count ``y`` and a predicted rate ``λ > 0``,
    ``-ln P(y | λ) = λ - y ln λ + ln(y!)``; the last term does not depend on
    the network and is dropped, as in CAVL and ``keras.losses.Poisson``.

    Formula:
    ```
    loss = λ - y · ln(λ + epsilon)
    ```

    ``epsilon`` keeps the value and the gradient (``1 - y / (λ + epsilon)``)
    finite when a rate reaches 0; for ``λ >> epsilon`` the change is a
    relative ``epsilon / λ`` inside the log, negligible.

    The tensors are keyword-only (the package's rule for losses that compare a
    prediction with a target); :class:`PoissonNLL` takes ``(y_true, y_pred)``.

    Args:
        y_true: the true counts ``y`` (ints or floats ``>= 0``), with the same
            number of elements as ``rate``.
        rate: float tensor ``λ >= 0``, e.g. a softplus output, shape ``(batch,)``
            or ``(batch, 1)``.
        epsilon: float ``> 0`` added inside the log (default ``1e-7``, the
            Keras convention); 0 is refused, since a zero rate would then give
            an infinite loss.

    Returns:
        Float tensor with the shape of ``rate``, one value per element (not
        reduced; :class:`PoissonNLL` averages it).

    Raises:
        ValueError: ``epsilon`` is not a finite number > 0, the element counts
            differ, or (for concrete inputs: numpy arrays, eager tensors) an
            input is empty, holds NaN/Inf or negative values. Inside a compiled
            graph values are not checked; a NaN rate gives a NaN loss.

    Examples:
        >>> import numpy as np
        >>> round(float(poisson_nll(y_true=np.array([2.0]), rate=np.array([2.0]))[0]), 4)
        0.6137

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 6.
    """
    return _nll(y_true, rate, _check_epsilon(epsilon), ("y_true", "rate"))


@register
class PoissonNLL(keras.losses.Loss):
    """Poisson negative log-likelihood (CAVL Eq 6) as a Keras loss.

    ``y_true`` is the count ``y`` and ``y_pred`` the predicted rate ``λ``; the
    per-sample value is :func:`poisson_nll`, averaged over the batch by the
    default reduction.

    Formula:
    ```
    loss = mean(λ - y · ln(λ + epsilon))
    ```

    Args:
        epsilon: float ``> 0`` added inside the log (default ``1e-7``).
        reduction: Keras loss reduction (default ``"sum_over_batch_size"``).
        name: the loss's name (default ``"poisson_nll"``).
        dtype: the loss's computation dtype (default ``None``, floatx).

    Examples:
        >>> round(float(PoissonNLL()([2.0], [2.0])), 4)
        0.6137

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, Eq 6.
    """

    def __init__(self, epsilon=1e-7, reduction="sum_over_batch_size", name="poisson_nll", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = _check_epsilon(epsilon)

    def call(self, y_true, y_pred):
        return _nll(y_true, y_pred, self.epsilon, ("y_true", "y_pred"))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def poisson_mode(rate, max_count=10):
    """The most likely count under a Poisson rate: ``argmax_y P(y | λ)``.

    Evaluates ``ln P(y | λ) + λ = y ln λ - ln(y!)`` for ``y = 0 … max_count``
    and takes the argmax, so the answer is exact for every ``λ`` (the closed
    form is ``⌊λ⌋``). At an integer ``λ >= 1`` both ``λ - 1`` and ``λ`` are
    modes; the smaller one is returned when the two scores tie in floating
    point, either may be returned within rounding of a tie. ``λ = 0`` gives 0;
    rates above ``max_count`` give ``max_count`` (the search range is capped).

    Args:
        rate: float tensor ``λ >= 0`` of any shape.
        max_count: int ``>= 0``, the largest count considered (default 10).

    Returns:
        int32 tensor with the shape of ``rate``.

    Raises:
        ValueError: ``max_count`` is not an integer >= 0, or (for concrete
            inputs: numpy arrays, eager tensors) ``rate`` is empty, holds NaN,
            Inf or negative values. Inside a compiled graph values are not
            checked: a NaN or negative rate gives the count -1 (never a
            plausible 0), which the counting metrics refuse.

    Examples:
        >>> import numpy as np
        >>> [int(c) for c in poisson_mode(np.array([0.3, 1.5, 2.7, 40.0]), max_count=10)]
        [0, 1, 2, 10]

    References:
        - Hu et al., "Curriculum Audiovisual Learning", arXiv:2001.09414, 2020, §3.2 (counting).
    """
    max_count = check_nonnegative_int(max_count, "max_count")
    check_concrete(rate, "rate", low=0, note=" (a Poisson rate)")
    rate = ops.convert_to_tensor(rate)
    dtype = keras.backend.standardize_dtype(rate.dtype)
    if not dtype.startswith(("float", "bfloat")) or dtype in ("float16", "bfloat16"):
        dtype = "float32"
        rate = ops.cast(rate, dtype)
    counts = np.arange(max_count + 1, dtype="float64")
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.maximum(counts[1:], 1.0)))])
    info = np.finfo(dtype)
    # NaN (and negative) rates go to tiny here and are marked -1 below; an infinite rate is capped.
    safe = ops.minimum(ops.where(rate > info.tiny, rate, info.tiny), info.max)
    log_rate = ops.expand_dims(ops.log(safe), -1)  # (..., 1)
    scores = counts.astype(dtype) * log_rate - log_factorial.astype(dtype)  # (..., max_count + 1)
    mode = ops.cast(ops.argmax(scores, axis=-1), "int32")
    valid = ops.logical_not(ops.logical_or(ops.isnan(rate), rate < 0))
    return ops.where(valid, mode, -1)
