"""Test helpers for the package's own Keras layers and losses (keras-hub style).

:func:`run_layer_test` checks, for one layer configuration, everything a
course layer must support: the config round trip, a symbolic and an eager
call with the expected output shapes (and weight counts), saving a model that
contains it as a ``.keras`` file and reloading it with identical outputs, one
training step with a finite loss and finite weights (so the gradients through
the layer are finite), and a call under the ``mixed_float16`` and
``mixed_bfloat16`` policies (outputs in the policy's compute dtype, weights in
float32). Inputs are one array, a list of arrays, or a dict of arrays passed
as keyword arguments, with optional non-tensor call arguments. :func:`run_loss_test` does the same for a loss object, and
:func:`compute_gradients` returns gradients on whichever backend Keras runs
(TensorFlow, JAX or PyTorch), so tests can stay backend-agnostic.

The helpers use plain ``assert`` and numpy, so they work under pytest and in a
notebook alike.
"""

import os
import tempfile

import keras
import numpy as np
from keras import ops

from avcourse._api import register

__all__ = ["PRECISION_POLICIES", "compute_gradients", "run_layer_test", "run_loss_test"]

# The mixed precision policies run_layer_test checks a layer under (keras-hub's run_precision_test).
PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _shape_tuple(shape):
    return tuple(None if d is None else int(d) for d in shape)


def _is_float(tensor):
    return keras.backend.standardize_dtype(tensor.dtype).startswith(("float", "bfloat"))


def _to_numpy(tensor):
    if isinstance(tensor, keras.Variable):
        tensor = ops.copy(tensor)  # a plain tensor; numpy 2 warns on some backends' variables
    return np.asarray(ops.convert_to_numpy(tensor))


@register
class _TrainableScale(keras.layers.Layer):
    """Multiplies floating inputs by one trainable scalar (initialised to 1).

    Placed in front of the layer under test, it gives the training step a weight
    whose gradient flows through that layer, even when the layer has no
    weights of its own (``SoftKMeans``).
    """

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs):
        if _is_float(inputs):
            return inputs * ops.cast(self.scale, inputs.dtype)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@register
class _SquaredOutputs(keras.layers.Layer):
    """``(batch, 1)``: per sample, the sum over floating outputs of their mean square."""

    def call(self, inputs):
        total = None
        for tensor in _as_list(inputs):
            if not _is_float(tensor):
                continue
            value = ops.cast(ops.square(tensor), "float32")
            # A mean over every non-batch axis (no reshape: the symbolic batch size is None).
            value = ops.mean(value, axis=tuple(range(1, len(value.shape)))) if len(value.shape) > 1 else value
            value = ops.expand_dims(value, -1)
            total = value if total is None else total + value
        if total is None:
            raise ValueError("run_layer_test's training step needs at least one floating-point output.")
        return total

    def compute_output_shape(self, input_shape):
        # One output's shape is a tuple of ints/None; several outputs' shapes are a list of tuples.
        single = all(d is None or isinstance(d, int) for d in input_shape)
        first = input_shape if single else _as_list(input_shape)[0]
        return (first[0], 1)


def _mean_of_prediction(y_true, y_pred):
    return ops.mean(y_pred)


def _check_shapes(outputs, expected, what, symbolic_batch=False):
    outputs = _as_list(outputs)
    expected = _as_list(expected) if isinstance(expected, list) or _is_nested(expected) else [expected]
    assert len(outputs) == len(expected), f"{what}: {len(outputs)} output(s), expected {len(expected)}."
    for index, (tensor, shape) in enumerate(zip(outputs, expected)):
        shape = _shape_tuple(shape)
        if symbolic_batch:
            shape = (None,) + shape[1:]
        got = _shape_tuple(tensor.shape)
        assert got == shape, f"{what}: output {index} has shape {got}, expected {shape}."


def _is_nested(expected):
    """Whether ``expected`` is a tuple of shapes rather than one shape."""
    return isinstance(expected, tuple) and len(expected) > 0 and isinstance(expected[0], (tuple, list))


def _keras_input(array, name=None, batch_size=None):
    return keras.Input(
        shape=array.shape[1:], batch_size=batch_size, dtype=keras.backend.standardize_dtype(array.dtype), name=name
    )


