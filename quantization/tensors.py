"""Quantizing and dequantizing values for a LiteRT tensor, by its details.

`detail` is an entry of Interpreter.get_input_details()/get_output_details():
its dtype and (scale, zero point). A float32 tensor passes values through. The
one place the project turns real values into a quantized tensor's integers
and back: export validation, tinymoat-eval and the benchmarks all use it.
"""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, detail) -> np.ndarray:
    """Real values -> the tensor's type: round to nearest, saturate to its range."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.asarray(x, np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail) -> np.ndarray:
    """The tensor's values -> real values."""
    if np.dtype(detail["dtype"]) == np.float32:
        return np.asarray(y, np.float32)
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * scale
