"""Model losses under ``tf.distribute``: the scaling Keras expects from ``compute_loss``."""

import keras
from keras import ops


def per_replica(loss):
    """``loss`` divided by the number of replicas of the current ``tf.distribute`` strategy.

    Under a TensorFlow strategy each replica runs ``compute_loss`` on its share
    of the batch; Keras sums the replicas' gradients of what it returns and
    multiplies the logged loss back by the number of replicas. Keras' own
    losses divide their mean by that number (``reduction="sum_over_batch_size"``);
    a model whose ``compute_loss`` takes a plain mean must do the same, or its
    gradients are ``num_replicas`` times too large. On one device, and on the
    JAX backend (whose ``DataParallel`` computes the global mean), it returns
    ``loss`` unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * ops.cast(1.0 / replicas, loss.dtype)
