"""Store the relative position bias of a converted TFLite model compactly.

The converter folds each attention block's bias into a dense constant
[heads, S, S] (S = H*W tokens), about a third of tiny-moat-0's parameters
again. This pass finds such constants (relative_bias.factor, exact bit for
bit) and replaces each with

    T [..., (2H-1)(2W-1)] -> GATHER (last axis) by F [S, S] -> [..., S, S]

where F = relative_bias.flat_index(H, W) holds, for query (i, j) and key
(x, y), the table position (x - i + H - 1)(2W - 1) + y - j + W - 1. F itself
(154 KB of int32 for a 14x14 window, 256 KB at 16x16: more than the INT8 size
target at 256 leaves) is computed from the positions 0..(2H-1)(2W-1)-1 by

    GATHER by [r W + j, y]: r (2W-1) + y - j + W - 1     [(2H-1) W, W]
    GATHER by [i, j, x]: (x - i + H - 1) W + j            [H, W, H, W]
    RESHAPE                                               [S, S]

for table row r, so a window size costs 32 KB of indices (14x14), shared by
its blocks. The result is exact: the same values in the same dtype and
quantization.

All of it runs once. Every input is a constant, and TFLite computes a GATHER
or RESHAPE of constants when the interpreter allocates its tensors (the
kernels' Prepare makes the output persistent); XNNPACK takes none of these
ops (no delegate has GATHER; the RESHAPE is int32), so the bias is in place
before the first invoke (tests/test_tflite_compact.py checks it) and costs
nothing per inference. The ops sit at the start of the graph, so the
delegated ops stay in one XNNPACK partition.

Expanding the float table itself (GATHER, GATHER, then a float RESHAPE to
[S, S] right before each ADD) would let XNNPACK take that RESHAPE and copy
the bias on every invoke (4.45 MB of float32 for tiny-moat-0 at 224).
`python bench/bias_cost.py` times the forms side by side; this one is within
noise of dense constants.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from tinymoat.quantization.tflite.flatbuffer import fb, load, serialize
from tinymoat.quantization.tflite.graph import TFLiteGraph, consumers, op_name

from ..relative_bias import factor, relative_indices, worth_it

_NUMPY = {fb.TensorType.FLOAT32: np.float32, fb.TensorType.INT8: np.int8,
          fb.TensorType.UINT8: np.uint8, fb.TensorType.INT16: np.int16,
          fb.TensorType.FLOAT16: np.float16}
# Smallest operator versions that cover these inputs (TFLite's versioning rules).
_VERSIONS = {"GATHER": {np.float32: 1, np.int8: 2, np.uint8: 1, np.int16: 3, np.int32: 1},
             "RESHAPE": {np.float32: 1, np.int8: 1, np.uint8: 1, np.int16: 1, np.int32: 1}}


def shorten_tensor_names(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """Keeps the first of the ';'-joined op names the converter gives a fused tensor.

    Names only serve debugging; the converter concatenates the names of every op
    it fused (up to ~300 bytes a tensor, ~1.5 % of an INT8 tiny-moat-0), and the
    first one already says which layer produced the tensor.
    """
    model = load(model_bytes)
    saved = 0
    for tensor in model.subgraphs[0].tensors:
        name = tensor.name if isinstance(tensor.name, bytes) else (tensor.name or "").encode()
        short = name.split(b";")[0]
        if short != name:
            saved += len(name) - len(short)
            tensor.name = short
    if not saved:
        return model_bytes
    if notes is not None:
        notes["tensor_name_bytes_saved"] = saved
    return serialize(model)


def compact_relative_bias(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """Returns the model with every dense relative-bias constant stored as its table."""
    model = load(model_bytes)
    graph = TFLiteGraph(model)
    sub = graph.sub
    readers = {index: {op_name(model, op) for op in ops}
               for index, ops in consumers(model).items()}
    expansions: List = []  # the ops computing the biases (and their shared indices)
    indices: Dict = {}     # (H, W) -> the flat index tensor
    replaced, saved = 0, 0
    for index, tensor in enumerate(list(sub.tensors)):
        dtype = _NUMPY.get(tensor.type)
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        # Only constants that are added to attention logits; weights stay untouched.
        if (dtype is None or data is None or dtype == np.float16
                or readers.get(index) != {"ADD"}):
            continue
        shape = tuple(int(d) for d in tensor.shape)
        if len(shape) < 3 or shape[-1] != shape[-2] or shape[-1] < 4:
            continue
        values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype).reshape(shape)
        found = factor(values)
        if found is None or not worth_it(values, found[0]):
            continue
        table, height, width = found
        if (height, width) not in indices:
            indices[height, width] = _flat_index(graph, height, width, expansions)
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        table_t = graph.constant(f"{name}/table", table.reshape(shape[:-2] + (-1,)),
                                 tensor.type, tensor.quantization)
        expansions.append(_gather(graph, dtype, table_t, indices[height, width], index,
                                  axis=len(shape) - 2))
        model.buffers[tensor.buffer] = fb.BufferT()
        tensor.buffer = 0
        replaced += 1
        saved += values.nbytes - table.nbytes
    if not replaced:
        return model_bytes
    sub.operators = expansions + list(sub.operators)  # they run once, at allocation
    if notes is not None:
        notes["compact_relative_bias"] = {"constants": replaced, "bytes_saved": int(saved)}
    return serialize(model)


def _flat_index(graph: TFLiteGraph, height: int, width: int, ops: List) -> int:
    """The [S, S] int32 tensor relative_bias.flat_index(H, W), computed from the positions
    0..(2H-1)(2W-1)-1 by GATHER, GATHER, RESHAPE (ops appended to `ops`): 32 KB of
    indices for a 14x14 window instead of the 154 KB of the index itself."""
    tokens, positions = height * width, (2 * height - 1) * (2 * width - 1)
    int32 = fb.TensorType.INT32
    name = f"relative_index_{height}x{width}"
    table = graph.constant(f"{name}/positions", np.arange(positions, dtype=np.int32), int32)
    stacked = graph.tensor(f"{name}/stacked", ((2 * height - 1) * width, width), int32)
    both = graph.tensor(f"{name}/ijxy", (height, width, height, width), int32)
    flat = graph.tensor(name, (tokens, tokens), int32)
    ops += [_gather(graph, np.int32, table,
                    graph.constant(f"{name}/stack", stack_index(height, width), int32),
                    stacked, axis=0),
            _gather(graph, np.int32, stacked,
                    graph.constant(f"{name}/rows", row_index(height, width), int32),
                    both, axis=0),
            _reshape(graph, np.int32, both, flat, f"{name}/shape")]
    return flat


def stack_index(height: int, width: int) -> np.ndarray:
    """[(2H-1) W, W] positions in the flat [(2H-1) (2W-1)] table: row r * W + j holds
    table row r at columns y - j + W - 1 for y = 0..W-1."""
    rows = np.arange(2 * height - 1)[:, None, None] * (2 * width - 1)    # [r, 1, 1]
    return (rows + relative_indices(width)[None]).reshape(-1, width).astype(np.int32)


def row_index(height: int, width: int) -> np.ndarray:
    """[H, W, H] rows of the stack for query (i, j) and key row x: (x - i + H - 1) W + j,
    so that one GATHER writes the bias in its final layout."""
    rows = relative_indices(height)[:, None, :]                 # [i, 1, x]
    return (rows * width + np.arange(width)[None, :, None]).astype(np.int32)


def _gather(graph, dtype, source, index, target, axis):
    options = fb.GatherOptionsT()
    options.axis, options.batchDims = axis, 0
    return graph.op("GATHER", _VERSIONS["GATHER"][dtype], [source, index], [target],
                    fb.BuiltinOptions.GatherOptions, options)


def _reshape(graph, dtype, source, target, name):
    shape = np.asarray(graph.sub.tensors[target].shape, np.int32)
    options = fb.ReshapeOptionsT()
    options.newShape = shape
    return graph.op("RESHAPE", _VERSIONS["RESHAPE"][dtype],
                    [source, graph.constant(name, shape, fb.TensorType.INT32)], [target],
                    fb.BuiltinOptions.ReshapeOptions, options)
