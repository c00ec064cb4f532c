"""Store the relative position bias of a converted TFLite model compactly.

The converter folds each attention block's bias into a dense constant
[heads, S, S] (S = H*W tokens), about a third of tiny-moat-0's parameters
again. This pass finds such constants (relative_bias.factor, exact bit for
bit) and replaces each with

    T [n, (2H-1)(2W-1)] -> GATHER axis 1 by [r W + j, y]: r (2W-1) + y - j + W - 1
                                                          [n, (2H-1) W, W]
      -> GATHER axis 1 by [i, j, x]: (x - i + H - 1) W + j  [n, H, W, H, W]
      -> RESHAPE to the original shape [n, S, S]

for query (i, j), key (x, y) and table row r. The first gather builds, from
the small table, every row offset's [W, W] column block stacked by rows; the
second then writes the bias in its final layout. The two int32 indices cost
32 KB for a 14x14 window, shared by the blocks of that window (one GATHER by
a flat [S, S] index would need 154 KB, 256 KB at 16x16: more than the INT8
size target at 256 leaves). The result is exact: the same values in the same
dtype and quantization.

What it costs at run time. Both GATHERs read only constants, and TFLite
computes such a GATHER once, when the interpreter allocates its tensors (the
kernel's Prepare makes the output persistent): the bias is in place before
the first invoke (tests/test_tflite_compact.py checks it), and the GATHERs
cost nothing per inference. The RESHAPE is what runs: XNNPACK takes it and
copies the bias each time, 4.45 MB of float32 for tiny-moat-0 at 224 (1.1 MB
in INT8). Each expansion is placed right before the ADD that uses it, so
each copy is read while it is still in cache; TFLite's partitioner groups
the delegated ops around the GATHERs into two XNNPACK partitions. All
expansions first gives one partition but measured 0.3-0.4 ms slower (four
runs), the copies then all running up front. No op between the GATHERs:
XNNPACK would take it into a partition of its own (measured once: float32
then 1.058x the plain conversion).

Side by side on tiny-moat-0 float32 at 224 (AMD EPYC, AVX2, 1 thread, 300
interleaved rounds, 2026-12-02): this form 23.74 ms, dense bias constants
23.38 ms, the plain conversion 23.77 ms, one GATHER by the flat index (no
RESHAPE) 23.43 ms. So the compact bias costs about 0.35 ms (1.5 %) against
dense constants, which cost 4.45 MB of file (+1.3 bytes per parameter of
tiny-moat-0). An earlier form gathered [W, W] blocks by an [H, H] index and
needed a TRANSPOSE of the whole bias, which XNNPACK runs per inference: 36.39
-> 34.65 ms on an AMD EPYC machine (plain conversion: 34.49 ms).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .relative_bias import factor, relative_indices, worth_it
from .tflite_graph import TFLiteGraph, consumers, op_name
from .tflite_metadata.tflite_model import fb, load, serialize

_NUMPY = {fb.TensorType.FLOAT32: np.float32, fb.TensorType.INT8: np.int8,
          fb.TensorType.UINT8: np.uint8, fb.TensorType.INT16: np.int16,
          fb.TensorType.FLOAT16: np.float16}
# Smallest operator versions that cover these inputs (TFLite's versioning rules).
_VERSIONS = {"GATHER": {np.float32: 1, np.int8: 2, np.uint8: 1, np.int16: 3},
             "RESHAPE": {np.float32: 1, np.int8: 1, np.uint8: 1, np.int16: 1}}


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
    expansions: Dict[int, List] = {}  # bias tensor -> the ops that compute it
    indices: Dict[int, int] = {}
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
        table = table.reshape((-1,) + table.shape[-2:])  # [heads, 2H-1, 2W-1]
        expansions[index] = _expansion(graph, index, tensor, dtype, table, height, width,
                                       indices)
        model.buffers[tensor.buffer] = fb.BufferT()
        tensor.buffer = 0
        replaced += 1
        saved += values.nbytes - table.nbytes
    if not replaced:
        return model_bytes
    placed = []
    for op in sub.operators:  # each expansion right before the op that adds the bias
        for i in op.inputs:
            placed += expansions.pop(int(i), [])
        placed.append(op)
    sub.operators = placed
    if notes is not None:
        notes["compact_relative_bias"] = {"constants": replaced, "bytes_saved": int(saved)}
    return serialize(model)


def _expansion(graph: TFLiteGraph, index, tensor, dtype, table, height, width, indices) -> List:
    """The ops computing tensor `index` from its table (GATHER, GATHER, RESHAPE)."""
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    q, tt = tensor.quantization, tensor.type
    heads = table.shape[0]
    if (height, width) not in indices:
        indices[height, width] = (
            graph.constant(f"relative_stack_{height}x{width}", stack_index(height, width),
                           fb.TensorType.INT32),
            graph.constant(f"relative_rows_{height}x{width}", row_index(height, width),
                           fb.TensorType.INT32))
    stack, rows = indices[height, width]
    table_t = graph.constant(f"{name}/table", table.reshape(heads, -1), tt, q)
    stacked = graph.tensor(f"{name}/stacked", (heads, (2 * height - 1) * width, width), tt, q)
    both = graph.tensor(f"{name}/ijxy", (heads, height, width, height, width), tt, q)
    return [_gather(graph, dtype, table_t, stack, stacked),
            _gather(graph, dtype, stacked, rows, both),
            _reshape(graph, dtype, both, index, f"{name}/shape")]


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


def _gather(graph, dtype, source, index, target):
    options = fb.GatherOptionsT()
    options.axis, options.batchDims = 1, 0
    return graph.op("GATHER", _VERSIONS["GATHER"][dtype], [source, index], [target],
                    fb.BuiltinOptions.GatherOptions, options)


def _reshape(graph, dtype, source, target, name):
    shape = np.asarray(graph.sub.tensors[target].shape, np.int32)
    options = fb.ReshapeOptionsT()
    options.newShape = shape
    return graph.op("RESHAPE", _VERSIONS["RESHAPE"][dtype],
                    [source, graph.constant(name, shape, fb.TensorType.INT32)], [target],
                    fb.BuiltinOptions.ReshapeOptions, options)
