"""What every model of the course shares: one rule for its training loss, and input-shape checks.

Every model trained with ``model.fit`` (:class:`~avcourse.models.CAVLModel`,
:class:`~avcourse.models.SourceCounter`,
:class:`~avcourse.models.UNetSeparator`,
:class:`~avcourse.models.VisuallyGuidedSeparator`,
:class:`~avcourse.models.CCoLModel`) puts :class:`ModelLoss` before
``keras.Model`` among its bases and writes only its paper's loss, one value
per example (:meth:`ModelLoss.example_losses`). The mixin's ``compute_loss``
does the rest, the same way for all of them:

1. a ``loss`` given to ``compile`` replaces the model's own loss (Keras' rule,
   on the target :meth:`ModelLoss.loss_target` gives);
2. otherwise the loss is Keras' ``"sum_over_batch_size"`` reduction of the
   per-example values: ``sum(sample_weight · values) / values.size`` (the
   plain mean without ``sample_weight``);
3. every loss in ``model.losses`` (``add_loss``, weight regularizers) is added;
4. under a TensorFlow distribution strategy the sum is divided by the number
   of replicas (:func:`per_replica_loss`), as Keras' own losses are.
"""

import keras
from keras import ops

from avcourse._validation import check_positive_int

__all__ = ["ModelLoss", "check_input_shape", "per_replica_loss", "static_shape", "weighted_mean"]


def per_replica_loss(loss, model):
    """``loss`` divided by the number of replicas ``model`` trains on.

    Under a TensorFlow strategy each replica runs ``compute_loss`` on its share
    of the batch; Keras sums the replicas' gradients of what it returns and
    multiplies the logged loss back by the number of replicas. Keras' own
    losses divide their mean by that number (``reduction="sum_over_batch_size"``);
    a model whose ``compute_loss`` takes a plain mean must do the same, or its
    gradients are ``num_replicas`` times too large.

    The replica count is read from the model's ``distribute_strategy`` (the
    TensorFlow trainer's property), so no backend API is called here: on one
    device, and on the JAX backend (whose models have no such property and whose
    ``DataParallel`` computes the global mean), ``loss`` comes back unchanged.
    """
    strategy = getattr(model, "distribute_strategy", None)
    replicas = getattr(strategy, "num_replicas_in_sync", 1)
    return loss if replicas == 1 else loss * ops.cast(1.0 / replicas, loss.dtype)


def weighted_mean(values, sample_weight=None):
    """Keras' ``"sum_over_batch_size"`` reduction: ``sum(w · values) / values.size``.

    Args:
        values: per-example loss values, shape (B, ...) (at least rank 1).
        sample_weight: optional (B,) or (B, 1) weights, one per example,
            broadcast over the other axes of ``values``.

    Returns:
        scalar tensor; the plain mean of ``values`` when ``sample_weight`` is None.

    Examples:
    >>> import numpy as np
    >>> float(weighted_mean(np.array([[1.0, 3.0], [2.0, 2.0]]), np.array([1.0, 0.0])))
    1.0
    """
    values = ops.convert_to_tensor(values)
    if sample_weight is None:
        return ops.mean(values)
    weight = ops.reshape(ops.cast(sample_weight, values.dtype), (-1,) + (1,) * (len(values.shape) - 1))
    return ops.mean(values * weight)


class ModelLoss:
    """Mixin giving a ``keras.Model`` the course's one ``compute_loss`` rule (see the module docstring).

    Put it first among the bases, ``class MyModel(ModelLoss, keras.Model)``,
    and implement :meth:`example_losses`; override :meth:`loss_target` when
    the target of a compiled loss is not ``y`` itself.
    """

    def example_losses(self, x, y, y_pred):
        """The model's own loss, one value per example: a (B, ...) tensor whose mean is the loss.

        Args:
            x: the batch's inputs.
            y: the batch's targets (``None`` when the loss needs none).
            y_pred: the model's outputs on ``x``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `example_losses(x, y, y_pred)`.")

    def loss_target(self, x, y):
        """The ``y`` a loss given to ``compile`` compares the outputs with (default ``y``)."""
        return y

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._compile_loss is not None:
            return super().compute_loss(x, self.loss_target(x, y), y_pred, sample_weight, training=training)
        values = ops.convert_to_tensor(self.example_losses(x, y, y_pred))
        if keras.backend.standardize_dtype(values.dtype) in ("float16", "bfloat16"):
            values = ops.cast(values, "float32")  # reduce in float32 under a mixed precision policy, as Keras' losses
        loss = weighted_mean(values, sample_weight)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        return per_replica_loss(loss, self)


def check_input_shape(shape, name, default=None, channels=None):
    """A model's input shape checked: ``shape`` (``default`` when None) as a tuple of 3 positive ints.

    Args:
        shape: (rows, columns, channels), or None.
        name: the argument's name, used in error messages.
        default: the shape to use when ``shape`` is None (e.g. a trunk's).
        channels: if given, the number of channels the shape must end with.

    Returns:
        tuple ``(rows, columns, channels)`` of Python ints.

    Examples:
    >>> check_input_shape([64, 44, 1], "audio_shape", channels=1)
    (64, 44, 1)
    """
    if shape is None and default is not None:
        shape = default
    if channels is None:
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 3:
            raise ValueError(f"`{name}` must be a tuple (rows, columns, channels) of 3 positive integers; received {shape!r}.")
    elif isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 3 or shape[-1] != channels:
        raise ValueError(f"`{name}` must be (rows, columns, {channels}) with positive integer sizes; received {shape!r}.")
    return tuple(check_positive_int(size, f"{name}[{index}]") for index, size in enumerate(shape))


def static_shape(tensor):
    """The static shape of a tensor as a tuple of ints, ``None`` for unknown sizes."""
    return tuple(None if d is None else int(d) for d in tensor.shape)
