"""Which tensors of each layer get which fake quantizer: QuantizeConfigs and their registry.

The registry maps a layer class to a factory `(layer, options) -> QuantizeConfig`;
`register` adds classes (a new custom layer needs one line, not a new branch
somewhere). The placement follows what TFLite's int8 kernels compute:

* convolutions: per-channel symmetric int8 weights, int32 bias (derived by the
  converter), a learned output range;
* ops that compute a new value (ADD, MUL, MEAN, GELU, BATCH_MATMUL, ...): a
  learned output range;
* the key and value projections (SymmetricConv2D, the right-hand operands of
  the attention BATCH_MATMULs): a learned symmetric range, zero point 0, which
  XNNPACK needs to run those matmuls (quantizers.ActivationQuantizer);
* LOGISTIC and SOFTMAX outputs: TFLite's fixed range (scale 1/256, zero
  point -128);
* ops that only move values (RESHAPE, TRANSPOSE, window partition/merge):
  no quantizer, the converter gives the output the input's parameters;
* AVERAGE_POOL_2D, which TFLite runs with its input's scale: the input's
  range, shared (SharedRangeQuantizer), so the averages are rounded as in TFLite;
* layers with intermediate ops (layers.py): a quantizer per point.

Layer classes not registered are reported by name (`UnsupportedLayerError`):
a layer quantize_model cannot place quantizers in would otherwise end up as
float ops in the converted graph.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Type

from tinymoat._keras import keras
from tinymoat.layers import (AttendValues, AttentionSoftmax, DropPath, Gelu, WindowMerge,
                             WindowPartition)

import tensorflow_model_optimization as tfmot  # noqa: E402

from .layers import (AttentionScores, DecomposedLayerNorm, DepthwiseAveragePool,
                     InputQuantize, NormalizeWithPoint,
                     QuantizationPointsMixin, RelativePositionBiasAdd, SigmoidGate, SymmetricConv2D,
                     TanhGelu)
from .quantizers import (ActivationQuantizer, FixedRangeQuantizer, SharedRangeQuantizer,
                         WeightQuantizer)

L = keras.layers
_QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
_register = keras.utils.register_keras_serializable(package="tinymoat.quantization")


class UnsupportedLayerError(ValueError):
    pass


class QuantizeOptions:
    """Knobs shared by every config of one quantize_model call."""

    def __init__(self, ema_decay: float = 0.99):
        self.ema_decay = float(ema_decay)


@_register
class MoatQuantizeConfig(_QuantizeConfig):
    """Weights, intermediate points and output of one layer.

    weights: [(attribute, per-channel axis or None)] quantized with
        WeightQuantizer (symmetric, narrow range), e.g. ("kernel", -1).
    points: quantize the layer's QUANTIZATION_POINTS (see layers.py).
    output: "activation" (learned range), "symmetric" (learned, zero point
        0), "unit" (fixed [0, 1) range of LOGISTIC/SOFTMAX), "shared" (rounded
        onto the input's grid, see SharedRangeQuantizer) or None (the op keeps
        its input's values).
    """

    def __init__(self, weights=(), points: bool = False, output: Optional[str] = "activation",
                 ema_decay: float = 0.99):
        self.weights = [(str(a), None if x is None else int(x)) for a, x in weights]
        self.points = bool(points)
        self.output = output
        self.ema_decay = float(ema_decay)

    def _quantizer(self, kind, name=None):
        if kind == "activation":
            return ActivationQuantizer(self.ema_decay, name=name)
        if kind == "symmetric":
            return ActivationQuantizer(self.ema_decay, name=name, symmetric=True)
        if kind == "unit":
            return FixedRangeQuantizer(name=name)
        if kind == "constant":
            return WeightQuantizer(axis=None, symmetric=False, name=name)
        if kind == "shared":
            return SharedRangeQuantizer()
        raise ValueError(f"unknown quantizer kind {kind!r}")

    def get_weights_and_quantizers(self, layer):
        return [(getattr(layer, attr), WeightQuantizer(axis=axis)) for attr, axis in self.weights]

    def set_quantize_weights(self, layer, quantize_weights):
        for (attr, _), value in zip(self.weights, quantize_weights):
            setattr(layer, attr, value)

    def _points(self, layer):
        if not self.points:
            return ()
        if not isinstance(layer, QuantizationPointsMixin):
            raise UnsupportedLayerError(f"{layer.name} has no quantization points")
        return layer.quantization_points()

    def get_activations_and_quantizers(self, layer):
        return [(getattr(layer, attr), self._point_quantizer(layer, attr, kind))
                for attr, kind in self._points(layer)]

    def _point_quantizer(self, layer, attr, kind):
        if kind == "fixed":  # a constant range the layer computes (layer.fixed_range)
            return FixedRangeQuantizer(*layer.fixed_range(attr), name=attr)
        return self._quantizer(kind, name=attr)

    def set_quantize_activations(self, layer, quantize_activations):
        for (attr, _), value in zip(self._points(layer), quantize_activations):
            setattr(layer, attr, value)

    def get_output_quantizers(self, layer):
        return [] if self.output is None else [self._quantizer(self.output)]

    def get_config(self):
        return {"weights": [list(w) for w in self.weights], "points": self.points,
                "output": self.output, "ema_decay": self.ema_decay}

    def __eq__(self, other):
        return isinstance(other, MoatQuantizeConfig) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


# --- the registry ---------------------------------------------------------------

ConfigFactory = Callable[[L.Layer, QuantizeOptions], MoatQuantizeConfig]
_REGISTRY: Dict[Type[L.Layer], ConfigFactory] = {}


def register(*layer_classes: Type[L.Layer]):
    """Decorator: `factory(layer, options) -> QuantizeConfig` for these exact classes."""

    def decorate(factory: ConfigFactory) -> ConfigFactory:
        for cls in layer_classes:
            _REGISTRY[cls] = factory
        return factory

    return decorate


def registered_classes() -> List[Type[L.Layer]]:
    return list(_REGISTRY)


def quantize_config_for(layer: L.Layer, options: Optional[QuantizeOptions] = None):
    """The QuantizeConfig of a layer of the deploy graph; UnsupportedLayerError if none."""
    options = options or QuantizeOptions()
    factory = _REGISTRY.get(type(layer))
    if factory is None and isinstance(layer, L.BatchNormalization):
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: a BatchNormalization is quantized by folding it into the "
            "convolution before it or the 1x1 convolution after it (deploy_model); this one "
            "has neither")
    if factory is None:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no int8 quantization rule. "
            "Run quantization.deploy_model first (it rewrites BatchNormalization, "
            "LayerNormalization, HeadProjection, AttentionLogits, RelativePositionBias, "
            "Normalize, swish), or register a config with quantization.configs.register")
    return factory(layer, options)


def _config(options, **kwargs):
    return MoatQuantizeConfig(ema_decay=options.ema_decay, **kwargs)


@register(L.Conv2D)
def _conv(layer, options):
    return _config(options, weights=[("kernel", -1)])


@register(SymmetricConv2D)
def _symmetric_conv(layer, options):
    return _config(options, weights=[("kernel", -1)], output="symmetric")


@register(L.DepthwiseConv2D)
def _depthwise(layer, options):
    # [kh, kw, C, multiplier]: TFLite quantizes the depthwise kernel per input
    # channel (its [1, kh, kw, C*M] layout puts C*M last); with M == 1 that is axis 2.
    if layer.depth_multiplier != 1:
        return _config(options, weights=[("depthwise_kernel", None)])
    return _config(options, weights=[("depthwise_kernel", 2)])


@register(L.Dense)
def _dense(layer, options):
    # FULLY_CONNECTED: per-tensor weights (the converter's default for it).
    return _config(options, weights=[("kernel", None)])


@register(L.Add, L.Multiply, L.Subtract, L.GlobalAveragePooling2D, Gelu, AttentionScores,
          AttendValues, InputQuantize)
def _output_only(layer, options):
    return _config(options)


@register(AttentionSoftmax)
def _softmax(layer, options):
    return _config(options, output="unit")


@register(L.Activation)
def _activation(layer, options):
    name = getattr(layer.activation, "__name__", "")
    if name in ("sigmoid", "softmax"):  # LOGISTIC, SOFTMAX: fixed output range
        return _config(options, output="unit")
    if name == "linear":
        return _config(options, output=None)
    if name in ("relu", "relu6", "gelu"):
        return _config(options)
    raise UnsupportedLayerError(
        f"layer {layer.name!r}: Activation({name!r}) has no int8 rule (swish is rewritten "
        "into SigmoidGate by deploy_model)")


@register(DecomposedLayerNorm, SigmoidGate, TanhGelu, RelativePositionBiasAdd,
          NormalizeWithPoint)
def _with_points(layer, options):
    return _config(options, points=True)


@register(DepthwiseAveragePool)
def _depthwise_average_pool(layer, options):
    return _config(options, points=True, output="shared")  # the input's grid, as the pool


@register(L.AveragePooling2D)
def _average_pool(layer, options):
    # AVERAGE_POOL_2D keeps its input's scale (a range of its own would add a
    # requantization) but rounds the averages onto that grid.
    return _config(options, output="shared")


@register(L.MaxPooling2D, L.Flatten, L.Reshape, L.Permute, WindowPartition, WindowMerge,
          L.Dropout, DropPath)
def _pass_through(layer, options):
    # Same scale in and out in TFLite (MAX_POOL_2D/RESHAPE/TRANSPOSE) and the
    # values are input values: nothing to round, and a quantizer here would
    # only add a requantization.
    return _config(options, output=None)


# --- tfmot scheme: registry + input quantization -----------------------------------


class MoatQuantizeRegistry(tfmot.quantization.keras.QuantizeRegistry):
    """tfmot registry view of the table above."""

    def __init__(self, options: Optional[QuantizeOptions] = None):
        self.options = options or QuantizeOptions()

    def supports(self, layer):
        return type(layer) in _REGISTRY

    def get_quantize_config(self, layer):
        return quantize_config_for(layer, self.options)


_transforms = tfmot.quantization.keras.graph_transformations.transforms


class _QuantizeModelInput(_transforms.Transform):
    """InputLayer -> InputLayer -> InputQuantize (whose output range is the int8 input's)."""

    def __init__(self, options: QuantizeOptions):
        self.options = options

    def pattern(self):
        return _transforms.LayerPattern("InputLayer")

    def replacement(self, match_layer):
        name = match_layer.layer["config"]["name"] + "_quantize"
        config = keras.layers.serialize(InputQuantize(name=name), use_legacy_format=True)
        config["name"] = name
        return _transforms.LayerNode(
            config, input_layers=[match_layer],
            metadata={"quantize_config": _config(self.options)})

    def custom_objects(self):
        return {keras.utils.get_registered_name(InputQuantize): InputQuantize,
                "InputQuantize": InputQuantize}


class MoatLayoutTransform(tfmot.quantization.keras.QuantizeLayoutTransform):
    """Only adds the input quantizer: the deploy graph already has TFLite's layout."""

    def __init__(self, options: Optional[QuantizeOptions] = None):
        self.options = options or QuantizeOptions()

    def apply(self, model, layer_quantize_map):
        transformer = tfmot.quantization.keras.graph_transformations.model_transformer
        return transformer.ModelTransformer(
            model, [_QuantizeModelInput(self.options)], set(layer_quantize_map.keys()),
            layer_quantize_map).transform()


class MoatQuantizeScheme(tfmot.quantization.keras.QuantizeScheme):
    """The QuantizeScheme to pass to tfmot's quantize_apply for deploy graphs."""

    def __init__(self, ema_decay: float = 0.99):
        self.options = QuantizeOptions(ema_decay)

    def get_layout_transformer(self):
        return MoatLayoutTransform(self.options)

    def get_quantize_registry(self):
        return MoatQuantizeRegistry(self.options)
