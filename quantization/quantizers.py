"""The three kinds of fake quantization the MOAT graph needs, as tfmot Quantizers.

* `ActivationQuantizer`: asymmetric per-tensor int8 ranges of activations,
  learned from the data seen in training. tfmot's MovingAverageQuantizer starts
  from [-6, 6] and moves with an EMA decay of 0.999, so after a short
  fine-tuning the ranges are still mostly the initial guess. Here a range starts
  empty ([0, 0]), takes the first training batch's min/max, then follows an EMA
  with a configurable decay. It can also be observed (see `observe`) to collect
  float statistics for post-training calibration, and its range set directly.
* `WeightQuantizer`: symmetric, narrow-range int8 ranges computed from the
  current weight values every call, with no state. In the frozen graph the
  range is a constant expression of a constant, which the TFLite converter
  folds, so weights can never carry a stale range (tfmot's LastValueQuantizer
  only refreshes its stored range in training mode, leaving an untrained QAT
  model with [-6, 6] weight ranges). Per-channel along any axis: the
  depthwise kernel [kh, kw, C, 1] is quantized per input channel, the axis
  TFLite's DEPTHWISE_CONV_2D quantizes.
* `FixedRangeQuantizer`: a constant range, for the outputs whose int8
  parameters TFLite fixes (LOGISTIC, SOFTMAX: scale 1/256, zero point -128).
* `SharedRangeQuantizer`: the range of the quantizer upstream, for outputs
  TFLite requantizes onto their input's grid (AVERAGE_POOL_2D).

Every quantizer takes an optional `name` that overrides the name the wrapper
passes to `build`: a layer with several internal quantization points (see
`layers.py`) would otherwise create several variables called
"post_activation_min".
"""

from __future__ import annotations

import contextlib
import threading
from typing import Optional

import numpy as np

from tinymoat._keras import keras, tf

import tensorflow_model_optimization as tfmot  # noqa: E402  (after tinymoat._keras)

_Quantizer = tfmot.quantization.keras.quantizers.Quantizer
_register = keras.utils.register_keras_serializable(package="tinymoat.quantization")

# TFLite's int8 spec for ops with a fixed output range: [0, 1) in steps of 1/256.
UNIT_INTERVAL_MIN = 0.0
UNIT_INTERVAL_MAX = 255.0 / 256.0


def _range_including_zero(lo, hi):
    # TFLite needs 0 to be exactly representable, hence inside the range.
    return tf.minimum(lo, 0.0), tf.maximum(hi, 0.0)


