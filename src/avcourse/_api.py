"""Registration of the package's Keras objects for serialisation.

Every layer, loss and model that avcourse defines is decorated with
:func:`register`, so a saved ``.keras`` file reloads with
``keras.saving.load_model(path)`` without ``custom_objects``.
"""

import keras

PACKAGE = "avcourse"


def register(cls):
    """Register ``cls`` with Keras under the ``avcourse>`` prefix."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
