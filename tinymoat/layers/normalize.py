"""Input normalisation inside the graph, for artifacts that take raw pixels."""

from .._keras import keras, serializable, tf


@serializable
class Normalize(keras.layers.Layer):
    """(x - mean) / std per channel, x in [0, 255] RGB."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def call(self, inputs):
        scale = tf.constant([1.0 / s for s in self.std], inputs.dtype)
        return (inputs - tf.constant(self.mean, inputs.dtype)) * scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
