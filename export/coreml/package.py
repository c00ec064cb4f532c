"""A saved Core ML package as the reference executor reads it: spec, weight blobs, values.

Also the executor's errors and the MIL dtype tables, which the op kernels
(mil_ops.py) share.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Tuple

import numpy as np

from ..target import ExportError

# MIL DataType names -> NumPy dtypes of the values this executor can hold.
DTYPES = {"FLOAT16": np.float16, "FLOAT32": np.float32, "FLOAT64": np.float64,
          "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "UINT16": np.uint16,
          "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}
# `cast`'s dtype strings (iOS15 to iOS17 cast op).
CAST_DTYPES = {"fp16": np.float16, "fp32": np.float32, "int32": np.int32, "bool": np.bool_,
               "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16}
BLOB_SENTINEL = 0xDEADBEEF


class ExecutorError(ExportError):
    """A package this executor cannot run; the message is one line (an export error, as
    validation cannot go on without it)."""


class UnsupportedOp(ExecutorError):
    """An op (or an op attribute value) the executor does not implement."""


def package_files(path: str) -> Tuple[str, str]:
    """(spec file, folder that `@model_path` names) of an .mlpackage or .mlmodel."""
    path = str(path)
    manifest = os.path.join(path, "Manifest.json")
    if not os.path.isfile(manifest):
        if os.path.isfile(path):
            return path, os.path.dirname(path)
        raise ExecutorError(f"coreml executor: {path} is not an .mlpackage (no Manifest.json)")
    with open(manifest) as f:
        data = json.load(f)
    item = data["itemInfoEntries"][data["rootModelIdentifier"]]["path"]
    spec_path = os.path.join(path, "Data", item)
    return spec_path, os.path.dirname(spec_path)


def read_spec(spec_path: str):
    from coremltools.proto import Model_pb2
    spec = Model_pb2.Model()
    with open(spec_path, "rb") as f:
        spec.ParseFromString(f.read())
    return spec


class Blobs:
    """Weight blob files (MIL blob storage v2), read whole on first use.

    A value's blob offset points at a 64-byte metadata record: sentinel
    0xDEADBEEF (uint32), data type (uint32), size in bytes (uint64) and the
    data's offset in the file (uint64). Dtype and shape come from the MIL value.
    """

    def __init__(self, model_dir: str):
        self.model_dir = model_dir
        self.files: Dict[str, bytes] = {}

    def read(self, file_name: str, offset: int, dtype, shape) -> np.ndarray:
        data = self._file(file_name)
        sentinel = int(np.frombuffer(data, "<u4", 1, offset)[0])
        size, start = (int(v) for v in np.frombuffer(data, "<u8", 2, offset + 8))
        if sentinel != BLOB_SENTINEL:
            raise ExecutorError(f"coreml executor: no blob at offset {offset} of {file_name}")
        count = int(np.prod(shape, dtype=np.int64))
        if count * np.dtype(dtype).itemsize != size:
            raise ExecutorError(f"coreml executor: blob at {offset} of {file_name} has "
                                f"{size} bytes, not {count} x {np.dtype(dtype).name}")
        return np.frombuffer(data, dtype, count, start).reshape(shape)

    def _file(self, file_name: str) -> bytes:
        if file_name not in self.files:
            path = file_name.replace("@model_path", self.model_dir, 1)
            with open(path, "rb") as f:
                self.files[file_name] = f.read()
        return self.files[file_name]


def shape_of(tensor_type) -> Tuple[int, ...]:
    return tuple(int(d.constant.size) for d in tensor_type.dimensions)


def dtype_of(value_type):
    from coremltools.proto import MIL_pb2
    name = MIL_pb2.DataType.Name(value_type.tensorType.dataType)
    if name not in DTYPES and name != "STRING":
        raise ExecutorError(f"coreml executor: unsupported tensor data type {name}")
    return DTYPES.get(name, str)


def read_value(value, blobs: Blobs):
    """A MIL Value as NumPy (tensors), str (scalar strings) or list (list values)."""
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        blob = value.blobFileValue
        return blobs.read(blob.fileName, blob.offset, dtype_of(value.type),
                          shape_of(value.type.tensorType))
    immediate = value.immediateValue
    if immediate.WhichOneof("value") == "list":
        return [read_value(v, blobs) for v in immediate.list.values]
    return _immediate_tensor(immediate.tensor, value.type)


def _immediate_tensor(tensor, value_type):
    dtype, shape = dtype_of(value_type), shape_of(value_type.tensorType)
    kind = tensor.WhichOneof("value")
    if kind == "strings":
        strings = list(tensor.strings.values)
        return strings[0] if not shape else strings
    if kind == "bytes":
        array = np.frombuffer(tensor.bytes.values, dtype)
    else:
        array = np.asarray(getattr(tensor, kind).values).astype(dtype)
    return array.reshape(shape)
