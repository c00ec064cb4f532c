"""Stochastic depth on the residual branch (training only)."""

from .._keras import keras, serializable, tf


@serializable
class DropPath(keras.layers.Layer):
    """Zeroes a whole sample's residual with probability 1 - survival_prob.

    Kept samples are divided by survival_prob during training so that nothing
    changes at inference, where the layer is the identity.
    """

    def __init__(self, survival_prob: float, **kwargs):
        super().__init__(**kwargs)
        if not 0 < survival_prob <= 1:
            raise ValueError("survival_prob must be in (0, 1]")
        self.survival_prob = float(survival_prob)

    def call(self, inputs, training=None):
        if not training or self.survival_prob >= 1.0:
            return inputs
        shape = [tf.shape(inputs)[0]] + [1] * (inputs.shape.rank - 1)
        keep = tf.floor(self.survival_prob + tf.random.uniform(shape, dtype=inputs.dtype))
        return inputs / self.survival_prob * keep

    def get_config(self):
        return {**super().get_config(), "survival_prob": self.survival_prob}
