"""GELU in the exact erf form.

TensorFlow's own exact GELU is built on `erfc`, which tf2onnx cannot export.
Written as 0.5 * x * (1 + erf(x / sqrt(2))), the TFLite converter fuses it into
its GELU kernel, ONNX gets a plain Erf, and Core ML recognises the pattern.
"""

from .._keras import keras, serializable, tf

_INV_SQRT2 = 0.7071067811865476


def gelu(x):
    return 0.5 * x * (1.0 + tf.math.erf(x * _INV_SQRT2))


@serializable
class Gelu(keras.layers.Layer):
    def call(self, inputs):
        return gelu(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape
