"""Quantizing and dequantizing values for a tensor, by its details.

`detail` describes one tensor: its dtype and its scale and zero point, either
as LiteRT's Interpreter.get_input_details()/get_output_details() entries
give them (`quantization`: (scale, zero point)) or as the latency harness's
input specs do (`scale`, `zero_point`; None for an ONNX tensor). A float
tensor, or an integer one without a scale, takes values as they are. The
one place the project turns real values into a quantized tensor's integers
and back: export validation, tinymoat-eval, the latency harness and the
benchmarks all use it.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def parameters(detail) -> Tuple[float, int]:
    """(scale, zero point) of a tensor; scale 0.0 when it has none."""
    if "quantization" in detail:
        scale, zero_point = detail["quantization"]
    else:
        scale, zero_point = detail.get("scale"), detail.get("zero_point")
    return float(scale or 0.0), int(zero_point or 0)


def quantize(x: np.ndarray, detail) -> np.ndarray:
    """Real values -> the tensor's type: round to nearest, saturate to its range."""
    dtype = np.dtype(detail["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(x).astype(dtype)
    scale, zero_point = parameters(detail)
    x = np.round(np.asarray(x) / scale + zero_point) if scale else np.round(x)
    info = np.iinfo(dtype)
    return np.clip(x, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail, dtype=np.float32) -> np.ndarray:
    """The tensor's values -> real values (as `dtype`)."""
    scale, zero_point = parameters(detail)
    stored = np.dtype(detail.get("dtype", np.asarray(y).dtype))  # details may omit it
    y = np.asarray(y, dtype)
    if not np.issubdtype(stored, np.integer) or not scale:
        return y
    return (y - dtype(zero_point)) * dtype(scale)
