"""Exact float rewrites that turn a MOAT model into the graph an int8 runtime runs.

`deploy_model(model)` returns a new functional model with the same inputs and
outputs (equal up to float rounding) whose layers map one to one onto the ops
of the int8 TFLite graph, so that quantization-aware training (qat.py) and
post-training quantization (ptq.py) quantize the same tensors the runtime
does. What changes and why:

* BatchNormalization after a Conv2D/DepthwiseConv2D is folded into that
  convolution (per output channel). tfmot would instead keep the BN in
  training and fake-quantize the unfolded kernel, which the converter then
  rescales, so the deployed int8 weights differ from the trained ones.
* BatchNormalization BEFORE a 1x1 Conv2D (MBConv's pre_norm) is folded into
  that convolution (per input channel: W' = W * s, b' = b + W^T t). tfmot
  only folds conv -> BN; left alone, the pre-norm becomes an int8 MUL and ADD
  with two extra roundings. This is exact because a 1x1 convolution pads
  nothing: every output reads exactly the normalised inputs.
* HeadProjection (q/k/v/o) becomes a 1x1 Conv2D with the same kernel: a
  standard layer with per-channel weight quantization and an int8 CONV_2D
  (instead of a FULLY_CONNECTED between dynamic-shape RESHAPEs). The query's
  1/sqrt(head_size) is folded into the q projection and AttentionLogits is
  replaced by AttentionScores, which has no scale (one MUL less) and computes
  k^T by an explicit TRANSPOSE, so both attention BATCH_MATMULs have no
  adjoint (XNNPACK's int8 BATCH_MATMUL needs that, see layers.py).
* The key and value projections become SymmetricConv2D: quantized with zero
  point 0, the other condition for XNNPACK to run the int8 BATCH_MATMULs
  they are the right-hand operand of (q k^T and p v).
* The key projection loses its bias (after any LayerNorm folding): q . b_k is
  the same for every key of a query row, and softmax ignores a constant
  added to a row. The value projection's bias moves into the output
  projection's (b_o + W_o^T b_v), because softmax rows sum to 1:
  sum_j p_ij (v_j + b_v) = sum_j p_ij v_j + b_v. Both are exact in real
  arithmetic (equal up to float rounding) and each removes a constant the
  int8 graph would round, and makes the symmetric K and V ranges tight.
* LayerNormalization becomes DecomposedLayerNorm (one op per step, each
  quantizable). When every consumer is a 1x1 convolution (possibly behind a
  WindowPartition, which only moves pixels), gamma and beta are folded into
  those convolutions like a pre-norm BN, saving the MUL and ADD.
* Activation("swish") becomes SigmoidGate (LOGISTIC and MUL, each quantizable).
* GELU becomes x * sigmoid(1.702 x) (SigmoidGate: MUL, LOGISTIC, MUL) unless
  `gelu="erf"`. This is the one rewrite that is not exact: the two differ by
  at most 0.021 (at |x| ~ 2), which costs about 2 dB of int8 agreement on
  trained models (docs/quantization.md, bench/accuracy.py); the --mixed export
  quantizes from gelu="erf" for that reason. It is there for speed: XNNPACK
  does not take TFLite's int8 GELU, which would run single-threaded between
  delegate partitions, while MUL and LOGISTIC run inside XNNPACK. The exporter
  then folds the 1.702 into the quantization scales (tinymoat.quantization.tflite.gelu),
  which LiteRT 1.4 needs to run the chain fast.
  `gelu="tanh"` instead gives TanhGelu: GELU's tanh form in int8 ops that
  XNNPACK also runs (within 5e-4 of erf GELU; two more elementwise ops per
  GELU): the full-integer choice when agreement matters more than speed.
* RelativePositionBias becomes RelativePositionBiasAdd (its bias quantizable).
* AveragePooling2D (the shortcut of strided blocks) becomes
  DepthwiseAveragePool: a depthwise convolution with kernel 1/k^2, times a
  constant map where "same" padding leaves windows partial (int8
  AVERAGE_POOL_2D is not taken by XNNPACK).
* Normalize (raw-pixel input) becomes NormalizeWithPoint (its SUB quantizable).
* DropPath is removed: it is the identity at inference.
* Functional sub-models (tinymoat.with_pixel_input) are inlined.

Everything else is rebuilt from its own config with its own weights.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from tinymoat._keras import keras, tf
from tinymoat.layers import (AttendValues, AttentionLogits, DropPath, Gelu, HeadProjection,
                             Normalize, RelativePositionBias, WindowPartition)

from .forms import GELU_FORMS
from .layers import (AttentionScores, DecomposedLayerNorm, DepthwiseAveragePool,
                     NormalizeWithPoint,
                     RelativePositionBiasAdd, SigmoidGate, SymmetricConv2D, TanhGelu)

L = keras.layers

# x * sigmoid(GELU_SIGMOID_SLOPE * x) approximates GELU (Hendrycks & Gimpel, 2016).
GELU_SIGMOID_SLOPE = 1.702

# Layers between a per-channel affine and the convolution it folds into that
# only move whole pixels (channels stay the last axis, values unchanged).
_PIXEL_MOVES = (WindowPartition,)


class Affine:
    """y = x * scale + shift over the last axis (float64)."""

    def __init__(self, scale, shift):
        self.scale = np.asarray(scale, np.float64)
        self.shift = np.asarray(shift, np.float64)

    @classmethod
    def of_batch_norm(cls, bn: L.BatchNormalization) -> "Affine":
        if bn.axis not in ([-1], [3]) and list(bn.axis) != [len(bn.input_shape) - 1]:
            raise ValueError(f"{bn.name}: only channels-last BatchNormalization can be folded")
        mean = bn.moving_mean.numpy().astype(np.float64)
        var = bn.moving_variance.numpy().astype(np.float64)
        gamma = bn.gamma.numpy().astype(np.float64) if bn.scale else np.ones_like(mean)
        beta = bn.beta.numpy().astype(np.float64) if bn.center else np.zeros_like(mean)
        scale = gamma / np.sqrt(var + bn.epsilon)
        return cls(scale, beta - mean * scale)

    @classmethod
    def of_layer_norm(cls, ln) -> "Affine":
        gamma = ln.gamma.numpy() if getattr(ln, "scale", True) else None
        beta = ln.beta.numpy() if getattr(ln, "center", True) else None
        channels = int(ln.input_shape[-1])
        return cls(np.ones(channels) if gamma is None else gamma,
                   np.zeros(channels) if beta is None else beta)


def fold_affines(kernel: np.ndarray, bias: Optional[np.ndarray], before: Optional[Affine] = None,
                 after: Optional[Affine] = None, depthwise: bool = False):
    """Kernel and bias of conv(before(x)) followed by `after`, as one convolution.

    `before` may only be given for 1x1 kernels (no padding, so the shift
    reaches every output). Depthwise kernels are [kh, kw, C, multiplier] with
    output channel c * multiplier + m.
    """
    kernel = np.asarray(kernel, np.float64)
    out_channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    bias = np.zeros(out_channels) if bias is None else np.asarray(bias, np.float64)
    if before is not None:
        if depthwise or kernel.shape[:2] != (1, 1):
            raise ValueError("an input affine folds exactly only into a 1x1 Conv2D")
        bias = bias + np.einsum("hwio,i->o", kernel, before.shift)
        kernel = kernel * before.scale[None, None, :, None]
    if after is not None:
        if depthwise:
            kh, kw, c, m = kernel.shape
            kernel = (kernel.reshape(kh, kw, c * m) * after.scale).reshape(kh, kw, c, m)
        else:
            kernel = kernel * after.scale
        bias = bias * after.scale + after.shift
    return kernel.astype(np.float32), bias.astype(np.float32)


class _Graph:
    """Producers and consumers of each layer of a flat functional model."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.consumers: Dict[str, list] = {l.name: [] for l in model.layers}
        self.producers: Dict[str, list] = {l.name: [] for l in model.layers}
        for layer in model.layers:
            for node in layer._inbound_nodes:  # pylint: disable=protected-access
                for parent in tf.nest.flatten(node.inbound_layers):
                    if parent.name in self.consumers:
                        self.consumers[parent.name].append(layer)
                        self.producers[layer.name].append(parent)
        for layer in model.layers:
            if len(layer._inbound_nodes) > 1:  # pylint: disable=protected-access
                raise ValueError(f"layer {layer.name} is called more than once; deploy_model "
                                 "needs a flat graph with one call per layer")

    def convs_behind(self, layer):
        """The consumers of `layer` seen through pixel moves, or None if any is not a conv."""
        found = []
        for c in self.consumers[layer.name]:
            if isinstance(c, _PIXEL_MOVES):
                inner = self.convs_behind(c)
                if inner is None:
                    return None
                found.extend(inner)
            elif _is_pointwise(c):
                found.append(c)
            else:
                return None
        return found or None


