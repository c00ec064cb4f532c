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
second then writes the bias in its final layout, copying contiguous rows of W
values (the builtin GATHER, which no delegate takes, copies element by element
when the gathered axis is the last one, as in the first, small gather). The
two int32 indices cost 32 KB for a 14x14 window, shared by the blocks of that
window. No op between the GATHERs: XNNPACK would take it into a partition of
its own, which makes TFLite run every block's expansion up front instead of
next to its ADD. An earlier form gathered [W, W] blocks by an [H, H] index and
needed a TRANSPOSE of the whole bias; this form measured, on tiny-moat-0
float32 at 224 (AMD EPYC, AVX2, 1 thread, 100 interleaved runs), 36.39 ->
34.65 ms (plain conversion with dense constants: 34.49 ms).

Each expansion is placed right before the ADD that uses it, so the bias is
written and read while it is still in cache (TFLite's partitioner still groups
the delegated ops around the GATHERs: two XNNPACK partitions, not one per
block). Measured on an earlier machine, with the earlier form, on tiny-moat-0
at 224, 1 thread, against all expansions first: float32 16.73 -> 16.51 ms,
INT8 --mixed 7.69 -> 7.49 ms. The result is exact: the same values in the
same dtype and quantization.

This is what the compact bias costs at run time: 4.45 MB of float32 bias
written per inference. The dense constants it replaces cost 4.45 MB of file
(+1.3 bytes per parameter of tiny-moat-0) and no time.
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
