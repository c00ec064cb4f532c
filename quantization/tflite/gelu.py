"""GELU's sigmoid form without its MUL by a constant: INT8 as fast on LiteRT 1.4 as on 2.3.

The default INT8 graph computes GELU as x * sigmoid(c x) (c = 1.702):

    P (CONV_2D / DEPTHWISE_CONV_2D) -> x
    y = MUL(x, c)   s = LOGISTIC(y)   g = MUL(x, s)  -> convolutions

LiteRT 2.3's XNNPACK runs that chain about as fast as LOGISTIC and MUL
alone; the XNNPACK of LiteRT 1.4 (the line of the Android Maven artifacts)
does not: there the chain costs about ten times what x * sigmoid(x)
(LOGISTIC, MUL) costs, and in tiny-moat-0 the chains of the early
high-resolution blocks make most of LiteRT 1.4's gap to 2.3
(bench/runtime_matrix.py measures both runtimes side by side).

`fold_gelu_scale` removes the MUL by c without changing any int8 code, by
relabelling scales. x gets scale c * s_x (so its codes now mean c x) and
P's weight and bias scales are multiplied by c, which leaves P's
requantization, hence x's codes, unchanged; LOGISTIC reads x directly. The
second MUL then sees c x * sigmoid(c x), so its output g is relabelled the
same way (scale c * s_g, codes unchanged: its requantization ratio is the
same) and the weight scales of every convolution reading g are divided by c
(their bias scales, input scale times weight scale, stay). The result is
the same graph up to the rounding of y, which is gone: LOGISTIC gets c x on
x's own grid.

Applied only where every step is plain: P and the second MUL without fused
activation, P's weights and bias and the readers' weights used by that op
alone, x read by exactly the two MULs, y and s by one op each, g read only
as the input of CONV_2D / DEPTHWISE_CONV_2D ops, and nothing of it a graph
output. Other chains (GELU feeding a squeeze-excitation MEAN) stay as they are.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import numpy as np

from .graph import consumers, op_name
from .flatbuffer import fb, load, serialize

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _constant(model, tensor_index):
    tensor = model.subgraphs[0].tensors[tensor_index]
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    return data if data is not None and len(data) else None


def _no_activation(op) -> bool:
    options = op.builtinOptions
    return options is None or getattr(options, "fusedActivationFunction", 0) == 0


def _scales(model, tensor_index):
    q = model.subgraphs[0].tensors[tensor_index].quantization
    return None if q is None or q.scale is None or not len(q.scale) else q


def _relabel_plan(model, readers, g, graph_outputs):
    """(tensors to scale by c, weight tensors to divide by c) so that g meaning c times its
    value changes no int8 code, or None. g's readers may be convolutions (their weights take
    the factor back), MEAN (linear: its output is relabelled too) and a MUL by a tensor not
    relabelled (squeeze-excitation's gate: likewise)."""
    tensors, divided, todo = [], [], [g]
    while todo:
        t = todo.pop()
        if t in tensors or t in graph_outputs:
            return None
        tensors.append(t)
        reading = readers.get(t, [])
        if not reading:
            return None
        for q in reading:
            name, inputs = op_name(model, q), [int(i) for i in q.inputs]
            if name in _CONVS and inputs[0] == t and t not in inputs[1:] \
                    and readers.get(inputs[1], []) == [q]:
                divided.append(inputs[1])
            elif name == "MEAN" and inputs[0] == t and _no_activation(q):
                todo.append(int(q.outputs[0]))
            elif name == "MUL" and inputs.count(t) == 1 and _no_activation(q):
                todo.append(int(q.outputs[0]))
            else:
                return None
    # a MUL reading two relabelled tensors would be scaled twice
    for t in tensors:
        for q in readers.get(t, []):
            if op_name(model, q) == "MUL" and all(int(i) in tensors for i in q.inputs):
                return None
    return tensors, divided


class _Chain(NamedTuple):
    """One x * sigmoid(c x) chain: P -> x; y = MUL(x, c); s = LOGISTIC(y); g = MUL(x, s)."""
    c: float
    x: int
    logistic: object
    weights: int
    bias: int          # -1: P has no bias


def _gelu_chain(model, mul1, readers, producer, graph_outputs) -> Optional[_Chain]:
    """The chain starting at `mul1` if every step of it is plain (module docstring), else None."""
    sub = model.subgraphs[0]
    x, const = (int(t) for t in mul1.inputs)
    if _constant(model, x) is not None or _constant(model, const) is None:
        return None
    c_tensor = sub.tensors[const]
    if c_tensor.type != fb.TensorType.INT8 or int(np.prod(c_tensor.shape)) != 1 \
            or not _scales(model, const):
        return None
    cq = c_tensor.quantization
    c = (float(np.frombuffer(_constant(model, const).tobytes(), np.int8)[0])
         - float(cq.zeroPoint[0])) * float(cq.scale[0])
    y = int(mul1.outputs[0])
    logistic = readers.get(y, [None])[0]
    if c <= 0 or not _no_activation(mul1) or len(readers.get(y, [])) != 1 \
            or op_name(model, logistic) != "LOGISTIC":
        return None
    s = int(logistic.outputs[0])
    mul2 = readers.get(s, [None])[0]
    if len(readers.get(s, [])) != 1 or op_name(model, mul2) != "MUL" \
            or not _no_activation(mul2) or sorted(int(t) for t in mul2.inputs) != sorted((x, s)):
        return None
    p = producer.get(x)
    if p is None or op_name(model, p) not in _CONVS or not _no_activation(p) \
            or sorted(map(id, readers.get(x, []))) != sorted((id(mul1), id(mul2))):
        return None
    weights, bias = int(p.inputs[1]), int(p.inputs[2]) if len(p.inputs) > 2 else -1
    if readers.get(weights, []) != [p] or (bias >= 0 and readers.get(bias, []) != [p]) \
            or {x, y, s} & graph_outputs:
        return None
    return _Chain(c, x, logistic, weights, bias)


def fold_gelu_scale(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """The model with each plain x * sigmoid(c x) chain relabelled to x' * sigmoid(x')."""
    model = load(model_bytes)
    sub = model.subgraphs[0]
    readers = consumers(model)
    producer = {int(t): op for op in sub.operators for t in op.outputs}
    graph_outputs = {int(t) for t in sub.outputs}
    dropped = set()
    for mul1 in list(sub.operators):
        if op_name(model, mul1) != "MUL" or id(mul1) in dropped:
            continue
        chain = _gelu_chain(model, mul1, readers, producer, graph_outputs)
        if chain is None:
            continue
        g = int(readers[int(chain.logistic.outputs[0])][0].outputs[0])
        plan = _relabel_plan(model, readers, g, graph_outputs)
        if plan is None:
            continue
        tensors, divided = plan
        scaled = [chain.x, chain.weights, *tensors] + ([chain.bias] if chain.bias >= 0 else [])
        if not all(_scales(model, t) for t in scaled + divided):
            continue
        # relabel: x and what follows g mean c times what they meant; P's scales follow x,
        # the weights of the convolutions reading them undo it
        for t in scaled:
            q = sub.tensors[t].quantization
            q.scale = (np.asarray(q.scale, np.float64) * chain.c).astype(np.float32)
        for t in divided:
            q = sub.tensors[t].quantization
            q.scale = (np.asarray(q.scale, np.float64) / chain.c).astype(np.float32)
        chain.logistic.inputs = np.asarray([chain.x], np.int32)
        dropped.add(id(mul1))
    if not dropped:
        return model_bytes
    sub.operators = [op for op in sub.operators if id(op) not in dropped]
    if notes is not None:
        notes["gelu_scale_folded"] = len(dropped)
    return serialize(model)