def _is_pointwise(layer) -> bool:
    if isinstance(layer, HeadProjection):
        return True
    return (type(layer) is L.Conv2D and tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1)


class _Plan:
    def __init__(self):
        self.before: Dict[str, Affine] = {}
        self.after: Dict[str, Affine] = {}
        self.output_scale: Dict[str, float] = {}
        self.removed = set()
        self.affine_free_norms = set()
        self.symmetric = set()  # projections quantized with zero point 0 (SymmetricConv2D)
        self.drop_bias = set()  # projections whose (folded) bias is dropped or moved
        self.gelu = "sigmoid"


def _make_plan(graph: _Graph, fold_batch_norms: bool, fold_layer_norm_affine: bool,
               gelu: str) -> _Plan:
    plan = _Plan()
    plan.gelu = gelu
    for layer in graph.model.layers:
        if isinstance(layer, L.BatchNormalization) and fold_batch_norms:
            producers = graph.producers[layer.name]
            producer = producers[0] if len(producers) == 1 else None
            if (producer is not None and type(producer) in (L.Conv2D, L.DepthwiseConv2D)
                    and graph.consumers[producer.name] == [layer]
                    and producer.activation in (None, keras.activations.linear)
                    and producer.name not in plan.after):
                plan.after[producer.name] = Affine.of_batch_norm(layer)
                plan.removed.add(layer.name)
                continue
            convs = graph.convs_behind(layer)
            if convs and all(c.name not in plan.before for c in convs):
                affine = Affine.of_batch_norm(layer)
                for conv in convs:
                    plan.before[conv.name] = affine
                plan.removed.add(layer.name)
        elif isinstance(layer, L.LayerNormalization) and fold_layer_norm_affine:
            convs = graph.convs_behind(layer)
            if convs and all(c.name not in plan.before for c in convs):
                affine = Affine.of_layer_norm(layer)
                for conv in convs:
                    plan.before[conv.name] = affine
                plan.affine_free_norms.add(layer.name)
        elif type(layer) is AttentionLogits:
            query = graph.producers[layer.name][0]
            if not isinstance(query, HeadProjection) or len(graph.consumers[query.name]) != 1:
                raise ValueError(f"{layer.name}: the query must come straight from a "
                                 "HeadProjection used only here to fold the scale")
            plan.output_scale[query.name] = layer.head_size ** -0.5
            key = graph.producers[layer.name][1]
            if isinstance(key, HeadProjection):
                plan.symmetric.add(key.name)
                if len(graph.consumers[key.name]) == 1:
                    plan.drop_bias.add(key.name)
        elif isinstance(layer, DropPath):
            plan.removed.add(layer.name)
    # Second pass: the value bias, folded with its LayerNorm shift, needs the
    # plan's `before` entries of the first pass.
    for layer in graph.model.layers:
        if type(layer) is AttendValues:
            _plan_value_bias(graph, plan, layer)
    return plan


