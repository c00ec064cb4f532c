"""The .tflite FlatBuffer (identifier "TFL3"): loading it as objects and packing it back.

The one place that knows the file format: the schema module, operator and
tensor-type names, load and serialize. The int8 graph passes (graph.py and
the passes beside it), the op reader (ops.py) and the metadata writer
(tinymoat.export.tflite.metadata) all build on it. It uses the generated
TFLite schema module that ships with ai-edge-litert (the same file TensorFlow
ships as tensorflow/lite/python/schema_py_generated.py), so reading and
rewriting a model does not import TensorFlow.
"""

from __future__ import annotations

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
OP_NAMES = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}


def builtin_name(code) -> str:
    """The builtin operator name of an OperatorCode (object or table API): "CONV_2D", ...

    The schema keeps small codes in a deprecated int8 field and the full value
    in another; the larger of the two is the operator. Unknown codes read "CUSTOM".
    """
    if hasattr(code, "builtinCode"):
        value = max(code.builtinCode, code.deprecatedBuiltinCode)
    else:
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return OP_NAMES.get(value, "CUSTOM")


def op_name(model: "fb.ModelT", op) -> str:
    """The builtin name of one operator of a loaded model."""
    return builtin_name(model.operatorCodes[op.opcodeIndex])


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
