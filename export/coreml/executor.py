"""A NumPy reference executor of Core ML ML Programs, to check their numerics off macOS.

The Core ML runtime only runs on macOS, so without this a wrong layout, image
scale or bias, GELU mode or label order in an `.mlpackage` would ship
unnoticed. This executes the saved package itself (the spec's MIL program and
the weight blobs of `weights/weight.bin`), not the converter's in-memory
program, so what is checked is what ships.

Each op follows the MIL op reference (coremltools/converters/mil/mil/ops/defs).
Only the ops the tiny-MOAT exporter emits are implemented; any other op is an
`UnsupportedOp` error naming it, never a silent skip. Every op result is cast
to the dtype the spec declares for it: ops compute in float32 from their
operands, and a float16 program's results are rounded to float16 after every
op, as float16 compute would round them.

The image input is prepared as Core ML prepares an image feature: pixel values
0..255 as float32 in the feature's colour order (RGB or BGR), laid out NCHW.
The image scale and biases are ops of the program itself (`image__scaled__`,
`image__biased__`), so they run with the rest.
"""

from __future__ import annotations

import functools
import json
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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
COLOR_ORDER = {"RGB": [0, 1, 2], "BGR": [2, 1, 0]}


class ExecutorError(ExportError):
    """A package this executor cannot run; the message is one line (an export error, as
    validation cannot go on without it)."""


class UnsupportedOp(ExecutorError):
    """An op (or an op attribute value) the executor does not implement."""


# ------------------------------------------------------------------ package

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


class _Blobs:
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


def _shape(tensor_type) -> Tuple[int, ...]:
    return tuple(int(d.constant.size) for d in tensor_type.dimensions)


def _dtype(value_type):
    from coremltools.proto import MIL_pb2
    name = MIL_pb2.DataType.Name(value_type.tensorType.dataType)
    if name not in DTYPES and name != "STRING":
        raise ExecutorError(f"coreml executor: unsupported tensor data type {name}")
    return DTYPES.get(name, str)


def read_value(value, blobs: _Blobs):
    """A MIL Value as NumPy (tensors), str (scalar strings) or list (list values)."""
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        blob = value.blobFileValue
        return blobs.read(blob.fileName, blob.offset, _dtype(value.type),
                          _shape(value.type.tensorType))
    immediate = value.immediateValue
    if immediate.WhichOneof("value") == "list":
        return [read_value(v, blobs) for v in immediate.list.values]
    return _immediate_tensor(immediate.tensor, value.type)


def _immediate_tensor(tensor, value_type):
    dtype, shape = _dtype(value_type), _shape(value_type.tensorType)
    kind = tensor.WhichOneof("value")
    if kind == "strings":
        strings = list(tensor.strings.values)
        return strings[0] if not shape else strings
    if kind == "bytes":
        array = np.frombuffer(tensor.bytes.values, dtype)
    else:
        array = np.asarray(getattr(tensor, kind).values).astype(dtype)
    return array.reshape(shape)


# ------------------------------------------------------------------ executor

class _Args:
    """An op's operands (inputs bound to names or values, then attributes) by name."""

    def __init__(self, op, env: Dict[str, object], blobs: _Blobs):
        self.op, self.env, self.blobs = op, env, blobs

    def get(self, name: str, default=None):
        if name in self.op.inputs and self.op.inputs[name].arguments:
            values = [self._argument(a) for a in self.op.inputs[name].arguments]
            return values[0] if len(values) == 1 else values
        if name in self.op.attributes:
            return read_value(self.op.attributes[name], self.blobs)
        return default

    def __getitem__(self, name: str):
        value = self.get(name)
        if value is None:
            raise ExecutorError(f"coreml executor: {self.op.type} "
                                f"{self.op.outputs[0].name!r} has no {name!r}")
        return value

    def ints(self, name: str, default=None) -> Optional[List[int]]:
        value = self.get(name, default)
        return None if value is None else [int(v) for v in np.ravel(value)]

    def scalar(self, name: str, default=None):
        value = self.get(name, default)
        return value.item() if isinstance(value, np.ndarray) else value

    def unsupported(self, what: str) -> UnsupportedOp:
        return UnsupportedOp(f"coreml executor: {self.op.type} {self.op.outputs[0].name!r}: "
                             f"{what} is not implemented")

    def _argument(self, argument):
        if argument.WhichOneof("binding") == "value":
            return read_value(argument.value, self.blobs)
        return self.env[argument.name]