def _plan_value_bias(graph: _Graph, plan: _Plan, attend):
    """Marks v symmetric and moves its bias into the output projection where exact."""
    value = graph.producers[attend.name][1]
    if not isinstance(value, HeadProjection):
        return
    plan.symmetric.add(value.name)
    out = graph.consumers[attend.name]
    if (len(graph.consumers[value.name]) != 1 or len(out) != 1
            or not isinstance(out[0], HeadProjection) or out[0].name in plan.before
            or value.name in plan.output_scale or value.name in plan.after):
        return
    kernel = value.weight.numpy().reshape(-1, value.units)[None, None]
    _, bias = fold_affines(kernel, value.bias.numpy().reshape(-1), plan.before.get(value.name))
    plan.before[out[0].name] = Affine(np.ones(bias.shape), bias)
    plan.drop_bias.add(value.name)


def _conv_from(layer, plan: _Plan):
    """The replacement convolution of a Conv2D, DepthwiseConv2D or HeadProjection."""
    before, after = plan.before.get(layer.name), plan.after.get(layer.name)
    scale = plan.output_scale.get(layer.name)
    if isinstance(layer, HeadProjection):
        kernel = layer.weight.numpy().reshape(-1, layer.units)[None, None]
        bias = layer.bias.numpy().reshape(-1)
        keep_bias = layer.name not in plan.drop_bias
        config = dict(filters=layer.units, kernel_size=1, padding="valid", use_bias=keep_bias,
                      name=layer.name, dtype=layer.dtype)
        new = (SymmetricConv2D if layer.name in plan.symmetric else L.Conv2D)(**config)
        depthwise = False
        if not keep_bias:
            kernel, _ = fold_affines(kernel, bias, before, after)
            return new, [kernel]
    else:
        depthwise = isinstance(layer, L.DepthwiseConv2D)
        kernel = (layer.depthwise_kernel if depthwise else layer.kernel).numpy()
        bias = layer.bias.numpy() if layer.use_bias else None
        if before is None and after is None and scale is None:
            return _clone(layer)
        config = layer.get_config()
        config["use_bias"] = True
        new = type(layer).from_config(config)
    if scale is not None:
        after = Affine(np.full(kernel.shape[-1], scale), np.zeros(kernel.shape[-1])) \
            if after is None else Affine(after.scale * scale, after.shift * scale)
    return new, list(fold_affines(kernel, bias, before, after, depthwise))