class _Inputs:
    """The test's input data in one of three forms, and how to call a layer with it.

    * one array: ``layer(x, **call_kwargs)``;
    * a list/tuple of arrays: ``layer([x1, x2], **call_kwargs)`` (a multi-input layer);
    * a dict of arrays: ``layer(**data, **call_kwargs)``, each entry a keyword
      argument (e.g. ``GroundingNet(audio_features=..., object_features=...)``).
    """

    def __init__(self, input_data, call_kwargs):
        self.kind = "dict" if isinstance(input_data, dict) else "list" if isinstance(input_data, (list, tuple)) else "one"
        if self.kind == "dict":
            self.data = {key: np.asarray(value) for key, value in input_data.items()}
        elif self.kind == "list":
            self.data = [np.asarray(value) for value in input_data]
        else:
            self.data = np.asarray(input_data)
        self.call_kwargs = dict(call_kwargs or {})

    @property
    def arrays(self):
        if self.kind == "dict":
            return list(self.data.values())
        return self.data if self.kind == "list" else [self.data]

    @property
    def batch_size(self):
        return self.arrays[0].shape[0]

    def symbolic(self):
        """``keras.Input`` tensors of the same structure (batch size unknown)."""
        if self.kind == "dict":
            return {key: _keras_input(value, name=key) for key, value in self.data.items()}
        if self.kind == "list":
            return [_keras_input(value) for value in self.data]
        return _keras_input(self.data)

    def map(self, fn, inputs):
        """``inputs`` (of this structure) with ``fn`` applied to each tensor."""
        if self.kind == "dict":
            return {key: fn(value) for key, value in inputs.items()}
        if self.kind == "list":
            return [fn(value) for value in inputs]
        return fn(inputs)

    def call(self, layer, inputs):
        """``layer`` called on ``inputs`` (this structure) and the call keyword arguments."""
        if self.kind == "dict":
            return layer(**inputs, **self.call_kwargs)
        return layer(inputs, **self.call_kwargs)


def _check_dtypes(outputs, dtypes, what):
    for index, (tensor, dtype) in enumerate(zip(_as_list(outputs), dtypes)):
        got = keras.backend.standardize_dtype(tensor.dtype)
        assert got == dtype, f"{what}: output {index} has dtype {got}, expected {dtype}."


