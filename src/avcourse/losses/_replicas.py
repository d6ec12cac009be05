"""Model losses under ``tf.distribute``: the scaling Keras expects from ``compute_loss``."""

from keras import ops


def per_replica(loss, model):
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