def _clone(layer, plan=None):
    return type(layer).from_config(layer.get_config()), layer.get_weights()


def _attention_scores(layer, plan):
    # The 1/sqrt(head_size) went into the query projection (plan.output_scale).
    return AttentionScores(layer.num_heads, layer.head_size, name=layer.name), []


def _layer_norm(layer, plan):
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if list(axis) not in ([-1], [len(layer.input_shape) - 1]):
        raise ValueError(f"{layer.name}: only last-axis LayerNormalization is supported")
    affine = layer.name not in plan.affine_free_norms
    channels = layer.input_shape[-1]
    gamma = layer.gamma.numpy() if layer.scale else np.ones(channels, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(channels, np.float32)
    return (DecomposedLayerNorm(layer.epsilon, affine=affine, name=layer.name),
            [gamma, beta] if affine else [])


def _activation(layer, plan):
    if _activation_name(layer) in ("swish", "silu"):
        return SigmoidGate(name=layer.name), []
    return _clone(layer)


def _gelu(layer, plan):
    if plan.gelu == "erf":
        return _clone(layer)
    if plan.gelu == "tanh":
        return TanhGelu(name=layer.name), []
    return SigmoidGate(GELU_SIGMOID_SLOPE, name=layer.name), []


def _average_pool(layer, plan):
    if layer.data_format != "channels_last":
        return _clone(layer)
    return DepthwiseAveragePool(layer.pool_size, layer.strides, layer.padding,
                                name=layer.name), []


def _normalize(layer, plan):
    return NormalizeWithPoint(layer.mean, layer.std, name=layer.name), []


def _relative_position_bias(layer, plan):
    return (RelativePositionBiasAdd(layer.num_heads, layer.table_size, layer.window,
                                    name=layer.name), layer.get_weights())


# Exact layer class -> rewrite(layer, plan) -> (new layer, weights). Anything
# else is cloned with its own config and weights.
REWRITES = {
    HeadProjection: _conv_from, L.Conv2D: _conv_from, L.DepthwiseConv2D: _conv_from,
    AttentionLogits: _attention_scores, L.LayerNormalization: _layer_norm,
    L.Activation: _activation, Gelu: _gelu, Normalize: _normalize,
    L.AveragePooling2D: _average_pool,
    RelativePositionBias: _relative_position_bias,
}


def _replacement(layer, plan: _Plan):
    """(layer of the deploy graph standing for `layer`, its weights), or None: removed."""
    if layer.name in plan.removed:
        return None
    return REWRITES.get(type(layer), _clone)(layer, plan)


def _activation_name(layer) -> str:
    act = layer.activation
    return getattr(act, "__name__", type(act).__name__)


def rebuild(model: keras.Model, replace: Callable) -> keras.Model:
    """Re-runs a functional model's graph with `replace(layer)` standing for each layer.

    `replace` returns (new unbuilt layer, its weights as numpy arrays, set once
    it is built), or None to drop the layer (its first input flows on).
    Functional models used as layers (e.g. the model inside
    tinymoat.with_pixel_input) are inlined, so the result is flat. Names,
    inputs and outputs keep their structure.
    """
    inputs = [keras.Input(shape=kt.shape[1:], batch_size=kt.shape[0], dtype=kt.dtype,
                          name=kt._keras_history.layer.name)  # pylint: disable=protected-access
              for kt in model.inputs]
    outputs = _run_graph(model, inputs, replace)
    new_model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)
    if hasattr(model, "moat_config"):
        new_model.moat_config = model.moat_config
    return new_model