class Executor:
    """Runs the main function of one saved ML Program."""

    def __init__(self, path: str):
        spec_path, model_dir = package_files(path)
        self.spec = read_spec(spec_path)
        if not self.spec.HasField("mlProgram"):
            raise ExecutorError(f"coreml executor: {path} is not an ML Program "
                                f"({self.spec.WhichOneof('Type')})")
        self.function = self.spec.mlProgram.functions["main"]
        self.block = self.function.block_specializations[self.function.opset]
        self.blobs = _Blobs(model_dir)

    def run(self, feeds: Dict[str, np.ndarray],
            observe: Optional[Callable[[str, np.ndarray], None]] = None) -> Dict[str, object]:
        """Every output of the main block for input tensors `feeds` (by input name).

        `observe(name, value)`, if given, sees every tensor an op produces (calibration
        reads activation ranges this way).
        """
        env: Dict[str, object] = {}
        for spec_input in self.function.inputs:
            env[spec_input.name] = _input(spec_input, feeds)
        for op in self.block.operations:
            _run_op(op, env, self.blobs)
            if observe is not None and op.type != "const":
                for output in op.outputs:
                    if isinstance(env[output.name], np.ndarray):
                        observe(output.name, env[output.name])
        return {name: env[name] for name in self.block.outputs}

    def image_feature(self):
        features = [f for f in self.spec.description.input if f.type.HasField("imageType")]
        if len(features) != 1:
            raise ExecutorError("coreml executor: the model needs exactly one image input, "
                                f"it has {len(features)}")
        return features[0]

    def image_tensor(self, pixels: np.ndarray) -> np.ndarray:
        """[1, C, H, W] float32 of uint8 RGB pixels [H, W, 3], as Core ML feeds an image."""
        from coremltools.proto import FeatureTypes_pb2
        feature = self.image_feature()
        image = feature.type.imageType
        layout = FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
        if layout not in COLOR_ORDER:
            raise ExecutorError(f"coreml executor: image colour layout {layout} is not "
                                f"implemented (RGB, BGR are)")
        if pixels.shape != (image.height, image.width, 3):
            raise ExecutorError(f"coreml executor: expected pixels [{image.height}, "
                                f"{image.width}, 3], got {list(pixels.shape)}")
        channels = pixels.astype(np.float32)[..., COLOR_ORDER[layout]]
        return channels.transpose(2, 0, 1)[None]

    def predict(self, pixels: np.ndarray, output: str) -> np.ndarray:
        """Output `output` for each uint8 RGB image of pixels [N, H, W, 3], stacked."""
        name = self.image_feature().name
        return np.stack([np.asarray(self.run({name: self.image_tensor(p)})[output])
                         for p in np.asarray(pixels, np.uint8)])


def load(path: str) -> Executor:
    return Executor(path)


def _input(spec_input, feeds: Dict[str, np.ndarray]) -> np.ndarray:
    if spec_input.name not in feeds:
        raise ExecutorError(f"coreml executor: no value for input {spec_input.name!r}")
    value = np.asarray(feeds[spec_input.name], _dtype(spec_input.type))
    shape = _shape(spec_input.type.tensorType)
    if value.shape != shape:
        raise ExecutorError(f"coreml executor: input {spec_input.name!r} has shape "
                            f"{list(value.shape)}, the program expects {list(shape)}")
    return value


def _run_op(op, env: Dict[str, object], blobs: _Blobs) -> None:
    if op.type not in OPS:
        raise UnsupportedOp(f"coreml executor: MIL op {op.type!r} (output "
                            f"{op.outputs[0].name!r}) is not implemented")
    results = OPS[op.type](_Args(op, env, blobs))
    results = results if isinstance(results, tuple) else (results,)
    for output, result in zip(op.outputs, results):
        env[output.name] = _as_declared(result, output.type)


def _as_declared(result, value_type):
    """The result in the dtype the spec declares for it (float16 programs round here)."""
    if not value_type.HasField("tensorType") or not isinstance(result, (np.ndarray, np.generic)):
        return result
    dtype = _dtype(value_type)
    return result if dtype is str else np.asarray(result).astype(dtype, copy=False)


def _f32(*values):
    """Float operands upcast to float32: ops compute in float32, results are rounded after."""
    cast = [np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for v in values]
    return cast[0] if len(cast) == 1 else cast


# ------------------------------------------------------------ elementwise ops

def _binary(function: Callable) -> Callable:
    return lambda a: function(*_f32(a["x"], a["y"]))


def _unary(function: Callable) -> Callable:
    return lambda a: function(_f32(a["x"]))


