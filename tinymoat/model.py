"""build_model: one builder for every variant and configuration."""

from __future__ import annotations

from decimal import Decimal  # exact for any size, where a float would overflow
from typing import Optional, Sequence, Union

from ._keras import keras
from .blocks import block_name, classification_head, mbconv, moat, stage_window, stem
from .config import MoatConfig, as_hw, get_config
from .layers import Normalize
from .preprocess import mean_std

ENDPOINTS = ("stage1", "stage2", "stage3", "stage4", "stage5")

# The largest float32 tensor one inference (batch 1) may need. Global attention
# grows with the fourth power of the input side (tokens^2 scores per head), so
# a careless size would otherwise fail deep inside Keras or exhaust memory.
# 8 GiB keeps every variant buildable up to 1024x1024 (moat-4 needs 2 GiB there).
MAX_TENSOR_BYTES = 8 * 2 ** 30


def check_input_size(config: MoatConfig, input_size) -> tuple:
    """(height, width) if a model of `config` can take this input size; else ValueError."""
    height, width = as_hw(input_size)
    stride = config.output_stride
    if height % stride or width % stride or height <= 0 or width <= 0:
        raise ValueError(f"input size {height}x{width} is not a positive multiple of "
                         f"{stride} (the output stride of {config.name})")
    if config.window_size is not None:
        for stage, window in enumerate(config.window_size):
            if window is None or config.block_type[stage] != "moat":
                continue
            fh, fw = _feature_size(config, stage, (height, width))
            if fh % window[0] or fw % window[1]:
                raise ValueError(
                    f"input size {height}x{width} gives a {fh}x{fw} map in stage {stage}, "
                    f"which {window[0]}x{window[1]} windows do not tile")
    size, what, global_attention = largest_tensor(config, (height, width))
    if size > MAX_TENSOR_BYTES:
        gib = Decimal(size) / 2 ** 30
        raise ValueError(
            f"input size {height}x{width} needs about {gib:.3g} GiB for {what}, more than "
            f"the {MAX_TENSOR_BYTES / 2 ** 30:g} GiB limit; use a smaller input size"
            + (" or window attention" if global_attention else ""))
    return height, width


def largest_tensor(config: MoatConfig, size) -> tuple:
    """(bytes, what, global attention?) of the largest float32 tensor of one inference
    at batch 1: an attention score tensor (heads x tokens^2, per window) or an
    activation (the widest one is an MBConv expansion at its input resolution)."""
    height, width = size
    found = [(4 * max(config.stem_size) * (height // 2) * (width // 2),
              "the stem's activations", False)]
    resolution = (height // 2, width // 2)
    for stage, kind in enumerate(config.block_type):
        hidden = config.hidden_size[stage]
        found.append((4 * hidden * config.expansion_rate * resolution[0] * resolution[1],
                      f"stage {stage}'s expanded activations", False))
        resolution = _feature_size(config, stage, size)
        if kind != "moat":
            continue
        heads = hidden // config.head_size
        windows = {stage_window(config, stage, i) for i in range(config.num_blocks[stage])}
        for window in windows:
            tokens = window[0] * window[1] if window else resolution[0] * resolution[1]
            count = (resolution[0] // window[0]) * (resolution[1] // window[1]) if window else 1
            found.append((4 * heads * tokens ** 2 * count,
                          f"stage {stage}'s attention scores ({heads} heads x {tokens}^2 "
                          f"tokens" + (f" x {count} windows)" if window else ")"),
                          window is None))
    return max(found, key=lambda item: item[0])


def _feature_size(config: MoatConfig, stage: int, size):
    stride = 2
    for s in config.stage_stride[: stage + 1]:
        stride *= s
    return size[0] // stride, size[1] // stride


def build_model(variant_or_config: Union[str, MoatConfig], input_size: Union[int, Sequence[int]] = 224,
                num_classes: int = 1000, include_top: bool = True,
                classifier_activation: Optional[str] = None, batch_size: Optional[int] = None,
                **overrides) -> keras.Model:
    """Builds a MOAT model as a flat Keras functional graph.

    Args:
      variant_or_config: a variant name ("tiny-moat-0" ... "moat-4") or a MoatConfig.
      input_size: N or (H, W), multiples of 32. Inputs are normalised NHWC float32
        (see `tinymoat.preprocess`).
      num_classes: classes of the head (include_top only).
      include_top: logits [B, num_classes] if True; otherwise a dict of the stage
        endpoints "stage1" (stride 2, the stem) ... "stage5" (stride 32).
      classifier_activation: e.g. "softmax" to output probabilities instead of logits.
      batch_size: a fixed batch size (static shapes, used for exports and counting).
      **overrides: MoatConfig fields to change, e.g. position_embedding=False.
    """
    config = get_config(variant_or_config, **overrides)
    height, width = check_input_size(config, input_size)
    if include_top and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")

    inputs = keras.Input((height, width, 3), batch_size=batch_size, name="image")
    x = stem(inputs, config)
    endpoints = {"stage1": x}
    block_id = 0
    for stage, kind in enumerate(config.block_type):
        for index in range(config.num_blocks[stage]):
            name = block_name(stage, index)
            stride = config.stage_stride[stage] if index == 0 else 1
            survival = config.block_survival_prob(block_id)
            hidden = config.hidden_size[stage]
            if kind == "mbconv":
                x = mbconv(x, config, hidden, stride, survival, name)
            else:
                x = moat(x, config, hidden, stride, survival,
                         stage_window(config, stage, index),
                         config.position_embedding_size[stage], name)
            block_id += 1
        endpoints[f"stage{stage + 2}"] = x

    outputs = (classification_head(x, num_classes, config, classifier_activation)
               if include_top else endpoints)
    model = keras.Model(inputs, outputs, name=config.name.replace("-", "_"))
    model.moat_config = config
    return model


def with_pixel_input(model: keras.Model, normalization: str = "imagenet") -> keras.Model:
    """The same model taking raw RGB pixels in [0, 255]; normalisation is in the graph.

    Artifacts whose input cannot carry per-channel normalisation use this: uint8
    TFLite inputs (one scale for all channels) and Core ML image inputs (one scale).
    """
    mean, std = mean_std(normalization)
    inputs = keras.Input(model.input.shape[1:], batch_size=model.input.shape[0], name="pixels")
    outputs = model(Normalize(mean.tolist(), std.tolist(), name="normalize")(inputs))
    wrapped = keras.Model(inputs, outputs, name=model.name + "_pixels")
    if hasattr(model, "moat_config"):
        wrapped.moat_config = model.moat_config
    return wrapped
