"""Partitioning a feature map into non-overlapping attention windows and back."""

from .._keras import keras, serializable, tf


@serializable
class WindowPartition(keras.layers.Layer):
    """[B, H, W, C] -> [B * (H/h) * (W/w), h, w, C], windows in row-major order."""

    def __init__(self, window, **kwargs):
        super().__init__(**kwargs)
        self.window = tuple(int(v) for v in window)

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        wh, ww = self.window
        x = tf.reshape(inputs, [-1, height // wh, wh, width // ww, ww, channels])
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
        return tf.reshape(x, [-1, wh, ww, channels])

    def get_config(self):
        return {**super().get_config(), "window": list(self.window)}


@serializable
class WindowMerge(keras.layers.Layer):
    """Inverse of WindowPartition for a feature map of `size` (H, W)."""

    def __init__(self, window, size, **kwargs):
        super().__init__(**kwargs)
        self.window = tuple(int(v) for v in window)
        self.size = tuple(int(v) for v in size)

    def call(self, inputs):
        channels = inputs.shape[-1]
        (wh, ww), (height, width) = self.window, self.size
        x = tf.reshape(inputs, [-1, height // wh, width // ww, wh, ww, channels])
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
        return tf.reshape(x, [-1, height, width, channels])

    def get_config(self):
        return {**super().get_config(), "window": list(self.window),
                "size": list(self.size)}
