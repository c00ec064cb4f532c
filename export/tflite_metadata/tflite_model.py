"""Reading and rewriting the .tflite model FlatBuffer (identifier "TFL3").

Uses the generated TFLite schema module that ships with ai-edge-litert (the
same file TensorFlow ships as tensorflow/lite/python/schema_py_generated.py),
so attaching metadata does not import TensorFlow.
"""

from __future__ import annotations

from typing import NamedTuple

import flatbuffers
import numpy as np

try:
    from ai_edge_litert import schema_py_generated as fb
except ImportError:  # pragma: no cover - TF installs without ai-edge-litert
    from tensorflow.lite.python import schema_py_generated as fb

TFLITE_IDENTIFIER = b"TFL3"

# Buffers keep 16-byte alignment, which the TFLite schema asks for
# (`force_align: 16` on Buffer.data) but the generated Python packer ignores.
# Aligned constant data lets a memory-mapped model be used in place by SIMD code.
BUFFER_ALIGNMENT = 16

TENSOR_TYPES = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
_OPS = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}


class TensorInfo(NamedTuple):
    index: int
    name: str
    dtype: str          # "FLOAT32", "INT8", ...
    shape: tuple[int, ...]


def is_tflite(model_bytes) -> bool:
    return len(model_bytes) >= 8 and bytes(model_bytes[4:8]) == TFLITE_IDENTIFIER


def load(model_bytes) -> "fb.ModelT":
    """The model as mutable objects; any data after the FlatBuffer (a zip) is ignored."""
    if not isinstance(model_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"model_bytes must be bytes, got {type(model_bytes).__name__}")
    if not is_tflite(model_bytes):
        raise ValueError("not a TFLite model: file identifier "
                         f"{bytes(model_bytes[4:8])!r} != {TFLITE_IDENTIFIER!r}")
    try:
        model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(bytes(model_bytes), 0))
    except Exception as e:  # corrupt offsets surface as struct/index errors
        raise ValueError(f"corrupt TFLite model: {e}") from None
    if not model.subgraphs:
        raise ValueError("TFLite model has no subgraphs")
    for i, buf in enumerate(model.buffers or []):
        if buf.offset > 1:
            raise ValueError(f"buffer {i} is stored outside the FlatBuffer (a model over 2 GB); "
                             "such models cannot be repacked here")
    return model


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
        code = model.operatorCodes[op.opcodeIndex]
        name = _OPS.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
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


class _AlignedBufferT(fb.BufferT):
    """BufferT whose data vector honours the schema's 16-byte alignment."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = np.asarray(self.data, dtype=np.uint8).tobytes()
            # Pad so that the bytes start on a BUFFER_ALIGNMENT boundary (counted
            # from the end, which Finish() turns into the start).
            builder.Prep(BUFFER_ALIGNMENT, len(raw))
            data = builder.CreateByteVector(raw)
        fb.BufferStart(builder)
        if data is not None:
            fb.BufferAddData(builder, data)
        fb.BufferAddOffset(builder, self.offset)
        fb.BufferAddSize(builder, self.size)
        return fb.BufferEnd(builder)


class _SharingBuilder(flatbuffers.Builder):
    """A Builder that writes each distinct numeric vector once.

    FlatBuffers tables may point at the same vector, and TFLite models are
    full of equal ones: every per-channel weight carries an int64 zero point
    per channel, all 0 (8 bytes each; 376 KB of tiny-moat-0's INT8 file, 9 %).
    The reader sees the same values; the file holds each array once.
    """

    def __init__(self, size):
        super().__init__(size)
        self._vectors = {}

    def CreateNumpyVector(self, x):  # noqa: N802 - flatbuffers' name
        x = np.asarray(x)
        key = (x.dtype.str, x.shape, x.tobytes())
        if key not in self._vectors:
            self._vectors[key] = super().CreateNumpyVector(x)
        return self._vectors[key]


def serialize(model: "fb.ModelT") -> bytes:
    """Packs the model back into a finished "TFL3" FlatBuffer (equal vectors shared)."""
    originals = model.buffers
    aligned = []
    for buf in originals or []:
        copy = _AlignedBufferT()
        copy.data, copy.offset, copy.size = buf.data, buf.offset, buf.size
        aligned.append(copy)
    model.buffers = aligned if originals is not None else None
    try:
        builder = _SharingBuilder(max(1024, _data_size(model) + 65536))
        builder.Finish(model.Pack(builder), TFLITE_IDENTIFIER)
        return bytes(builder.Output())
    finally:
        model.buffers = originals


def _data_size(model) -> int:
    return sum(0 if b.data is None else len(b.data) + BUFFER_ALIGNMENT
               for b in model.buffers or [])