@_register
class ActivationQuantizer(_Quantizer):
    """8-bit asymmetric per-tensor fake quantization with a learned range.

    In training the range [min, max] (non-trainable variables, 0 included)
    is set from the first batch, then updated as an exponential moving average
    of batch min/max with `ema_decay`. In inference the stored range is used.
    A range still [0, 0] means the tensor was never seen: `qat.check_ranges`
    refuses to convert such a model.

    With `symmetric=True` the tensor is quantized on [-m, m], m = max(-min,
    max), narrow range ([-127, 127]): int8 zero point exactly 0. XNNPACK only
    takes an int8 BATCH_MATMUL whose right-hand operand has zero point 0 (the
    attention keys and values, see deploy.py); otherwise the op runs in
    TFLite's single-threaded builtin kernel, ~20x slower. The stored variables
    stay the observed min/max, so every calibration statistic (ptq.py)
    writes them as usual and the symmetry is applied here, in one place.
    """

    def __init__(self, ema_decay: float = 0.99, name: Optional[str] = None, num_bits: int = 8,
                 symmetric: bool = False):
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        self.ema_decay = float(ema_decay)
        self.name = name
        self.num_bits = int(num_bits)
        self.symmetric = bool(symmetric)

    def build(self, tensor_shape, name, layer):
        name = self.name or name
        zeros = keras.initializers.Constant(0.0)
        # MEAN aggregation lets each replica of a distribution strategy assign
        # its update in replica context; the replicas' ranges are averaged.
        return {
            "min_var": layer.add_weight(f"{name}_min", shape=(), initializer=zeros,
                                        trainable=False,
                                        aggregation=tf.VariableAggregation.MEAN),
            "max_var": layer.add_weight(f"{name}_max", shape=(), initializer=zeros,
                                        trainable=False,
                                        aggregation=tf.VariableAggregation.MEAN),
        }

    def __call__(self, inputs, training, weights, **kwargs):
        observer = _active_observer()
        if observer is not None:
            observer.record(weights, inputs)
            return inputs
        min_var, max_var = weights["min_var"], weights["max_var"]
        if training:
            batch_min, batch_max = _range_including_zero(
                tf.stop_gradient(tf.reduce_min(inputs)), tf.stop_gradient(tf.reduce_max(inputs)))
            seen = tf.logical_or(min_var < 0.0, max_var > 0.0)
            d = self.ema_decay
            new_min = tf.where(seen, d * min_var + (1.0 - d) * batch_min, batch_min)
            new_max = tf.where(seen, d * max_var + (1.0 - d) * batch_max, batch_max)
            lo = min_var.assign(new_min)
            hi = max_var.assign(new_max)
            with tf.control_dependencies([lo, hi]):
                lo, hi = tf.identity(new_min), tf.identity(new_max)
        else:
            lo, hi = tf.convert_to_tensor(min_var), tf.convert_to_tensor(max_var)
        if self.symmetric:
            bound = tf.maximum(tf.maximum(-lo, hi), 1e-8)
            return tf.quantization.fake_quant_with_min_max_vars(
                inputs, -bound, bound, num_bits=self.num_bits, narrow_range=True)
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, lo, hi, num_bits=self.num_bits, narrow_range=False)

    def get_config(self):
        return {"ema_decay": self.ema_decay, "name": self.name, "num_bits": self.num_bits,
                "symmetric": self.symmetric}

    def __eq__(self, other):
        return isinstance(other, ActivationQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


@_register
class WeightQuantizer(_Quantizer):
    """8-bit symmetric narrow-range ([-127, 127]) fake quantization of a constant.

    The range is max|w| (per tensor, or per slice along `axis`) of the value
    being quantized, recomputed at every call; nothing is stored. The range
    carries no gradient, so weights train with the straight-through estimator.
    With `symmetric=False` the range is [min(w, 0), max(w, 0)] (for constants
    added to activations, such as the attention bias).
    """

    def __init__(self, axis: Optional[int] = None, symmetric: bool = True,
                 name: Optional[str] = None, num_bits: int = 8):
        self.axis = None if axis is None else int(axis)
        self.symmetric = bool(symmetric)
        self.name = name
        self.num_bits = int(num_bits)

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return fake_quantize_constant(inputs, self.axis, self.symmetric, self.num_bits)

    def get_config(self):
        return {"axis": self.axis, "symmetric": self.symmetric, "name": self.name,
                "num_bits": self.num_bits}

    def __eq__(self, other):
        return isinstance(other, WeightQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


def fake_quantize_constant(w, axis=None, symmetric=True, num_bits=8):
    """Fake-quantizes `w` with a range computed from `w` itself (see WeightQuantizer)."""
    w = tf.convert_to_tensor(w)
    rank = w.shape.rank
    perm = None
    if axis is not None:
        axis = axis % rank
        if axis != rank - 1:
            perm = list(range(rank))
            perm[axis], perm[-1] = perm[-1], perm[axis]
            w = tf.transpose(w, perm)
        reduce_axes = list(range(rank - 1))
    else:
        reduce_axes = None
    if symmetric:
        bound = tf.stop_gradient(tf.reduce_max(tf.abs(w), axis=reduce_axes))
        # An all-zero slice still needs a positive scale.
        bound = tf.maximum(bound, 1e-8)
        lo, hi = -bound, bound
    else:
        lo, hi = _range_including_zero(
            tf.stop_gradient(tf.reduce_min(w, axis=reduce_axes)),
            tf.stop_gradient(tf.reduce_max(w, axis=reduce_axes)))
        hi = tf.maximum(hi, lo + 1e-8)
    if axis is None:
        q = tf.quantization.fake_quant_with_min_max_vars(
            w, lo, hi, num_bits=num_bits, narrow_range=symmetric)
    else:
        q = tf.quantization.fake_quant_with_min_max_vars_per_channel(
            w, lo, hi, num_bits=num_bits, narrow_range=symmetric)
    return tf.transpose(q, perm) if perm is not None else q


@_register
class FixedRangeQuantizer(_Quantizer):
    """Fake quantization with a constant range (no variables).

    The default [0, 255/256] gives scale 1/256 and zero point -128 in int8,
    the output parameters TFLite requires of LOGISTIC and SOFTMAX, so the
    converter needs no requantization after them. A symmetric range
    [-m, m] is narrow ([-127, 127], zero point 0): what int8 convolution
    kernels need, with m exactly code 127.
    """

    def __init__(self, min_value: float = UNIT_INTERVAL_MIN, max_value: float = UNIT_INTERVAL_MAX,
                 name: Optional[str] = None, num_bits: int = 8):
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.name = name
        self.num_bits = int(num_bits)
        self.narrow_range = self.min_value == -self.max_value

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return tf.quantization.fake_quant_with_min_max_args(
            inputs, min=self.min_value, max=self.max_value, num_bits=self.num_bits,
            narrow_range=self.narrow_range)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "name": self.name,
                "num_bits": self.num_bits}

    def __eq__(self, other):
        return isinstance(other, FixedRangeQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


@_register
class SharedRangeQuantizer(_Quantizer):
    """Fake quantization with another quantizer's range, read and never updated.

    TFLite runs AVERAGE_POOL_2D with its input's scale and zero point, so the
    averages are rounded back onto the input's grid. To simulate that rounding
    the pool's output quantizer uses the range of the quantizer that produced
    its input; `qat.link_shared_ranges` points `source` at that range (it is
    a Python reference, not a saved variable, and is restored after loading).
    Unlinked, or while calibration observes float values, it is the identity.
    """

    def __init__(self, num_bits: int = 8):
        self.num_bits = int(num_bits)
        self.source = None  # {"min_var", "max_var"} of the producing ActivationQuantizer

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        if self.source is None or _active_observer() is not None:
            return inputs
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, tf.convert_to_tensor(self.source["min_var"]),
            tf.convert_to_tensor(self.source["max_var"]), num_bits=self.num_bits,
            narrow_range=False)

    def get_config(self):
        return {"num_bits": self.num_bits}

    def __eq__(self, other):
        return isinstance(other, SharedRangeQuantizer) and self.num_bits == other.num_bits

    def __ne__(self, other):
        return not self.__eq__(other)


QUANTIZERS = {cls.__name__: cls for cls in (ActivationQuantizer, WeightQuantizer,
                                            FixedRangeQuantizer, SharedRangeQuantizer)}


# --- observing float activations for post-training calibration -------------------

_state = threading.local()


def _active_observer():
    return getattr(_state, "observer", None)


class RangeObserver:
    """Collects float statistics at every ActivationQuantizer while active.

    While `observe(observer)` is active, ActivationQuantizers pass tensors
    through unquantized and hand them to `record`, keyed by their range
    variables. Models must be called eagerly (model(x), not predict) so the
    values are concrete. Subclasses decide what to keep (see ptq.py).
    """

    def __init__(self):
        self.points = {}  # id(min_var) -> (weights dict, state)

    def record(self, weights, inputs):
        if not tf.executing_eagerly() or not hasattr(inputs, "numpy"):
            raise RuntimeError("calibration needs eager execution: call the model "
                               "directly (model(x)), not inside tf.function/predict")
        key = id(weights["min_var"])
        entry = self.points.get(key)
        state = self.update(key, None if entry is None else entry[1],
                            np.asarray(inputs.numpy(), np.float32))
        self.points[key] = (weights, state)

    def update(self, key, state, values: np.ndarray):  # pragma: no cover - abstract
        """The new state of point `key` after seeing `values` (state None at first)."""
        raise NotImplementedError

    def assign(self, ranges):
        """Writes {id(min_var): (lo, hi)} into the quantizers' range variables."""
        for key, (lo, hi) in ranges.items():
            weights = self.points[key][0]
            lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
            weights["min_var"].assign(lo)
            weights["max_var"].assign(hi)


@contextlib.contextmanager
def observe(observer: RangeObserver):
    previous = _active_observer()
    _state.observer = observer
    try:
        yield observer
    finally:
        _state.observer = previous
