"""What a converted TFLite graph is made of: its ops and the types they compute in.

"Full integer" is a property of the converted flatbuffer, not of the Keras
model or the converter flags: an op left without quantization parameters
silently stays float (or is bracketed by DEQUANTIZE/QUANTIZE pairs) and the
model still runs. These helpers read the flatbuffer directly, without an
interpreter, so tests and tools can state exactly which ops compute in float.

The only float ops a full-integer model may contain are the QUANTIZE that
takes a float model input and the DEQUANTIZE that produces a float model
output (the edge of a model converted with float I/O); `float_ops` skips
exactly those two and reports everything else with a float input or output.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .flatbuffer import TENSOR_TYPES, builtin_name, fb

FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


class Op(NamedTuple):
    """One operator: its builtin (or custom) name and its tensor dtypes."""
    name: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]


class TensorInfo(NamedTuple):
    name: str
    dtype: str
    shape: Tuple[int, ...]
    scale: Optional[np.ndarray]
    zero_point: Optional[np.ndarray]
    quantized_dimension: int
    is_constant: bool


class OpDetails(NamedTuple):
    """An operator with everything tests need: position, tensors, quantization."""
    index: int
    name: str
    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]

    @property
    def op(self) -> Op:
        return Op(self.name, tuple(t.dtype for t in self.inputs),
                  tuple(t.dtype for t in self.outputs))


def _as_bytes(tflite_model) -> bytes:
    if isinstance(tflite_model, (bytes, bytearray, memoryview)):
        return bytes(tflite_model)
    with open(tflite_model, "rb") as f:  # a path
        return f.read()


def _op_name(model, opcode_index: int) -> str:
    code = model.OperatorCodes(opcode_index)
    name = builtin_name(code)
    return "CUSTOM:" + code.CustomCode().decode() if name == "CUSTOM" else name


def _tensor_info(model, subgraph, index: int) -> TensorInfo:
    tensor = subgraph.Tensors(index)
    q = tensor.Quantization()
    scale = zero_point = None
    axis = 0
    if q is not None and q.ScaleLength():
        scale = q.ScaleAsNumpy().astype(np.float64)
        zero_point = q.ZeroPointAsNumpy().astype(np.int64)
        axis = q.QuantizedDimension()
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() else None
    constant = bool(buffer is not None and (buffer.DataLength() or buffer.Size()))
    return TensorInfo(tensor.Name().decode(), TENSOR_TYPES.get(tensor.Type(), str(tensor.Type())).lower(),
                      tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (),
                      scale, zero_point, axis, constant)


def op_details(tflite_model, subgraph: int = 0) -> List[OpDetails]:
    """All operators of a subgraph in execution order, with tensor details.

    `tflite_model` is the flatbuffer bytes (what the converter returns) or a path.
    """
    buf = _as_bytes(tflite_model)
    model = fb.Model.GetRootAs(buf, 0)
    graph = model.Subgraphs(subgraph)
    result = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        ins = tuple(_tensor_info(model, graph, j) for j in op.InputsAsNumpy() if j >= 0) \
            if op.InputsLength() else ()
        outs = tuple(_tensor_info(model, graph, j) for j in op.OutputsAsNumpy() if j >= 0) \
            if op.OutputsLength() else ()
        result.append(OpDetails(i, _op_name(model, op.OpcodeIndex()), ins, outs))
    return result


def io_details(tflite_model, subgraph: int = 0) -> Tuple[List[TensorInfo], List[TensorInfo]]:
    """(model inputs, model outputs) of a subgraph."""
    buf = _as_bytes(tflite_model)
    model = fb.Model.GetRootAs(buf, 0)
    graph = model.Subgraphs(subgraph)
    return ([_tensor_info(model, graph, j) for j in graph.InputsAsNumpy()],
            [_tensor_info(model, graph, j) for j in graph.OutputsAsNumpy()])


def tflite_ops(tflite_model, subgraph: int = 0) -> List[Op]:
    """[(op name, input dtypes, output dtypes)] in execution order.

    Optional inputs that are absent (index -1, e.g. a missing bias) are left out.
    Dtypes are lower-case names: "int8", "int32", "float32", ...
    """
    return [d.op for d in op_details(tflite_model, subgraph)]


def _is_io_edge(details: OpDetails, inputs: Sequence[str], outputs: Sequence[str]) -> bool:
    if details.name == "QUANTIZE" and details.inputs and details.inputs[0].name in inputs:
        return True
    if details.name in ("DEQUANTIZE", "SOFTMAX") and details.outputs and \
            details.outputs[0].name in outputs:
        return True
    return False


def float_op_details(tflite_model, subgraph: int = 0) -> List[OpDetails]:
    """Like `float_ops`, with tensor details for error messages."""
    buf = _as_bytes(tflite_model)
    inputs, outputs = io_details(buf, subgraph)
    in_names, out_names = {t.name for t in inputs}, {t.name for t in outputs}
    details = op_details(buf, subgraph)
    # A float SOFTMAX that turns the dequantized logits into the model's probability
    # output belongs to the output edge too (tinymoat-export --outputs probabilities).
    out_names |= {d.inputs[0].name for d in details if d.name == "SOFTMAX" and d.inputs
                  and d.outputs and d.outputs[0].name in out_names}
    found = []
    for d in details:
        dtypes = [t.dtype for t in d.inputs + d.outputs]
        if any(t in FLOAT_TYPES for t in dtypes) and not _is_io_edge(d, in_names, out_names):
            found.append(d)
    return found


def float_ops(tflite_model, subgraph: int = 0) -> List[Op]:
    """Ops that read or write a float tensor, except the model's own I/O edge.

    The QUANTIZE of a float model input and the DEQUANTIZE of a float model
    output (with the float SOFTMAX after it that gives probabilities) are the
    edge of a full-integer model converted with float I/O and are not reported; any other DEQUANTIZE (e.g. of float16 or hybrid weights)
    is. An empty list means every op between input and output is integer.
    """
    return [d.op for d in float_op_details(tflite_model, subgraph)]


def format_ops(ops: Sequence, limit: int = 60) -> str:
    """One line per op, for assertion messages."""
    lines = []
    for item in list(ops)[:limit]:
        if isinstance(item, OpDetails):
            lines.append(f"#{item.index} {item.name} in={[t.dtype for t in item.inputs]} "
                         f"out={[t.dtype for t in item.outputs]} "
                         f"({item.outputs[0].name if item.outputs else ''})")
        else:
            lines.append(f"{item[0]} in={list(item[1])} out={list(item[2])}")
    if len(ops) > limit:
        lines.append(f"... and {len(ops) - limit} more")
    return "\n".join(lines)


def op_histogram(tflite_model) -> dict:
    """{op name: count}, most frequent first."""
    counts = {}
    for op in tflite_ops(tflite_model):
        counts[op.name] = counts.get(op.name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
