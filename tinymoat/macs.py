"""Parameter and multiply-add counts per stage, read off a built model.

Each layer type has one rule; attention matmuls are counted. Counting needs
static shapes, so the model is built with batch size 1.
"""

from __future__ import annotations

import collections
from typing import Dict

import numpy as np

from ._keras import keras
from .layers import AttendValues, AttentionLogits, HeadProjection

L = keras.layers


def _shape(tensor_or_shape):
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return [int(d) for d in shape]


def layer_macs(layer) -> int:
    """Multiply-adds of one call of `layer` in a model with static shapes."""
    if isinstance(layer, L.DepthwiseConv2D):
        kh, kw, _, mult = layer.depthwise_kernel.shape
        return int(np.prod(_shape(layer.output))) * kh * kw
    if isinstance(layer, L.Conv2D):
        kh, kw, cin, _ = layer.kernel.shape
        return int(np.prod(_shape(layer.output))) * kh * kw * cin
    if isinstance(layer, (L.Dense, HeadProjection)):
        cin = _shape(layer.input)[-1]
        return int(np.prod(_shape(layer.output))) * cin
    if isinstance(layer, AttentionLogits):  # [B, N, S, S] outputs, K each
        return int(np.prod(_shape(layer.output))) * layer.head_size
    if isinstance(layer, AttendValues):  # [B, h, w, N*K] outputs, S each
        probs = _shape(layer.input[0])
        return int(np.prod(_shape(layer.output))) * probs[-1]
    return 0


def stage_of(layer_name: str) -> str:
    if layer_name.startswith("stem."):
        return "stem"
    if layer_name.startswith("block_"):
        return f"stage {int(layer_name[6:8]) + 1}"
    return "head"


def count(model) -> Dict[str, Dict[str, int]]:
    """{group: {"params": n, "macs": n}} for stem, stage 1..4, head and total."""
    if model.inputs[0].shape[0] is None:
        raise ValueError("count needs a model built with batch_size=1")
    table = collections.OrderedDict()
    for layer in model.layers:
        row = table.setdefault(stage_of(layer.name), {"params": 0, "macs": 0})
        row["params"] += int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        row["macs"] += layer_macs(layer)
    table["total"] = {k: sum(r[k] for r in list(table.values())) for k in ("params", "macs")}
    return table
