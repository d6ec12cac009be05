"""Training on several devices or machines with the engines Keras already has.

Four strategies, chosen by name (``avcourse train --strategy ...``):

* ``"default"``: one device (the first GPU, else the CPU).
* ``"mirrored"``: ``tf.distribute.MirroredStrategy``, every GPU of this machine
  (or, without GPUs, every logical CPU device, which is how the tests run it).
  TensorFlow backend.
* ``"multi_worker"``: ``tf.distribute.MultiWorkerMirroredStrategy``, several
  machines (or processes) described by the ``TF_CONFIG`` environment
  variable. TensorFlow backend; create it before any other TensorFlow op.
* ``"jax_data_parallel"``: ``keras.distribution.DataParallel`` over every JAX
  device of this host. JAX backend.

Batch sizes in the recipes are **global**: a step consumes ``batch_size``
examples in all, split evenly over the replicas, so each replica computes
``batch_size / num_replicas`` of them (:func:`per_replica_batch_size`
checks that this divides). Keras divides each replica's mean loss by the
number of replicas before the gradients are summed, so a loss that is a mean
over examples gives the same step as on one device.

One difference remains under the TensorFlow strategies: a loss that pairs
examples *inside* the batch (CAVL's mismatched pairs, sample ``i``'s picture
with sample ``i + 1``'s sound) pairs them inside each replica's share, so its
value is the mean of the replicas' losses on their shares. JAX ``DataParallel``
traces the step on the global batch and pairs across it, as on one device.

Mixed precision (:func:`set_mixed_precision`) computes in float16 and keeps
variables in float32; Keras wraps the optimizer in a ``LossScaleOptimizer`` at
``compile``; the models keep their outputs (mask, Poisson rate, distances) in
float32.

Example:
    ```python
    distribution = make_distribution("mirrored")
    with distribution.scope():
        model = CAVLModel(...)
        model.compile(optimizer="adam")
    model.fit(dataset.batch(64))  # 64 examples a step, 64 / num_replicas per device
    ```
"""

import contextlib
import dataclasses
import json
import os

import keras

from avcourse._validation import check_positive_int

__all__ = [
    "STRATEGIES",
    "Distribution",
    "make_distribution",
    "per_replica_batch_size",
    "set_mixed_precision",
    "use_logical_cpus",
]

