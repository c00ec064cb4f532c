"""The 2-D relative position bias of MOAT attention.

Each block learns a table T of shape [heads, 2P-1, 2P-1]. For a window of
H x W tokens the table is resized to [2H-1, 2W-1] (bilinear, half-pixel
centres, as tf.image.resize does by default) and the bias between query (i, j)
and key (x, y) is T'[head, x - i + H - 1, y - j + W - 1].

Both the resize and the re-indexing are linear and separable, so they are
written as two constant matrices A_h [H*H, 2P-1] and A_w [W*W, 2P-1]:

    bias[n, (i, j), (x, y)] = sum_ab A_h[(i, x), a] T[n, a, b] A_w[(j, y), b]

The bias is computed from the table at call time (it follows weights loaded or
trained later) with MatMul, Reshape and Transpose only, which every converter
understands; exported graphs fold it into a constant.
"""

import numpy as np

from .._keras import keras, serializable, tf


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] matrix of a 1-D bilinear resize with half-pixel centres."""
    matrix = np.zeros((n_out, n_in), np.float64)
    # float32 coordinates, as TensorFlow's kernel computes them.
    scale = np.float32(n_in) / np.float32(n_out)
    for o in range(n_out):
        centre = np.float64((np.float32(o) + np.float32(0.5)) * scale - np.float32(0.5))
        floor = np.floor(centre)
        lower = int(max(floor, 0))
        upper = int(min(np.ceil(centre), n_in - 1))
        frac = centre - floor
        matrix[o, lower] += 1.0 - frac
        matrix[o, upper] += frac
    return matrix


def relative_lookup_matrix(length: int, table_side: int) -> np.ndarray:
    """[length * length, table_side] matrix: resize to 2L-1, then pick x - i + L - 1."""
    resize = bilinear_matrix(table_side, 2 * length - 1)
    i, x = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    return resize[(x - i + length - 1).reshape(-1)]


def dense_bias(table: tf.Tensor, window) -> tf.Tensor:
    """[heads, 2P-1, 2P-1] table -> [heads, H*W, H*W] bias for an H x W window."""
    height, width = window
    heads, side_h, side_w = table.shape
    a_h = tf.constant(relative_lookup_matrix(height, side_h), table.dtype)
    a_w = tf.constant(relative_lookup_matrix(width, side_w), table.dtype)
    # [n*a, b] @ [b, (j, y)] -> [n, a, (j, y)]
    u = tf.matmul(tf.reshape(table, [heads * side_h, side_w]), a_w, transpose_b=True)
    u = tf.transpose(tf.reshape(u, [heads, side_h, width * width]), [1, 0, 2])
    # [(i, x), a] @ [a, n*(j, y)] -> [i, x, n, j, y]
    bias = tf.matmul(a_h, tf.reshape(u, [side_h, heads * width * width]))
    bias = tf.reshape(bias, [height, height, heads, width, width])
    bias = tf.transpose(bias, [2, 0, 3, 1, 4])  # [n, i, j, x, y]
    return tf.reshape(bias, [heads, height * width, height * width])


@serializable
class RelativePositionBias(keras.layers.Layer):
    """Adds the learned relative position bias to attention logits [B, N, S, S]."""

    def __init__(self, num_heads: int, table_size: int, window, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.table_size = int(table_size)
        self.window = tuple(int(v) for v in window)

    def build(self, input_shape):
        side = 2 * self.table_size - 1
        self.relative_position_embedding = self.add_weight(
            name="relative_position_embedding",
            shape=(self.num_heads, side, side),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            trainable=True)
        super().build(input_shape)

    def bias(self) -> tf.Tensor:
        return dense_bias(self.relative_position_embedding, self.window)

    def call(self, logits):
        return logits + tf.cast(self.bias(), logits.dtype)  # broadcasts over the batch

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "table_size": self.table_size, "window": list(self.window)}
