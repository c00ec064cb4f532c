"""Float islands in an int8 TFLite graph: the `--int8 --mixed` graph.

Three ops of tiny-MOAT's int8 graph have no int8 kernel that XNNPACK (LiteRT
2.3) takes: SOFTMAX (attention), RSQRT (LayerNorm's 1/std) and GELU. The
default INT8 graph rewrites the first two into int8 ops XNNPACK does take
(`integer.py`) and has no GELU op: its deploy graph uses the sigmoid
form x * sigmoid(1.702 x) (MUL, LOGISTIC, MUL). The mixed graph instead
computes all three in float, which is more exact and, for the softmax, a
little faster on CPUs with fast float (XNNPACK's float softmax beats both the
int8 rewrite and TFLite's builtin int8 kernel). Its PTQ graph is quantized
from the exact (erf) GELU, so the mixed graph has no approximation left (the
sigmoid form costs about 2 dB of agreement on trained models), and the float
GELU islands run as fast (bench/int8_speed.py).

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

from .graph import op_name, replace_ops
from .flatbuffer import fb

ISLAND_OPS = ("SOFTMAX", "RSQRT", "GELU")
_INTEGER = (fb.TensorType.INT8, fb.TensorType.UINT8)


def _is_constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    return data is not None and len(data) > 0


def float_islands(model_bytes: bytes, ops: Sequence[str] = ISLAND_OPS,
                  notes: Optional[Dict] = None) -> bytes:
    """The model with every int8 op named in `ops` computed in float32."""

    def island(model, graph, op):
        sub = graph.sub
        target = int(op.outputs[0])
        # the op's int8 activations (constants stay: SOFTMAX/RSQRT/GELU have one input,
        # BATCH_MATMUL two)
        sources = [k for k, t in enumerate(op.inputs) if t >= 0
                   and sub.tensors[t].type in _INTEGER and not _is_constant(model, sub.tensors[t])]
        if (op_name(model, op) not in ops or not sources or sources[0] != 0
                or sub.tensors[target].type not in _INTEGER):
            return None

        def float_tensor(t):
            return graph.tensor((sub.tensors[t].name or b"") + b"/float", sub.tensors[t].shape,
                                fb.TensorType.FLOAT32)

        inputs, dequantize = [int(i) for i in op.inputs], []
        for k in sources:
            floats = float_tensor(inputs[k])
            dequantize.append(graph.op("DEQUANTIZE", 2, [inputs[k]], [floats]))
            inputs[k] = floats
        result = float_tensor(target)
        op.inputs = np.asarray(inputs, np.int32)
        op.outputs = np.asarray([result], np.int32)
        return dequantize + [op, graph.op("QUANTIZE", 2, [result], [target])]

    return replace_ops(model_bytes, island, "float_islands", notes)
