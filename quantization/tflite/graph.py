"""Editing the operators of a loaded TFLite model (fb.ModelT) in place.

The post-conversion passes (integer.py, islands.py, gelu.py here; the
exporter's relative-bias compaction and output naming) add
tensors, constant buffers and operators to the first subgraph; this is the
bookkeeping they share. Operator versions are the smallest that cover the
given input types (TFLite's versioning rules), raised, never lowered, when
the model already has the operator.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np

from .flatbuffer import fb, load, op_name, serialize

__all__ = ["TFLiteGraph", "consumers", "op_name", "replace_ops"]


def consumers(model) -> Dict[int, List]:
    """{tensor index: [ops reading it]} of the first subgraph."""
    found: Dict[int, List] = {}
    for op in model.subgraphs[0].operators:
        for i in (op.inputs if op.inputs is not None else []):
            found.setdefault(int(i), []).append(op)
    return found


class TFLiteGraph:
    """Appends tensors, buffers and operators to a ModelT's first subgraph."""

    def __init__(self, model):
        self.model = model
        self.sub = model.subgraphs[0]

    def constant(self, name: str, array: np.ndarray, tensor_type, quantization=None) -> int:
        buffer = fb.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)
        self.model.buffers.append(buffer)
        return self.tensor(name, array.shape, tensor_type, quantization,
                           len(self.model.buffers) - 1)

    def tensor(self, name, shape, tensor_type, quantization=None, buffer=0) -> int:
        tensor = fb.TensorT()
        tensor.name = name.encode() if isinstance(name, str) else name
        tensor.shape = np.asarray(shape, np.int32)
        tensor.type = tensor_type
        tensor.buffer = buffer
        tensor.quantization = quantization
        self.sub.tensors.append(tensor)
        return len(self.sub.tensors) - 1

    def opcode(self, name: str, version: int) -> int:
        code_value = getattr(fb.BuiltinOperator, name)
        for index, code in enumerate(self.model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == code_value:
                code.version = max(code.version, version)
                return index
        code = fb.OperatorCodeT()
        code.builtinCode = code_value
        code.deprecatedBuiltinCode = min(code_value, 127)
        code.version = version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def op(self, name: str, version: int, inputs, outputs, options_type=0, options=None):
        """A new operator (not yet placed in the subgraph's operator list)."""
        op = fb.OperatorT()
        op.opcodeIndex = self.opcode(name, version)
        op.inputs = np.asarray(inputs, np.int32)
        op.outputs = np.asarray(outputs, np.int32)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        return op


def replace_ops(model_bytes: bytes, replacement: Callable, note: str,
                notes: Optional[Dict] = None) -> bytes:
    """The model with each op for which `replacement(model, graph, op)` returns a list of ops
    replaced by that list (None: kept). notes[note] counts the replaced ops by name; a model
    with nothing to replace comes back unchanged."""
    model = load(model_bytes)
    graph = TFLiteGraph(model)
    rewritten, count = [], {}
    for op in graph.sub.operators:
        ops = replacement(model, graph, op)
        if ops is None:
            rewritten.append(op)
            continue
        rewritten += ops
        name = op_name(model, op)
        count[name] = count.get(name, 0) + 1
    if not count:
        return model_bytes
    graph.sub.operators = rewritten
    if notes is not None:
        notes[note] = count
    return serialize(model)
