"""Float islands in an int8 TFLite graph: the `--int8 --mixed` graph.

Two ops of tiny-MOAT's int8 graph have no int8 kernel that XNNPACK (LiteRT
2.3) takes: SOFTMAX (attention) and RSQRT (LayerNorm's 1/std). The default
INT8 graph rewrites them into int8 ops XNNPACK does take
(`tflite_integer.py`); the mixed graph instead computes them in float, which
is more exact and, for the softmax, a little faster on CPUs with fast float
(one [4, 196, 196] softmax, 1 thread: 0.045 ms float32 in XNNPACK, 0.11 ms
for the int8 rewrite, 0.27 ms for TFLite's builtin int8 kernel).

`float_islands` rewrites each such int8 op as DEQUANTIZE -> the same op in
float32 -> QUANTIZE back onto the op's own output grid. Every tensor between
ops stays int8 with the ranges the graph was quantized with (so a QAT model
gives the same graph), all three ops run inside XNNPACK, and the float op
is more exact than the int8 kernel it replaces. The graph is no longer
fully integer: integer-only accelerators need the default graph.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from .tflite_graph import TFLiteGraph, op_name
from .tflite_metadata.tflite_model import fb, load, serialize

ISLAND_OPS = ("SOFTMAX", "RSQRT")
_INTEGER = (fb.TensorType.INT8, fb.TensorType.UINT8)


def float_islands(model_bytes: bytes, ops: Sequence[str] = ISLAND_OPS,
                  notes: Optional[Dict] = None) -> bytes:
    """The model with every int8 op named in `ops` computed in float32."""
    model = load(model_bytes)
    graph = TFLiteGraph(model)
    sub = graph.sub
    rewritten, count = [], {}
    for op in sub.operators:
        name = op_name(model, op)
        source, target = int(op.inputs[0]), int(op.outputs[0])
        if (name not in ops or sub.tensors[source].type not in _INTEGER
                or sub.tensors[target].type not in _INTEGER):
            rewritten.append(op)
            continue
        floats = [graph.tensor((sub.tensors[t].name or b"") + b"/float", sub.tensors[t].shape,
                               fb.TensorType.FLOAT32) for t in (source, target)]
        rewritten.append(graph.op("DEQUANTIZE", 2, [source], [floats[0]]))
        op.inputs = np.asarray([floats[0]] + [int(i) for i in op.inputs[1:]], np.int32)
        op.outputs = np.asarray([floats[1]], np.int32)
        rewritten.append(op)
        rewritten.append(graph.op("QUANTIZE", 2, [floats[1]], [target]))
        count[name] = count.get(name, 0) + 1
    if not count:
        return model_bytes
    sub.operators = rewritten
    if notes is not None:
        notes["float_islands"] = count
    return serialize(model)
