"""The stem, MBConv and MOAT blocks and the head, as functional graph builders.

Every layer is named after its variable scope in the reference checkpoints
with "." in place of "/" (e.g. `block_02_00.attention.q`), so the checkpoint
name of a weight is `moat/` + its layer name with dots as slashes + `/` + the
weight's own name. That one rule is all the checkpoint loader needs.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ._keras import keras
from .config import MoatConfig
from .layers import (AttendValues, AttentionLogits, AttentionSoftmax, DropPath, Gelu,
                     HeadProjection, RelativePositionBias, WindowMerge, WindowPartition)

L = keras.layers


def _init():
    return keras.initializers.RandomNormal(stddev=0.02)


def conv(filters, name, kernel_size=1, strides=1, use_bias=True):
    return L.Conv2D(filters, kernel_size, strides=strides, padding="same",
                    use_bias=use_bias, kernel_initializer=_init(), name=name)


def batch_norm(config: MoatConfig, name):
    return L.BatchNormalization(epsilon=config.bn_epsilon, momentum=config.bn_momentum,
                                name=name)


def stem(x, config: MoatConfig):
    for i, filters in enumerate(config.stem_size):
        x = conv(filters, f"stem.conv_{i}", kernel_size=3, strides=2 if i == 0 else 1)(x)
        if i < len(config.stem_size) - 1:
            x = batch_norm(config, f"stem.norm_{i}")(x)
            x = Gelu(name=f"stem.act_{i}")(x)
    return x


def _residual(shortcut, residual, survival_prob, name):
    if survival_prob is not None:
        residual = DropPath(survival_prob, name=f"{name}_drop_path")(residual)
    return L.Add(name=name)([shortcut, residual])


def _shortcut(x, config: MoatConfig, hidden, stride, name):
    if stride > 1:
        x = L.AveragePooling2D(config.shortcut_pool_size, strides=stride, padding="same",
                               name=f"{name}.shortcut_pool")(x)
    if x.shape[-1] != hidden:
        x = conv(hidden, f"{name}.shortcut_conv")(x)
    return x


def squeeze_excite(x, config: MoatConfig, hidden, name):
    se_filters = max(1, int(hidden * config.se_ratio))
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}.se.squeeze")(x)
    s = conv(se_filters, f"{name}.se.reduce_conv2d")(s)
    s = L.Activation("swish", name=f"{name}.se.swish")(s)
    s = conv(x.shape[-1], f"{name}.se.expand_conv2d")(s)
    s = L.Activation("sigmoid", name=f"{name}.se.sigmoid")(s)
    return L.Multiply(name=f"{name}.se.excite")([x, s])


def mbconv(x, config: MoatConfig, hidden, stride, survival_prob, name, se=True):
    """Inverted bottleneck: pre-norm, 1x1 expand, depthwise 3x3, (SE), 1x1 shrink."""
    shortcut = _shortcut(x, config, hidden, stride, name)
    inner = hidden * config.expansion_rate
    y = batch_norm(config, f"{name}.pre_norm")(x)
    y = conv(inner, f"{name}.expand_conv", use_bias=False)(y)
    y = batch_norm(config, f"{name}.expand_norm")(y)
    y = Gelu(name=f"{name}.expand_act")(y)
    y = L.DepthwiseConv2D(config.kernel_size, strides=stride, padding="same", use_bias=False,
                          depthwise_initializer=_init(), name=f"{name}.depthwise_conv")(y)
    y = batch_norm(config, f"{name}.depthwise_norm")(y)
    y = Gelu(name=f"{name}.depthwise_act")(y)
    if se and config.se_ratio:
        y = squeeze_excite(y, config, hidden, name)
    y = conv(hidden, f"{name}.shrink_conv")(y)
    return _residual(shortcut, y, survival_prob, f"{name}.mbconv_add")


def attention(x, config: MoatConfig, table_size: Optional[int], name):
    """Multi-head self-attention over every token of x [B, h, w, C]."""
    hidden = x.shape[-1]
    heads = hidden // config.head_size
    q, k, v = (HeadProjection(heads, config.head_size, "split", name=f"{name}.{p}")(x)
               for p in "qkv")
    logits = AttentionLogits(heads, config.head_size, name=f"{name}.logits")([q, k])
    if config.position_embedding:
        logits = RelativePositionBias(heads, table_size, (x.shape[1], x.shape[2]),
                                      name=name)(logits)
    probs = AttentionSoftmax(name=f"{name}.softmax")(logits)
    out = AttendValues(heads, config.head_size, name=f"{name}.values")([probs, v])
    return HeadProjection(heads, config.head_size, "merge", hidden_size=hidden,
                          name=f"{name}.o")(out)


def moat(x, config: MoatConfig, hidden, stride, survival_prob, window: Optional[Tuple[int, int]],
         table_size, name):
    """MBConv without SE, then LayerNorm and (window) attention with a residual."""
    x = mbconv(x, config, hidden, stride, survival_prob, name, se=False)
    y = L.LayerNormalization(epsilon=config.ln_epsilon, name=f"{name}.attention_norm")(x)
    size = (x.shape[1], x.shape[2])
    if window is not None:
        if size[0] % window[0] or size[1] % window[1]:
            raise ValueError(f"{name}: a {size[0]}x{size[1]} feature map cannot be split "
                             f"into {window[0]}x{window[1]} windows")
        y = WindowPartition(window, name=f"{name}.window_partition")(y)
        y = attention(y, config, table_size, f"{name}.attention")
        y = WindowMerge(window, size, name=f"{name}.window_merge")(y)
    else:
        y = attention(y, config, table_size, f"{name}.attention")
    return _residual(x, y, survival_prob, f"{name}.attention_add")


def stage_window(config: MoatConfig, stage: int, index: int) -> Optional[Tuple[int, int]]:
    """The attention window of a block, None meaning the whole feature map."""
    if config.window_size is None:
        return None
    last = index == config.num_blocks[stage] - 1
    if last and config.global_attention_at_end_of_moat_stage:
        return None
    return config.window_size[stage]


def classification_head(x, num_classes, config: MoatConfig, classifier_activation=None):
    x = L.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = L.LayerNormalization(epsilon=config.ln_epsilon, name="final_layer_norm")(x)
    x = conv(num_classes, "logits_head")(x)
    x = L.Flatten(name="logits")(x)
    if classifier_activation is not None:
        x = L.Activation(classifier_activation, name="predictions")(x)
    return x


def block_name(stage: int, index: int) -> str:
    return f"block_{stage:02d}_{index:02d}"

