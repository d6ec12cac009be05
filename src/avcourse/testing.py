"""Test helpers for the package's own Keras layers and losses (keras-hub style).

:func:`run_layer_test` checks, for one layer configuration, everything a
course layer must support: the config round trip, a symbolic and an eager
call with the expected output shapes, saving a model that contains it as a
``.keras`` file and reloading it with identical outputs, and one training
step with a finite loss and finite weights (so the gradients through the layer
are finite). :func:`run_loss_test` does the same for a loss object, and
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

__all__ = ["compute_gradients", "run_layer_test", "run_loss_test"]


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


def _inputs_for(data, batch_size=None):
    return [
        keras.Input(shape=array.shape[1:], batch_size=batch_size, dtype=keras.backend.standardize_dtype(array.dtype))
        for array in data
    ]


def _single_or_list(items):
    return items[0] if len(items) == 1 else items


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
    expected_output_dtypes=None,
    run_symbolic=True,
    run_saving=True,
    run_training=True,
    atol=1e-6,
    rtol=1e-6,
):
    """Check a layer class end to end for one configuration.

    Steps:
    1. ``layer_cls.from_config(layer.get_config())`` has the same config.
    2. Symbolic call on ``keras.Input`` (batch size unknown): output shapes
       are ``expected_output_shapes`` with the batch dimension ``None``, and
       ``expected_output_dtypes`` if given.
    3. Eager call on ``input_data``: the expected shapes (and dtypes).
    4. A functional model around the layer saved as ``.keras`` in a temporary
       folder and reloaded (no ``custom_objects``): identical outputs.
    5. One ``model.fit`` step with a trainable scale in front of the layer and
       the mean square of the floating outputs as the loss: the loss and every
       weight afterwards are finite.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: a numpy array, or a list of them for a multi-input layer,
            with a leading batch dimension.
        expected_output_shapes: one shape tuple, or a tuple/list of shapes for
            a layer with several outputs (with the concrete batch size).
        expected_output_dtypes: optional dtype string or list of them.
        run_symbolic: whether to do step 2.
        run_saving: whether to do step 4.
        run_training: whether to do step 5.
        atol: absolute tolerance of the save/load comparison.
        rtol: relative tolerance of the save/load comparison.

    Returns:
        The eager outputs as a list of numpy arrays (for further checks).
    """
    data = [np.asarray(array) for array in _as_list(input_data)]
    multi_input = isinstance(input_data, (list, tuple))
    call_input = data if multi_input else data[0]
    dtypes = None if expected_output_dtypes is None else _as_list(expected_output_dtypes)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, f"config round trip differs:\n{clone.get_config()}\n!=\n{config}"

    # 2. Symbolic call.
    if run_symbolic:
        symbolic = layer_cls(**init_kwargs)
        inputs = _inputs_for(data)
        outputs = symbolic(inputs if multi_input else inputs[0])
        _check_shapes(outputs, expected_output_shapes, "symbolic call", symbolic_batch=True)
        if dtypes is not None:
            for index, (tensor, dtype) in enumerate(zip(_as_list(outputs), dtypes)):
                got = keras.backend.standardize_dtype(tensor.dtype)
                assert got == dtype, f"symbolic call: output {index} has dtype {got}, expected {dtype}."

    # 3. Eager call.
    eager_layer = layer_cls(**init_kwargs)
    eager = eager_layer(call_input)
    _check_shapes(eager, expected_output_shapes, "eager call")
    eager = _as_list(eager)
    if dtypes is not None:
        for index, (tensor, dtype) in enumerate(zip(eager, dtypes)):
            got = keras.backend.standardize_dtype(tensor.dtype)
            assert got == dtype, f"eager call: output {index} has dtype {got}, expected {dtype}."
    eager_numpy = [_to_numpy(tensor) for tensor in eager]

    # 4. Save / load as .keras.
    if run_saving:
        inputs = _inputs_for(data)
        outputs = layer_cls(**init_kwargs)(inputs if multi_input else inputs[0])
        model = keras.Model(inputs if multi_input else inputs[0], outputs)
        before = [_to_numpy(t) for t in _as_list(model(call_input))]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            reloaded = keras.saving.load_model(path)
        after = [_to_numpy(t) for t in _as_list(reloaded(call_input))]
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
        inputs = _inputs_for(data)
        scaled = [_TrainableScale()(tensor) for tensor in inputs]
        outputs = layer_cls(**init_kwargs)(scaled if multi_input else scaled[0])
        score = _SquaredOutputs()(outputs)
        model = keras.Model(inputs if multi_input else inputs[0], score)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss=_mean_of_prediction)
        target = np.zeros((data[0].shape[0], 1), dtype="float32")
        history = model.fit(call_input, target, batch_size=data[0].shape[0], epochs=1, verbose=0)
        loss = history.history["loss"][0]
        assert np.isfinite(loss), f"training step: loss is {loss}"
        for weight in model.weights:
            value = _to_numpy(weight)
            assert np.all(np.isfinite(value)), f"training step: weight {weight.path} is not finite: {value}"

    return eager_numpy


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