STRATEGIES = ("default", "mirrored", "multi_worker", "jax_data_parallel")
"""The distribution strategies :func:`make_distribution` knows."""
_BACKENDS = {"mirrored": "tensorflow", "multi_worker": "tensorflow", "jax_data_parallel": "jax"}


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A chosen strategy: where models are built and how batches are split.

    Attributes:
        name: one of :data:`STRATEGIES`.
        num_replicas: devices (all workers together) that share each batch.
        engine: the ``tf.distribute.Strategy`` or ``keras.distribution.Distribution``
            underneath, or None for ``"default"``.
        worker_index: this process's index among the workers (0 on one machine).
        num_workers: processes taking part (1 on one machine).
    """

    name: str
    num_replicas: int
    engine: object = None
    worker_index: int = 0
    num_workers: int = 1

    @property
    def is_chief(self):
        """Whether this process writes the run directory (worker 0)."""
        return self.worker_index == 0

    def scope(self):
        """Context in which models, optimizers and their variables must be created."""
        return contextlib.nullcontext() if self.engine is None else self.engine.scope()

    def per_replica_batch_size(self, global_batch_size):
        """``global_batch_size / num_replicas``, checked to divide exactly."""
        return per_replica_batch_size(global_batch_size, self.num_replicas)

    def distribute_datasets(self, make_dataset, global_batch_size):
        """A dataset for ``fit`` from ``make_dataset(input_context, batch_size)``.

        Under ``"multi_worker"``, ``make_dataset`` is called once per worker
        with a ``tf.distribute.InputContext`` (read only this worker's share:
        ``dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)``, or
        ``shard_dataset(..., input_context=ctx)``) and the per-replica batch
        size. Otherwise it is called with ``None`` and the global batch size,
        and Keras splits each batch over the replicas.

        Args:
            make_dataset: ``callable(input_context, batch_size) -> tf.data.Dataset``
                of batches.
            global_batch_size: examples per step over all replicas.

        Returns:
            a ``tf.data.Dataset`` or a ``tf.distribute`` distributed dataset.
        """
        self.per_replica_batch_size(global_batch_size)
        if self.name != "multi_worker":
            return make_dataset(None, global_batch_size)
        return self.engine.distribute_datasets_from_function(
            lambda context: make_dataset(context, context.get_per_replica_batch_size(global_batch_size))
        )


def per_replica_batch_size(global_batch_size, num_replicas):
    """The examples each replica computes per step.

    Args:
        global_batch_size: examples per step over all replicas (the recipes'
            ``training.batch_size``).
        num_replicas: number of replicas.

    Returns:
        ``global_batch_size // num_replicas``.

    Raises:
        ValueError: if either is not a positive int or the division leaves a remainder.

    Examples:
    >>> per_replica_batch_size(64, 4)
    16
    """
    check_positive_int(global_batch_size, "global_batch_size")
    check_positive_int(num_replicas, "num_replicas")
    if global_batch_size % num_replicas:
        raise ValueError(
            f"`global_batch_size` must be a multiple of the number of replicas ({num_replicas}); "
            f"received {global_batch_size}."
        )
    return global_batch_size // num_replicas


def use_logical_cpus(num_devices):
    """Split the CPU into ``num_devices`` logical devices (for ``"mirrored"`` without GPUs).

    Must run before TensorFlow initialises its devices (before any op).

    Args:
        num_devices: number of logical CPU devices, >= 1.
    """
    import tensorflow as tf

    check_positive_int(num_devices, "num_devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}; '
            "received none."
        )
    try:
        config = json.loads(raw)
        return len(config["cluster"]["worker"]), int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG must be JSON with cluster.worker and task.index; received {raw!r} ({error}).") from None


def _leafwise(reduce):
    """``MultiWorkerMirroredStrategy.reduce`` as Keras 3's ``fit`` calls it.

    Keras starts ``fit`` by reducing the first batch, a dict of inputs, across
    replicas (to build the model's metrics from its shapes), and reduces each
    step's scalar metrics "along axis 0"; this strategy's ``reduce`` takes one
    value only and no axis for a scalar. Dicts are reduced leaf by leaf and
    scalars across replicas only.
    """
    import tensorflow as tf

    def wrapped(reduce_op, value, axis=None):
        if isinstance(value, dict):
            return {key: wrapped(reduce_op, leaf, axis) for key, leaf in value.items()}
        local = value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value
        if axis is not None and len(getattr(local, "shape", ())) == 0:
            axis = None
        return reduce(reduce_op, value, axis)

    return wrapped


def make_distribution(name="default", *, devices=None):
    """Select a strategy by name.

    Args:
        name: ``"default"``, ``"mirrored"``, ``"multi_worker"`` or ``"jax_data_parallel"``.
        devices: for ``"mirrored"`` a list of TensorFlow device names (default:
            every GPU, else every logical CPU); for ``"jax_data_parallel"`` a
            list of JAX devices (default: all of them).

    Returns:
        a :class:`Distribution`.

    Raises:
        ValueError: for an unknown name, a strategy the Keras backend cannot
            run, or ``"multi_worker"`` without a valid ``TF_CONFIG``.

    Examples:
    >>> make_distribution("default").num_replicas
    1
    """
    if name not in STRATEGIES:
        raise ValueError(f"`name` must be one of {STRATEGIES}; received {name!r}.")
    if name == "default":
        return Distribution(name, 1)
    backend = keras.backend.backend()
    if backend != _BACKENDS[name]:
        raise ValueError(
            f"strategy {name!r} needs the {_BACKENDS[name]} Keras backend (KERAS_BACKEND={_BACKENDS[name]}); "
            f"received backend {backend!r}."
        )
    if name == "jax_data_parallel":
        devices = devices or keras.distribution.list_devices()
        engine = keras.distribution.DataParallel(devices=devices)
        return Distribution(name, len(devices), engine)

    import tensorflow as tf

    if name == "mirrored":
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        engine = tf.distribute.MirroredStrategy(devices)
        return Distribution(name, engine.num_replicas_in_sync, engine)
    num_workers, index = _tf_config()
    engine = tf.distribute.MultiWorkerMirroredStrategy()
    engine.reduce = _leafwise(engine.reduce)
    return Distribution(name, engine.num_replicas_in_sync, engine, worker_index=index, num_workers=num_workers)


def set_mixed_precision(enabled=True, policy="mixed_float16"):
    """Set Keras' global dtype policy: ``policy`` when enabled, else ``"float32"``.

    Call it before building models. Under ``"mixed_float16"`` layers compute
    in float16 with float32 variables and ``compile`` adds loss scaling.

    Args:
        enabled: whether to compute in reduced precision.
        policy: ``"mixed_float16"`` (GPUs) or ``"mixed_bfloat16"`` (TPUs, recent CPUs).
    """
    if not isinstance(enabled, bool):
        raise ValueError(f"`enabled` must be True or False; received {enabled!r}.")
    if policy not in ("mixed_float16", "mixed_bfloat16"):
        raise ValueError(f"`policy` must be 'mixed_float16' or 'mixed_bfloat16'; received {policy!r}.")
    keras.mixed_precision.set_global_policy(policy if enabled else "float32")
