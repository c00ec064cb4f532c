"""Float layers of the deploy graph whose intermediate tensors can be quantized.

In an int8 TFLite graph every op output is a quantized tensor, including the
ones inside what Keras sees as one layer (LayerNorm lowers to MEAN, SUB, MUL,
MEAN, ADD, RSQRT, MUL; swish to LOGISTIC and MUL). For quantization-aware
training to simulate that graph, each of those intermediates needs a fake
quantizer, and tfmot's QuantizeConfig can only reach a layer's weights, its
"activations" (callable attributes it swaps for quantizing wrappers) and its
output.

So these layers write each such intermediate as `self.<point>(tensor)` where
the attribute is an identity activation (`keras.activations.linear`) by
default. In float they compute exactly what the original layer does. When
tfmot's QuantizeWrapper wraps them, their QuantizeConfig (configs.py) lists
the points as activations and the wrapper replaces each with a fake quantizer.
`QUANTIZATION_POINTS` names the points and the kind of range each needs:

* "activation": a range learned from the data (ActivationQuantizer),
* "unit": the fixed [0, 1) range of a sigmoid output (FixedRangeQuantizer),
* "constant": a range computed from a constant tensor (WeightQuantizer).

The ops are written so that the TFLite converter maps them one to one onto
builtins with int8 kernels (MUL for squares, never SQUARE, which has none).
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinymoat._keras import keras, tf
from tinymoat.layers import AttentionLogits, Normalize, RelativePositionBias

_register = keras.utils.register_keras_serializable(package="tinymoat.quantization")


class QuantizationPointsMixin:
    """Declares the intermediate tensors of a layer that carry their own quantizer."""

    QUANTIZATION_POINTS = ()  # ((attribute name, kind), ...)

    def quantization_points(self):
        """The (attribute, kind) points this instance actually uses in call()."""
        return tuple(self.QUANTIZATION_POINTS)

    def _init_quantization_points(self):
        for name, _ in self.QUANTIZATION_POINTS:
            setattr(self, name, keras.activations.linear)


@_register
class DecomposedLayerNorm(QuantizationPointsMixin, keras.layers.Layer):
    """LayerNormalization over the last axis, one TFLite op per step.

        mean     = MEAN(x)                         centered = x - mean
        squared  = centered * centered
        variance = CONV_2D 1x1 (squared; kernel 1/C, bias eps)   = mean(squared) + eps
        inv_std  = RSQRT(variance)                 normalized = centered * inv_std
        [scaled  = normalized * gamma]             [output = scaled + beta]

    Normalising the centered tensor (rather than computing x * (gamma *
    inv_std) + (beta - mean * gamma * inv_std), which is what the converter
    makes of Keras' LayerNormalization) keeps every intermediate in a narrow,
    input-independent range, which is what 8-bit tensors need. The variance
    is a 1x1 convolution to one channel so that eps is its bias (an int32
    in the int8 graph): as an int8 ADD of a constant, eps is so much smaller
    than the variance's step that XNNPACK refuses the ADD (scale ratio out of
    range), which split the delegated graph at every LayerNorm. The kernel
    is a constant (not a weight: nothing to train or load) quantized
    symmetrically so that 1/C is exactly code 127. The mean keeps the input's
    range (a mean lies within it): with a range of its own, a mean near 0 got
    a step so much finer than the input's that XNNPACK refused the SUB.

    With `affine=False` there is no gamma/beta (the deploy rewrite folds them
    into the 1x1 convolutions that consume the output) and two ops fewer.
    """

    QUANTIZATION_POINTS = (("mean_point", "shared"), ("centered_point", "activation"),
                           ("squared_point", "activation"), ("kernel_point", "fixed"),
                           ("variance_point", "activation"), ("inv_std_point", "activation"),
                           ("normalized_point", "activation"), ("scaled_point", "activation"))
    _AFFINE_POINTS = ("normalized_point", "scaled_point")

    def __init__(self, epsilon: float = 1e-3, affine: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.affine = bool(affine)
        self._init_quantization_points()

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: DecomposedLayerNorm needs [batch, height, width, "
                             f"channels] inputs, got rank {len(input_shape)}")
        self.channels = channels
        if self.affine:
            self.gamma = self.add_weight(name="gamma", shape=(channels,),
                                         initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        mean = self.mean_point(tf.reduce_mean(inputs, axis=-1, keepdims=True))
        centered = self.centered_point(inputs - mean)
        squared = self.squared_point(centered * centered)
        kernel = self.kernel_point(tf.fill([1, 1, self.channels, 1], 1.0 / self.channels))
        variance = tf.nn.conv2d(squared, kernel, 1, "VALID")
        variance = self.variance_point(tf.nn.bias_add(variance, tf.constant([self.epsilon])))
        inv_std = self.inv_std_point(tf.math.rsqrt(variance))
        normalized = centered * inv_std
        if not self.affine:
            return normalized  # quantized as the layer's output
        normalized = self.normalized_point(normalized)
        return self.scaled_point(normalized * self.gamma) + self.beta

    def quantization_points(self):
        return tuple(p for p in self.QUANTIZATION_POINTS
                     if self.affine or p[0] not in self._AFFINE_POINTS)

    def fixed_range(self, point):
        """The 1/C kernel: symmetric int8 with 1/C as code 127, exact."""
        return -1.0 / self.channels, 1.0 / self.channels

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


@_register
class SigmoidGate(QuantizationPointsMixin, keras.layers.Layer):
    """x * sigmoid(slope * x): LOGISTIC then MUL (and a MUL by `slope` first unless it is 1).

    slope 1 is swish: TFLite has no int8 swish kernel. slope 1.702 is the
    sigmoid form of GELU that the int8 deploy graph uses (deploy.py): TFLite's
    int8 GELU kernel is not taken by XNNPACK (LiteRT 2.3), while MUL and
    LOGISTIC are, so the whole MBConv stays in one multi-threaded partition.
    The sigmoid output gets TFLite's fixed LOGISTIC range (scale 1/256, zero
    point -128), the scaled input and the product learned ones.
    """

    QUANTIZATION_POINTS = (("scaled_point", "activation"), ("sigmoid_point", "unit"))

    def __init__(self, slope: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.slope = float(slope)
        self._init_quantization_points()

    def call(self, inputs):
        scaled = inputs if self.slope == 1.0 else self.scaled_point(inputs * self.slope)
        return inputs * self.sigmoid_point(tf.math.sigmoid(scaled))

    def quantization_points(self):
        return tuple(p for p in self.QUANTIZATION_POINTS
                     if self.slope != 1.0 or p[0] != "scaled_point")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "slope": self.slope}


@_register
class TanhGelu(QuantizationPointsMixin, keras.layers.Layer):
    """GELU's tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in int8 ops.

    Written as x * sigmoid(x * (A + C x^2)), A = 2 sqrt(2/pi), C = 0.044715 A:

        squared = x * x                                  MUL       range [0, 9]
        inner   = DEPTHWISE_CONV_2D 1x1 (squared; kernel C, bias A)  [0, A + 9C]
        logit   = x * inner                              MUL       range [-8, 8]
        gate    = LOGISTIC(logit)                                  [0, 1)
        output  = x * gate                               MUL       learned

    Within 5e-4 of the exact (erf) GELU, against 0.021 for x * sigmoid(1.702 x)
    (SigmoidGate), and every op has an int8 kernel that XNNPACK takes. Two
    ops more than SigmoidGate, which is why it is an option (deploy.py).

    The ranges are fixed, not learned: trained MOAT activations reach |x| ~ 20
    before a GELU, and a learned range for x^2 (up to 400) rounds away the
    cubic term where it matters. Clipping x^2 at 9 and the logit at +-8 only
    changes values where the gate is saturated anyway (|x| >= 3): the
    clipped form stays within 3.4e-4 * |x| of GELU. The affine is a depthwise
    convolution so that A is its int32 bias (an ADD of a constant would be
    one op and one rounding more); its kernel C is code 127, exact.
    """

    A = 2.0 * np.sqrt(2.0 / np.pi)
    C = 0.044715 * A
    SQUARED_MAX = 9.0
    LOGIT_LIMIT = 8.0
    QUANTIZATION_POINTS = (("squared_point", "fixed"), ("kernel_point", "fixed"),
                           ("inner_point", "fixed"), ("logit_point", "fixed"),
                           ("gate_point", "unit"))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._init_quantization_points()

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: TanhGelu needs [batch, height, width, channels] "
                             f"inputs, got rank {len(input_shape)}")
        self.channels = int(input_shape[-1])
        super().build(input_shape)

    def call(self, inputs):
        squared = self.squared_point(inputs * inputs)
        kernel = self.kernel_point(tf.fill([1, 1, self.channels, 1], float(self.C)))
        inner = tf.nn.depthwise_conv2d(squared, kernel, [1, 1, 1, 1], "VALID")
        inner = self.inner_point(tf.nn.bias_add(inner, tf.fill([self.channels], float(self.A))))
        gate = self.gate_point(tf.math.sigmoid(self.logit_point(inputs * inner)))
        return inputs * gate

    def fixed_range(self, point):
        return {"squared_point": (0.0, self.SQUARED_MAX),
                "kernel_point": (-self.C, self.C),
                "inner_point": (0.0, self.A + self.C * self.SQUARED_MAX),
                "logit_point": (-self.LOGIT_LIMIT, self.LOGIT_LIMIT)}[point]

    def compute_output_shape(self, input_shape):
        return input_shape


@_register
class AttentionScores(AttentionLogits):
    """q k^T per head, for queries already multiplied by head_size^-0.5.

    The deploy rewrite folds the 1/sqrt(head_size) scale into the query
    projection, which removes a MUL (and its requantization) per attention
    layer. Same inputs, outputs and config as AttentionLogits.

    k^T is computed by an explicit TRANSPOSE ([B, S, N, K] -> [B, N, K, S])
    and the product is a plain matmul: `tf.matmul(q, k, transpose_b=True)`
    becomes a BATCH_MATMUL with adj_y=True, which XNNPACK (LiteRT 2.3) does
    not take in int8, leaving it to TFLite's single-threaded builtin kernel.
    """

    def call(self, inputs):
        q, k = inputs
        q = _heads_first(q, self.num_heads, self.head_size)
        tokens = k.shape[1] * k.shape[2]
        k = tf.reshape(k, [-1, tokens, self.num_heads, self.head_size])
        return tf.matmul(q, tf.transpose(k, [0, 2, 3, 1]))


def _heads_first(x, num_heads, head_size):
    """[B, h, w, N*K] -> [B, N, h*w, K] (static token count, dynamic batch)."""
    tokens = x.shape[1] * x.shape[2]
    x = tf.reshape(x, [-1, tokens, num_heads, head_size])
    return tf.transpose(x, [0, 2, 1, 3])


@_register
class SymmetricConv2D(keras.layers.Conv2D):
    """A Conv2D whose output is quantized symmetrically (int8 zero point 0).

    The same float op; only its QuantizeConfig differs (configs.py). The
    deploy rewrite uses it for the key and value projections: they end up as
    the right-hand operands of the attention BATCH_MATMULs, which XNNPACK
    only runs in int8 when that operand's zero point is 0.
    """


@_register
class RelativePositionBiasAdd(QuantizationPointsMixin, RelativePositionBias):
    """RelativePositionBias whose dense bias is a quantization point.

    The bias is computed from the learned table at call time (so training
    still updates the table) and becomes a constant operand of an int8 ADD
    in TFLite; that constant needs an int8 range of its own.

    For conversion, `frozen_bias()` swaps the table expression for its value
    as a constant: the converter does not fold expressions whose result is
    much larger than their inputs ([heads, 196, 196] from [heads, 27, 27]),
    which would leave the bias computed at run time and its fake quantizer
    (whose range depends on it) impossible to convert.
    """

    QUANTIZATION_POINTS = (("bias_point", "constant"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quantization_points()
        self._frozen = None

    def call(self, logits):
        bias = self.bias() if self._frozen is None else tf.constant(self._frozen)
        # [heads, S, S] broadcasts over the batch of [B, heads, S, S] logits.
        return logits + self.bias_point(tf.cast(bias, logits.dtype))

    @contextlib.contextmanager
    def frozen_bias(self):
        """Within the context, call() uses the current bias as a constant."""
        self._frozen = self.bias().numpy()
        try:
            yield
        finally:
            self._frozen = None


@_register
class NormalizeWithPoint(QuantizationPointsMixin, Normalize):
    """Normalize ((x - mean) / std, for raw-pixel inputs) with its SUB quantizable.

    TFLite runs it as SUB then MUL (the stem convolution pads, so it cannot
    absorb the affine exactly); the difference needs a range of its own.
    """

    QUANTIZATION_POINTS = (("centered_point", "activation"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quantization_points()

    def call(self, inputs):
        scale = tf.constant([1.0 / s for s in self.std], inputs.dtype)
        return self.centered_point(inputs - tf.constant(self.mean, inputs.dtype)) * scale


@_register
class DepthwiseAveragePool(QuantizationPointsMixin, keras.layers.Layer):
    """AveragePooling2D as a depthwise convolution: the same averages, an int8
    op that XNNPACK runs (LiteRT 2.3 leaves int8 AVERAGE_POOL_2D to a
    single-threaded builtin kernel, splitting the delegated graph).

    The kernel is the constant 1/k^2 (exactly int8 code 127 of a symmetric
    range). With "same" padding, windows at the bottom and right borders hold
    fewer than k^2 pixels and the pool divides by that count, so the result is
    multiplied by a constant [1, H', W', 1] map of k^2 / count (1 inside).
    The map's int8 range is chosen so that every entry is exactly a code
    (e.g. 1, 1.5, 2.25 -> 112, 168, 252 with scale 1/112), so no output is
    scaled by a rounded factor. Like TFLite's AVERAGE_POOL_2D, the sums and
    the output keep the input's range ("shared": averages lie within the
    input's range): inside the map the MUL by exactly 1 then rounds nothing,
    and the results equal the int8 pool's (closer to the float model than
    with ranges of their own).
    """

    QUANTIZATION_POINTS = (("kernel_point", "fixed"), ("pooled_point", "shared"),
                           ("correction_point", "fixed"))

    def __init__(self, pool_size, strides, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(int(k) for k in pool_size)
        self.strides = tuple(int(k) for k in strides)
        self.padding = str(padding).lower()
        self._init_quantization_points()
        self.correction = None

    def build(self, input_shape):
        self.channels = int(input_shape[-1])
        self.correction = _pool_correction(tuple(input_shape[1:3]), self.pool_size,
                                           self.strides, self.padding)
        super().build(input_shape)

    def call(self, inputs):
        weight = 1.0 / (self.pool_size[0] * self.pool_size[1])
        kernel = self.kernel_point(tf.fill(self.pool_size + (self.channels, 1), weight))
        pooled = tf.nn.depthwise_conv2d(inputs, kernel, (1,) + self.strides + (1,),
                                        self.padding.upper())
        if self.correction is None:
            return pooled  # quantized as the layer's output
        return self.pooled_point(pooled) * self.correction_point(tf.constant(self.correction))

    def quantization_points(self):
        if self.correction is None:
            return self.QUANTIZATION_POINTS[:1]
        return self.QUANTIZATION_POINTS

    def fixed_range(self, point):
        if point == "kernel_point":  # 1/k^2 is code 127 of a symmetric range: exact
            weight = 1.0 / (self.pool_size[0] * self.pool_size[1])
            return -weight, weight
        return 0.0, exact_grid_max(np.unique(self.correction))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


def _pool_correction(size, kernel, strides, padding):
    """[1, H', W', 1] of k^2 / (pixels in each window), or None if every window is full."""
    if padding != "same":
        return None
    counts = []
    for n, k, s in zip(size, kernel, strides):
        out = -(-n // s)
        pad = max((out - 1) * s + k - n, 0)
        start = np.arange(out) * s - pad // 2
        counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    full = kernel[0] * kernel[1]
    count = counts[0][:, None] * counts[1][None, :]
    if (count == full).all():
        return None
    return (full / count).astype(np.float32)[None, :, :, None]


def exact_grid_max(values, levels: int = 255) -> float:
    """The max of a [0, max] int8 range on which every value (>= 0) is a code.

    The largest step max(values) / n (n <= levels) that divides every value;
    with none, plain max(values) (the values are then rounded).
    """
    top = float(np.max(values))
    for n in range(levels, 0, -1):
        codes = np.asarray(values, np.float64) * n / top
        if np.allclose(codes, np.round(codes), rtol=0, atol=1e-4):
            return top * levels / n
    return top


@_register
class InputQuantize(keras.layers.Layer):
    """Identity after the model input: the tensor whose range becomes the int8 input's.

    The QAT layout transform (configs.py) inserts it after each InputLayer;
    its QuantizeConfig quantizes its output.
    """

    def call(self, inputs):
        return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


LAYERS = {cls.__name__: cls for cls in (DecomposedLayerNorm, SigmoidGate, AttentionScores,
                                        RelativePositionBiasAdd, NormalizeWithPoint,
                                        InputQuantize, SymmetricConv2D, DepthwiseAveragePool)}
