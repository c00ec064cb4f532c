"""The MIL ops of the reference executor, each as the MIL op reference defines it.

Each kernel takes the op's operands (executor._Args: `a["x"]`, `a.get`,
`a.scalar`, `a.ints`, `a.unsupported`) and returns its result(s); OPS maps MIL
op names to kernels. Only the ops the tiny-MOAT exporter emits are here.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .package import CAST_DTYPES, ExecutorError

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
