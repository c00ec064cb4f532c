"""Multi-head self-attention of the MOAT block, one Keras layer per step.

Splitting attention into projection, logits, (bias), softmax and value
layers keeps the functional graph flat, so that quantization can place a
quantizer after every step and converters see plain MatMuls. Tensors between
the steps keep the spatial layout: projections are [B, h, w, heads*head_size],
logits and probabilities are [B, heads, h*w, h*w].
"""

from .._keras import keras, serializable, tf



@serializable
class HeadProjection(keras.layers.Layer):
    """A dense projection over the last axis, stored in the reference's shapes.

    mode "split" (q, k, v): weight [C, heads, head_size], bias [heads, head_size].
    mode "merge" (o): weight [heads, head_size, C], bias [C].
    Inputs and outputs are flat on the last axis either way.
    """

    def __init__(self, num_heads: int, head_size: int, mode: str, hidden_size: int = None,
                 **kwargs):
        super().__init__(**kwargs)
        if mode not in ("split", "merge"):
            raise ValueError("mode must be 'split' or 'merge'")
        self.num_heads, self.head_size, self.mode = int(num_heads), int(head_size), mode
        self.hidden_size = None if hidden_size is None else int(hidden_size)

    def build(self, input_shape):
        heads = (self.num_heads, self.head_size)
        if self.mode == "split":
            w_shape, b_shape = (input_shape[-1],) + heads, heads
        else:
            if input_shape[-1] != self.num_heads * self.head_size:
                raise ValueError("merge projection expects heads*head_size inputs")
            w_shape, b_shape = heads + (self.hidden_size,), (self.hidden_size,)
        self.weight = self.add_weight(name="weight", shape=w_shape, initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.bias = self.add_weight(name="bias", shape=b_shape, initializer="zeros")
        super().build(input_shape)

    def kernel_2d(self):
        return tf.reshape(self.weight, [-1, self.units])

    @property
    def units(self):
        return (self.num_heads * self.head_size if self.mode == "split"
                else self.hidden_size)

    def call(self, inputs):
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
        out = tf.matmul(flat, self.kernel_2d()) + tf.reshape(self.bias, [-1])
        return tf.reshape(out, tf.concat([shape[:-1], [self.units]], 0))

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "head_size": self.head_size, "mode": self.mode,
                "hidden_size": self.hidden_size}


def _heads_first(x, num_heads, head_size):
    """[B, h, w, N*K] -> [B, N, h*w, K]."""
    tokens = x.shape[1] * x.shape[2]
    x = tf.reshape(x, [-1, tokens, num_heads, head_size])
    return tf.transpose(x, [0, 2, 1, 3])


class _HeadsLayer(keras.layers.Layer):
    def __init__(self, num_heads: int, head_size: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_size = int(num_heads), int(head_size)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "head_size": self.head_size}


@serializable
class AttentionLogits(_HeadsLayer):
    """(q, k) -> (q * head_size^-0.5) k^T, shape [B, N, S, S]."""

    def call(self, inputs):
        q, k = inputs
        q = _heads_first(q, self.num_heads, self.head_size) * (self.head_size ** -0.5)
        k = _heads_first(k, self.num_heads, self.head_size)
        return tf.matmul(q, k, transpose_b=True)


@serializable
class AttentionSoftmax(keras.layers.Layer):
    """Softmax over keys, always computed in float32 as the reference does."""

    def call(self, logits):
        return tf.cast(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), logits.dtype)


@serializable
class AttendValues(_HeadsLayer):
    """(probs [B, N, S, S], v [B, h, w, N*K]) -> [B, h, w, N*K]."""

    def call(self, inputs):
        probs, v = inputs
        height, width = v.shape[1], v.shape[2]
        out = tf.matmul(probs, _heads_first(v, self.num_heads, self.head_size))
        out = tf.transpose(out, [0, 2, 1, 3])
        return tf.reshape(out, [-1, height, width, self.num_heads * self.head_size])
