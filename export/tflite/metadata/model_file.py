"""The model-file facts the metadata writer checks: I/O tensors, their producers, metadata entries."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinymoat.quantization.tflite.flatbuffer import TENSOR_TYPES, fb, is_tflite, op_name


class TensorInfo(NamedTuple):
    index: int
    name: str
    dtype: str          # "FLOAT32", "INT8", ...
    shape: tuple[int, ...]


def io_tensors(model: "fb.ModelT", which: str) -> list[TensorInfo]:
    """The inputs or outputs (`which`) of the main subgraph."""
    sub = model.subgraphs[0]
    indices = sub.inputs if which == "inputs" else sub.outputs
    out = []
    for index in [] if indices is None else list(indices):
        t = sub.tensors[index]
        shape = () if t.shape is None else tuple(int(d) for d in t.shape)
        name = t.name.decode("utf-8") if isinstance(t.name, bytes) else (t.name or "")
        out.append(TensorInfo(int(index), name, TENSOR_TYPES.get(t.type, str(t.type)), shape))
    return out


def producer_op(model: "fb.ModelT", tensor_index: int,
                skip=("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE")) -> str | None:
    """Builtin op name that computes a tensor, looking through type/shape-only ops."""
    sub = model.subgraphs[0]
    producers = {}
    for op in sub.operators or []:
        for out in [] if op.outputs is None else list(op.outputs):
            producers[int(out)] = op
    seen = set()
    while tensor_index in producers and tensor_index not in seen:
        seen.add(tensor_index)
        op = producers[tensor_index]
        name = op_name(model, op)
        if name not in skip or op.inputs is None or not len(op.inputs):
            return name
        tensor_index = int(op.inputs[0])
    return None


def _entry_name(entry) -> str:
    return entry.name.decode("utf-8") if isinstance(entry.name, bytes) else entry.name


def metadata_entries(model: "fb.ModelT") -> list[tuple[str, int]]:
    """(name, buffer index) of every `Model.metadata` entry, in order."""
    return [(_entry_name(m), m.buffer) for m in model.metadata or []]


def metadata_buffer(model_bytes, name: str) -> bytes | None:
    """Bytes of the buffer a named `Model.metadata` entry points to, without unpacking the model."""
    if not is_tflite(model_bytes):
        raise ValueError("not a TFLite model")
    model = fb.Model.GetRootAs(bytes(model_bytes), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() is not None and entry.Name().decode("utf-8") == name:
            buf = model.Buffers(entry.Buffer())
            return b"" if buf.DataIsNone() else buf.DataAsNumpy().tobytes()
    return None


def set_metadata_buffer(model: "fb.ModelT", name: str, data: bytes) -> None:
    """Points one `Model.metadata` entry called `name` at a buffer holding `data`.

    Other entries (min_runtime_version, CONVERSION_METADATA, ...) are left as
    they are. An existing entry of that name has its buffer replaced in place;
    duplicates of it are dropped and their buffers emptied.
    """
    new = fb.BufferT()
    new.data = np.frombuffer(bytes(data), dtype=np.uint8)
    model.metadata = list(model.metadata or [])
    model.buffers = list(model.buffers or [])
    ours = [m for m in model.metadata if _entry_name(m) == name]
    if ours:
        model.buffers[ours[0].buffer] = new
        for dup in ours[1:]:
            model.buffers[dup.buffer] = fb.BufferT()
            model.metadata.remove(dup)
        return
    model.buffers.append(new)
    entry = fb.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