def _run_graph(model: keras.Model, inputs, replace):
    """The outputs of `model`'s graph applied to `inputs`, layer by layer via `replace`."""
    # pylint: disable=protected-access
    tensors = {id(kt): new for kt, new in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, L.InputLayer):
                continue
            args, kwargs = tf.nest.map_structure(
                lambda t: tensors[id(t)] if hasattr(t, "_keras_history") else t,
                (node.call_args, node.call_kwargs))
            if isinstance(layer, keras.Model):
                if not layer._is_graph_network:
                    raise ValueError(f"{layer.name}: only functional sub-models can be inlined")
                out = _run_graph(layer, tf.nest.flatten(args[0]), replace)
            else:
                replacement = replace(layer)
                if replacement is None:
                    out = tf.nest.flatten(args[0])[0]
                else:
                    new_layer, weights = replacement
                    out = new_layer(*args, **kwargs)
                    new_layer.set_weights(weights)
            for old_t, new_t in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(out)):
                tensors[id(old_t)] = new_t
    return tf.nest.map_structure(lambda t: tensors[id(t)], model._nested_outputs)


def flatten_model(model: keras.Model) -> keras.Model:
    """A copy of `model` with nested functional sub-models inlined (same weights)."""
    return rebuild(model, _clone)


def deploy_model(model: keras.Model, *, fold_batch_norms: bool = True,
                 fold_layer_norm_affine: bool = True, gelu: str = "sigmoid") -> keras.Model:
    """The float deploy graph of a MOAT model (see the module docstring).

    The result computes the same function as `model` in inference (up to
    float rounding; with gelu="sigmoid" or "tanh", up to the GELU approximation) and is
    what quantize_model and ptq_convert start from (sigmoid GELU) and what the
    float TFLite export converts (gelu="erf": exact). The input model is not
    modified.
    """
    if gelu not in GELU_FORMS:
        raise ValueError(f"gelu must be one of {tuple(GELU_FORMS)}, not {gelu!r}")
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        model = flatten_model(model)
    graph = _Graph(model)
    plan = _make_plan(graph, fold_batch_norms, fold_layer_norm_affine, gelu)
    return rebuild(model, lambda layer: _replacement(layer, plan))


# Classes a deploy graph no longer has (folded, replaced or removed).
_NOT_IN_DEPLOY_GRAPHS = (L.BatchNormalization, L.LayerNormalization, HeadProjection,
                         AttentionLogits, RelativePositionBias, DropPath, Normalize)


def gelu_form(model: keras.Model) -> Optional[str]:
    """The GELU form of a float, deploy or QAT graph ("erf", "sigmoid" or "tanh"; None:
    no GELU). A QAT model keeps the form of the deploy graph it was made from."""
    forms = set()
    for layer in model.layers:
        layer = getattr(layer, "layer", layer)  # inside a tfmot QuantizeWrapper
        if type(layer) is Gelu:
            forms.add("erf")
        elif isinstance(layer, TanhGelu):
            forms.add("tanh")
        elif isinstance(layer, SigmoidGate) and layer.slope == GELU_SIGMOID_SLOPE:
            forms.add("sigmoid")
    if len(forms) > 1:
        raise ValueError(f"{model.name} mixes GELU forms: {', '.join(sorted(forms))}")
    return forms.pop() if forms else None


def is_deploy_graph(model: keras.Model, gelu: str = "erf") -> bool:
    """True if `model` has none of the layers deploy_model(model, gelu=gelu) rewrites or removes.

    A GELU layer is the erf form, so it belongs to a deploy graph only for gelu="erf".
    """
    for layer in model.layers:
        if type(layer) in _NOT_IN_DEPLOY_GRAPHS or isinstance(layer, keras.Model):
            return False
        if type(layer) is Gelu and gelu != "erf":
            return False
        if type(layer) is L.Activation and _activation_name(layer) in ("swish", "silu"):
            return False
    return True