def _sigmoid(x):
    """1 / (1 + exp(-x)), written with tanh so that no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _rsqrt(a):
    return 1.0 / np.sqrt(_f32(a["x"]) + np.float32(a.scalar("epsilon", 1e-12)))


_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    """math.erf elementwise (NumPy has no erf; exact in float64, then rounded)."""
    return _ERF(x.astype(np.float64)).astype(x.dtype)


GELU = {"EXACT": lambda x: 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0)))),
        "TANH_APPROXIMATION": lambda x: 0.5 * x * (1.0 + np.tanh(
            np.float32(math.sqrt(2.0 / math.pi)) * (x + np.float32(0.044715) * x ** 3))),
        "SIGMOID_APPROXIMATION": lambda x: x * _sigmoid(np.float32(1.702) * x)}


@functools.lru_cache(maxsize=None)
def _half_gelu(mode: str) -> np.ndarray:
    """The GELU formula on all 65536 float16 values, indexed by their bits.

    A float16 GELU is that formula rounded, so a lookup gives the same result
    without a million math.erf calls per image."""
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    with np.errstate(all="ignore"):
        return GELU[mode](halves)


def _gelu(a):
    x, mode = np.asarray(a["x"]), a.scalar("mode", "EXACT")
    if mode not in GELU:
        raise a.unsupported(f"mode {mode!r}")
    if x.dtype == np.float16:
        return _half_gelu(mode)[x.view(np.uint16)]
    return GELU[mode](_f32(x))


def _cast(a):
    dtype = a.scalar("dtype")
    if dtype not in CAST_DTYPES:
        raise a.unsupported(f"dtype {dtype!r}")
    return np.asarray(a["x"]).astype(CAST_DTYPES[dtype])


# ------------------------------------------------------------ shape ops

def _reshape(a):
    x, shape = np.asarray(a["x"]), a.ints("shape")
    if len(shape) == x.ndim:  # 0 keeps that dimension of x
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _transpose(a):
    x, perm = np.asarray(a["x"]), a.ints("perm")
    perm = [p % x.ndim for p in perm]
    if sorted(perm) != list(range(x.ndim)):
        raise ExecutorError(f"coreml executor: transpose perm {a.ints('perm')} is not a "
                            f"permutation of {x.ndim} axes")
    return x.transpose(perm)


# ------------------------------------------------------------ reductions, norms

def _axes(a, x: np.ndarray) -> Optional[Tuple[int, ...]]:
    axes = a.ints("axes")
    return None if axes is None else tuple(ax % x.ndim for ax in axes)


def _reduce_mean(a):
    x = _f32(a["x"])
    return np.mean(x, axis=_axes(a, x), keepdims=bool(a.scalar("keep_dims", False)))


def _softmax(a):
    x = _f32(a["x"])
    axis = int(a.scalar("axis", -1))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _layer_norm(a):
    x = _f32(a["x"])
    axes = _axes(a, x) or tuple(range(x.ndim))
    mean = np.mean(x, axis=axes, keepdims=True)
    variance = np.mean(np.square(x - mean), axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(variance + np.float32(a.scalar("epsilon", 1e-5)))
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    gamma, beta = a.get("gamma"), a.get("beta")
    y = y if gamma is None else y * _f32(gamma).reshape(shape)
    return y if beta is None else y + _f32(beta).reshape(shape)


def _batch_norm(a):
    x = _f32(a["x"])
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    mean, variance = (_f32(a[k]).reshape(shape) for k in ("mean", "variance"))
    y = (x - mean) / np.sqrt(variance + np.float32(a.scalar("epsilon", 1e-5)))
    gamma, beta = a.get("gamma"), a.get("beta")
    y = y if gamma is None else y * _f32(gamma).reshape(shape)
    return y if beta is None else y + _f32(beta).reshape(shape)


# ------------------------------------------------------------ linear algebra

def _matmul(a):
    x, y = _f32(a["x"], a["y"])
    if bool(a.scalar("transpose_x", False)) and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if bool(a.scalar("transpose_y", False)) and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    # contiguous operands: NumPy's matmul uses BLAS only for those
    return np.matmul(np.ascontiguousarray(x), np.ascontiguousarray(y))


def _linear(a):
    x, weight = _f32(a["x"], a["weight"])
    bias = a.get("bias")
    y = np.matmul(np.ascontiguousarray(x), np.ascontiguousarray(weight.T))
    return y if bias is None else y + _f32(bias)


# ------------------------------------------------------------ convolution, pooling

def _padding(a, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> List[Tuple[int, int]]:
    """(before, after) padding per spatial dimension for the op's pad_type.

    `same` pads so that out = ceil(in / stride), the total split with the odd
    element after (TensorFlow's SAME); `same_lower` puts it before.
    """
    pad_type = a.scalar("pad_type", "valid")
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        pad = a.ints("pad", [0] * 2 * len(spatial))
        return [(pad[2 * i], pad[2 * i + 1]) for i in range(len(spatial))]
    if pad_type not in ("same", "same_lower"):
        raise a.unsupported(f"pad_type {pad_type!r}")
    pads = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max(0, (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        pads.append((small, large) if pad_type == "same" else (large, small))
    return pads


def _taps(x: np.ndarray, kernel, strides, dilations, out_shape):
    """(kernel offset, strided view of x for that offset) over every kernel position."""
    for offset in np.ndindex(*kernel):
        index = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                      for o, d, s, n in zip(offset, dilations, strides, out_shape))
        yield offset, x[(Ellipsis,) + index]


def _window(a, x: np.ndarray, kernel: List[int], dilations: List[int]):
    """(zero-padded x, strides, output spatial shape) of a conv or pool window."""
    strides = a.ints("strides", [1] * len(kernel))
    pads = _padding(a, x.shape[2:], kernel, strides, dilations)
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
    out = [(size - (k - 1) * d - 1) // s + 1
           for size, k, d, s in zip(x.shape[2:], kernel, dilations, strides)]
    return x, strides, out


def _conv(a):
    x, weight = _f32(a["x"], a["weight"])
    groups = int(a.scalar("groups", 1))
    kernel = list(weight.shape[2:])
    dilations = a.ints("dilations", [1] * len(kernel))
    x, strides, out = _window(a, x, kernel, dilations)
    n, channels = x.shape[:2]
    # [taps, groups, out channels per group, in channels per group], contiguous for BLAS
    w = weight.reshape(groups, weight.shape[0] // groups, channels // groups, -1)
    w = np.ascontiguousarray(w.transpose(3, 0, 1, 2))
    y = np.zeros((n, groups, w.shape[2], int(np.prod(out))), np.float32)
    for tap, (_, view) in enumerate(_taps(x, kernel, strides, dilations, out)):
        y += np.matmul(w[tap], view.reshape(n, groups, channels // groups, -1))
    y = y.reshape(n, weight.shape[0], *out)
    bias = a.get("bias")
    return y if bias is None else y + _f32(bias).reshape([1, -1] + [1] * len(out))


def _avg_pool(a):
    x = _f32(a["x"])
    kernel = a.ints("kernel_sizes")
    if bool(a.scalar("ceil_mode", False)):
        raise a.unsupported("ceil_mode True")
    ones = np.ones((1, 1) + x.shape[2:], np.float32)
    dilations = [1] * len(kernel)
    x, strides, out = _window(a, x, kernel, dilations)
    ones, _, _ = _window(a, ones, kernel, dilations)
    total = sum(view for _, view in _taps(x, kernel, strides, dilations, out))
    if bool(a.scalar("exclude_padding_from_average", False)):
        return total / sum(view for _, view in _taps(ones, kernel, strides, dilations, out))
    return total / np.float32(np.prod(kernel))


# ------------------------------------------------------------ weights, classifier

def _affine_dequantize(a):
    """iOS 16 constexpr_affine_dequantize: scale * (quantized_data - zero_point) along axis."""
    data = np.asarray(a["quantized_data"])
    axis = int(a.scalar("axis")) % data.ndim
    shape = [1] * data.ndim
    scale, zero = (np.asarray(a[k]) for k in ("scale", "zero_point"))
    scale, zero = (v.reshape(shape[:axis] + [-1] + shape[axis + 1:]) if v.size > 1 else v
                   for v in (scale, zero))
    return (data.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)


def _blockwise(value: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Each element repeated over its block: block sizes are shape / value.shape."""
    for axis, (full, blocks) in enumerate(zip(shape, value.shape)):
        if full % blocks:
            raise ExecutorError(f"coreml executor: {blocks} blocks do not divide {full}")
        value = np.repeat(value, full // blocks, axis)
    return value


def _blockwise_shift_scale(a):
    """iOS 18 constexpr_blockwise_shift_scale: scale * (data - offset), blockwise."""
    data = np.asarray(a["data"]).astype(np.float32)
    scale = _blockwise(np.asarray(a["scale"], np.float32), data.shape)
    offset = a.get("offset")
    if offset is not None:
        data = data - _blockwise(np.asarray(offset, np.float32), data.shape)
    return data * scale


# ------------------------------------------------------------ activation quantization

# Integer range of quantize's output_dtype (iOS 17 quantize: int8 or uint8).
INTEGER_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def _axis_shaped(value, x: np.ndarray, axis) -> np.ndarray:
    """A scalar as it is; a vector along `axis` of x, broadcast to x's rank."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value
    if axis is None or value.ndim != 1 or value.size != x.shape[int(axis) % x.ndim]:
        raise ExecutorError(f"coreml executor: quantization parameters of shape "
                            f"{list(value.shape)} do not fit input {list(x.shape)} on axis {axis}")
    shape = [1] * x.ndim
    shape[int(axis) % x.ndim] = -1
    return value.reshape(shape)


def _quantize(a):
    """iOS 17 quantize: clip(round(input / scale) + zero_point) in output_dtype.

    Rounding is to nearest, ties to even (as coremltools' value inference of the op).
    """
    x = _f32(a["input"])
    dtype = a.scalar("output_dtype")
    if dtype not in INTEGER_RANGES:
        raise a.unsupported(f"output_dtype {dtype!r}")
    axis = a.scalar("axis")
    scale = _axis_shaped(_f32(a["scale"]), x, axis)
    zero = a.get("zero_point")
    q = np.rint(x / scale)
    if zero is not None:
        q = q + _axis_shaped(np.asarray(zero, np.float32), x, axis)
    low, high = INTEGER_RANGES[dtype]
    return np.clip(q, low, high).astype(CAST_DTYPES[dtype])


def _dequantize(a):
    """iOS 17 dequantize: scale * (input - zero_point), in the scale's float dtype."""
    q = np.asarray(a["input"])
    if q.dtype not in (np.int8, np.uint8):
        raise a.unsupported(f"input dtype {q.dtype}")
    axis = a.scalar("axis")
    scale = np.asarray(a["scale"])
    x = q.astype(np.float32)
    zero = a.get("zero_point")
    if zero is not None:
        x = x - _axis_shaped(np.asarray(zero, np.float32), q, axis)
    return (x * _axis_shaped(scale.astype(np.float32), q, axis)).astype(scale.dtype)


def _gather(a):
    """gather along `axis` (batch_dims 0): x[..., indices, ...]; indices must be in range."""
    x, indices = np.asarray(a["x"]), np.asarray(a["indices"])
    axis = int(a.scalar("axis", 0)) % x.ndim
    if int(a.scalar("batch_dims", 0)) != 0:
        raise a.unsupported(f"batch_dims {a.scalar('batch_dims')}")
    if indices.dtype.kind not in "iu":
        raise a.unsupported(f"indices of dtype {indices.dtype}")
    if indices.size and (indices.min() < -x.shape[axis] or indices.max() >= x.shape[axis]):
        raise ExecutorError(f"coreml executor: gather {a.op.outputs[0].name!r}: indices "
                            f"outside [-{x.shape[axis]}, {x.shape[axis]})")
    return np.take(x, indices.astype(np.int64), axis=axis)


def _classify(a):
    """(label with the highest probability, {label: probability})."""
    probabilities = np.asarray(a["probabilities"], np.float32).reshape(-1)
    classes = [c if isinstance(c, str) else int(np.asarray(c).item()) for c in a["classes"]]
    if len(classes) != probabilities.size:
        raise ExecutorError(f"coreml executor: classify has {len(classes)} classes for "
                            f"{probabilities.size} probabilities")
    return (classes[int(np.argmax(probabilities))],
            {c: float(p) for c, p in zip(classes, probabilities)})


OPS: Dict[str, Callable] = {
    "const": lambda a: a["val"],
    "cast": _cast,
    "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply),
    "square": _unary(np.square), "rsqrt": _rsqrt,
    "sigmoid": _unary(_sigmoid), "silu": _unary(lambda x: x * _sigmoid(x)), "gelu": _gelu,
    "reshape": _reshape, "transpose": _transpose,
    "reduce_mean": _reduce_mean, "softmax": _softmax,
    "layer_norm": _layer_norm, "batch_norm": _batch_norm,
    "matmul": _matmul, "linear": _linear, "conv": _conv, "avg_pool": _avg_pool,
    "constexpr_affine_dequantize": _affine_dequantize,
    "constexpr_blockwise_shift_scale": _blockwise_shift_scale,
    "quantize": _quantize, "dequantize": _dequantize, "gather": _gather,
    "classify": _classify,
}
