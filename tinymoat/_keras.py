"""The one place that picks the Keras implementation.

tensorflow-model-optimization only works with Keras 2, so every model in this
package is a `tf_keras` model. The environment variable must be set before
TensorFlow is imported anywhere in the process.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

serializable = keras.utils.register_keras_serializable(package="tinymoat")

__all__ = ["tf", "keras", "serializable"]