def compute_gradients(fn, *args):
    """Value and gradients of a scalar function on the current Keras backend.

    On JAX the function is compiled with ``jax.jit``, so it must be pure
    (no variable updates, e.g. no BatchNormalization in training mode).

    Args:
        fn: function of the tensors ``args`` returning a scalar, written with
            ``keras.ops``.
        *args: numpy arrays (floating point), the points where to differentiate.

    Returns:
        ``(value, [gradient for each argument])`` as numpy arrays.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> value, (grad,) = compute_gradients(lambda x: ops.sum(ops.square(x)), np.array([1.0, 2.0], "float32"))
        >>> float(value), grad.tolist()
        (5.0, [2.0, 4.0])
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(arg) for arg in args]
        with tf.GradientTape() as tape:
            value = fn(*variables)
        grads = tape.gradient(value, variables)
        grads = [np.zeros_like(arg) if g is None else np.asarray(g) for g, arg in zip(grads, args)]
        return np.asarray(value), grads
    if backend == "jax":
        import jax

        # One compiled function: much faster than differentiating op by op.
        value, grads = jax.jit(jax.value_and_grad(fn, argnums=tuple(range(len(args)))))(*args)
        return np.asarray(value), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(arg, requires_grad=True) for arg in args]
        value = fn(*tensors)
        value.backward()
        grads = [
            np.zeros_like(arg) if t.grad is None else t.grad.detach().cpu().numpy() for t, arg in zip(tensors, args)
        ]
        return value.detach().cpu().numpy(), grads
    raise NotImplementedError(f"compute_gradients does not support the {backend!r} backend.")


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shapes,
    *,
    call_kwargs=None,
    expected_output_dtypes=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_symbolic=True,
    run_saving=True,
    run_training=True,
    run_precision=True,
    precision_policies=PRECISION_POLICIES,
    mixed_output_dtypes=None,
    seed=0,
    atol=1e-6,
    rtol=1e-6,
):
    """Check a layer class end to end for one configuration.

    Steps:
    1. ``layer_cls.from_config(layer.get_config())`` has the same config.
    2. Symbolic call on ``keras.Input`` (batch size unknown): output shapes
       are ``expected_output_shapes`` with the batch dimension ``None``, and
       ``expected_output_dtypes`` if given.
    3. Eager call on ``input_data``: the expected shapes (and dtypes), and the
       expected numbers of trainable and non-trainable weights if given.
    4. A functional model around the layer saved as ``.keras`` in a temporary
       folder and reloaded (no ``custom_objects``): identical outputs.
    5. One ``model.fit`` step with a trainable scale in front of the layer and
       the mean square of the floating outputs as the loss: the loss and every
       weight afterwards are finite.
    6. Precision (as keras-hub's ``run_precision_test``): under each of
       ``precision_policies`` (the global policy, the way
       :func:`avcourse.training.distribute.set_mixed_precision` sets it), an
       eager call whose floating outputs have the policy's compute dtype
       (``float16``, ``bfloat16``) unless ``mixed_output_dtypes`` names
       others, are finite, and whose floating weights stay in the variable
       dtype (``float32``).

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: the tensor inputs, each with a leading batch dimension: a
            numpy array; a list of arrays for a layer that takes a list
            (``layer([a, b])``); or a dict of arrays passed as keyword
            arguments (``layer(**input_data)``, e.g. :class:`GroundingNet`'s
            ``audio_features`` and ``object_features``).
        expected_output_shapes: one shape tuple, or a tuple/list of shapes for
            a layer with several outputs (with the concrete batch size).
        call_kwargs: optional dict of other keyword arguments of every call
            (``{"training": False}``).
        expected_output_dtypes: optional dtype string or list of them.
        expected_num_trainable_weights: optional int, checked on the built layer.
        expected_num_non_trainable_weights: optional int, checked on the built layer.
        run_symbolic: whether to do step 2.
        run_saving: whether to do step 4.
        run_training: whether to do step 5.
        run_precision: whether to do step 6.
        precision_policies: the mixed precision policies of step 6.
        mixed_output_dtypes: optional dtype string or list of them that the
            outputs have under every mixed policy, for a layer that returns
            float32 on purpose (default: the policy's compute dtype).
        seed: every instance is created and built right after
            ``keras.utils.set_random_seed(seed)``, so that the instances of the
            steps start from the same random weights (the eager call and the
            saved model can then be compared); ``None`` leaves the random
            state alone.
        atol: absolute tolerance of the save/load comparison.
        rtol: relative tolerance of the save/load comparison.

    Returns:
        The eager outputs as a list of numpy arrays (for further checks).

    Examples:
    >>> from avcourse.layers import AlignmentDistance
    >>> audio, visual = np.ones((2, 1, 4), "float32"), np.zeros((2, 2, 4), "float32")
    >>> outputs = run_layer_test(
    ...     AlignmentDistance, {}, [audio, visual], ((2,), (2, 1)),
    ...     expected_num_trainable_weights=0, run_saving=False, run_training=False,
    ... )
    >>> outputs[0].tolist()
    [2.0, 2.0]
    """
    inputs_spec = _Inputs(input_data, call_kwargs)

    def fresh():
        if seed is not None:
            keras.utils.set_random_seed(seed)
        return layer_cls(**init_kwargs)

    dtypes = None if expected_output_dtypes is None else _as_list(expected_output_dtypes)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, f"config round trip differs:\n{clone.get_config()}\n!=\n{config}"

    # 2. Symbolic call.
    if run_symbolic:
        outputs = inputs_spec.call(fresh(), inputs_spec.symbolic())
        _check_shapes(outputs, expected_output_shapes, "symbolic call", symbolic_batch=True)
        if dtypes is not None:
            _check_dtypes(outputs, dtypes, "symbolic call")

    # 3. Eager call.
    eager_layer = fresh()
    eager = inputs_spec.call(eager_layer, inputs_spec.data)
    _check_shapes(eager, expected_output_shapes, "eager call")
    eager = _as_list(eager)
    if dtypes is not None:
        _check_dtypes(eager, dtypes, "eager call")
    for expected, weights, kind in [
        (expected_num_trainable_weights, eager_layer.trainable_weights, "trainable"),
        (expected_num_non_trainable_weights, eager_layer.non_trainable_weights, "non-trainable"),
    ]:
        if expected is not None:
            assert len(weights) == expected, f"{len(weights)} {kind} weights, expected {expected}."
    eager_numpy = [_to_numpy(tensor) for tensor in eager]

    # 4. Save / load as .keras.
    if run_saving:
        inputs = inputs_spec.symbolic()
        layer = fresh()
        model = keras.Model(inputs, inputs_spec.call(layer, inputs))
        before = [_to_numpy(t) for t in _as_list(model(inputs_spec.data))]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            reloaded = keras.saving.load_model(path)
        after = [_to_numpy(t) for t in _as_list(reloaded(inputs_spec.data))]
        assert len(before) == len(after)
        for index, (a, b) in enumerate(zip(before, after)):
            np.testing.assert_allclose(
                b, a, atol=atol, rtol=rtol, err_msg=f"output {index} differs after .keras save/load"
            )
        # The model's outputs must also equal a fresh layer's eager outputs.
        for index, (a, b) in enumerate(zip(eager_numpy, before)):
            np.testing.assert_allclose(
                b, a, atol=atol, rtol=rtol, err_msg=f"output {index}: model call differs from the eager call"
            )

    # 5. One training step.
    if run_training:
        inputs = inputs_spec.symbolic()
        scaled = inputs_spec.map(lambda tensor: _TrainableScale()(tensor), inputs)
        score = _SquaredOutputs()(inputs_spec.call(fresh(), scaled))
        model = keras.Model(inputs, score)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss=_mean_of_prediction)
        target = np.zeros((inputs_spec.batch_size, 1), dtype="float32")
        history = model.fit(inputs_spec.data, target, batch_size=inputs_spec.batch_size, epochs=1, verbose=0)
        loss = history.history["loss"][0]
        assert np.isfinite(loss), f"training step: loss is {loss}"
        for weight in model.weights:
            value = _to_numpy(weight)
            assert np.all(np.isfinite(value)), f"training step: weight {weight.path} is not finite: {value}"

    # 6. Mixed precision.
    if run_precision:
        for policy_name in precision_policies:
            _check_precision(fresh, inputs_spec, policy_name, mixed_output_dtypes)

    return eager_numpy


def _check_precision(fresh, inputs_spec, policy_name, mixed_output_dtypes):
    """Step 6 of :func:`run_layer_test` under one global policy (restored afterwards)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy_name)
    try:
        policy = keras.mixed_precision.global_policy()
        layer = fresh()
        outputs = _as_list(inputs_spec.call(layer, inputs_spec.data))
        floating = [tensor for tensor in outputs if _is_float(tensor)]
        expected = _as_list(mixed_output_dtypes) if mixed_output_dtypes is not None else [policy.compute_dtype]
        if len(expected) == 1:
            expected = expected * len(floating)
        assert len(expected) == len(floating), f"{policy_name}: {len(floating)} floating outputs, {len(expected)} dtypes"
        for index, (tensor, dtype) in enumerate(zip(floating, expected)):
            got = keras.backend.standardize_dtype(tensor.dtype)
            assert got == dtype, f"{policy_name}: output {index} has dtype {got}, expected {dtype}."
            value = _to_numpy(tensor).astype("float32")
            assert np.all(np.isfinite(value)), f"{policy_name}: output {index} is not finite"
        for weight in layer.weights:
            if _is_float(weight):
                got = keras.backend.standardize_dtype(weight.dtype)
                assert got == policy.variable_dtype, (
                    f"{policy_name}: weight {weight.path} has dtype {got}, expected {policy.variable_dtype}."
                )
    finally:
        keras.mixed_precision.set_global_policy(previous)


def run_loss_test(loss_obj, y_true, y_pred, *, expected_value=None, run_training=True, atol=1e-6, rtol=1e-5):
    """Check a loss object: config, serialisation, a finite value, one fit step.

    Steps:
    1. ``type(loss_obj).from_config(loss_obj.get_config())`` has the same config.
    2. ``keras.losses.deserialize(keras.losses.serialize(loss_obj))`` gives an
       object of the same class and config, with the same value.
    3. ``loss_obj(y_true, y_pred)`` is a finite scalar (equal to
       ``expected_value`` if given).
    4. One ``model.fit`` step of a trainable scale applied to ``y_pred``,
       trained with the loss: a finite loss and finite weights.

    Args:
        loss_obj: a ``keras.losses.Loss`` instance.
        y_true: numpy targets.
        y_pred: numpy predictions (the inputs of the training step).
        expected_value: optional float the loss must equal.
        run_training: whether to do step 4.
        atol: absolute tolerance of the value comparisons.
        rtol: relative tolerance of the value comparisons.

    Returns:
        The loss value as a float.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    cls = type(loss_obj)
    config = loss_obj.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config, f"config round trip differs:\n{clone.get_config()}\n!=\n{config}"

    value = float(_to_numpy(loss_obj(y_true, y_pred)))
    assert np.isfinite(value), f"loss value is {value}"
    if expected_value is not None:
        np.testing.assert_allclose(value, expected_value, atol=atol, rtol=rtol)

    restored = keras.losses.deserialize(keras.losses.serialize(loss_obj))
    assert type(restored) is cls, f"deserialised a {type(restored).__name__}, expected {cls.__name__}"
    assert restored.get_config() == config
    np.testing.assert_allclose(float(_to_numpy(restored(y_true, y_pred))), value, atol=atol, rtol=rtol)

    if run_training:
        inputs = keras.Input(shape=y_pred.shape[1:], dtype=keras.backend.standardize_dtype(y_pred.dtype))
        model = keras.Model(inputs, _TrainableScale()(inputs))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss=loss_obj)
        history = model.fit(y_pred, y_true, batch_size=y_pred.shape[0], epochs=1, verbose=0)
        loss = history.history["loss"][0]
        assert np.isfinite(loss), f"training step: loss is {loss}"
        for weight in model.weights:
            assert np.all(np.isfinite(_to_numpy(weight))), f"training step: weight {weight.path} is not finite"
    return value
