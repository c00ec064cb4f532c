"""Recognising the relative position bias in a converted graph.

Converters fold each attention block's bias into a dense constant
[..., S, S] (S = H*W tokens). Every value of it is an entry of a small table:
dense[..., (i, j), (x, y)] = T[..., x - i + H - 1, y - j + W - 1]. The
TFLite and ONNX post-passes (tflite_compact.py, onnx.py) find such constants
with `factor` and store the table and an index instead; `factor` checks the
structure bit for bit, so the replacement is exact or does not happen.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

# Below this many bytes saved, the extra ops and tensors cost more than they save.
MIN_SAVING = 4096


def relative_indices(length: int) -> np.ndarray:
    """[L, L] table positions x - i + L - 1 for query i and key x."""
    i, x = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    return (x - i + length - 1).astype(np.int32)


def flat_index(height: int, width: int) -> np.ndarray:
    """[S, S] positions in the flattened [(2H-1) * (2W-1)] table."""
    rows = relative_indices(height)[:, None, :, None]      # [i, 1, x, 1]
    cols = relative_indices(width)[None, :, None, :]       # [1, j, 1, y]
    index = rows * (2 * width - 1) + cols                  # [i, j, x, y]
    return index.reshape(height * width, height * width).astype(np.int32)


def _bits(values: np.ndarray) -> np.ndarray:
    """The bit patterns, so that -0.0, NaN and every rounding difference count."""
    return values.view(np.dtype(f"u{values.dtype.itemsize}"))


def factor(values: np.ndarray) -> Optional[Tuple[np.ndarray, int, int]]:
    """(table [..., 2H-1, 2W-1], H, W) if values [..., S, S] is a relative bias, else None."""
    if values.ndim < 2 or values.shape[-1] != values.shape[-2] or values.shape[-1] < 2:
        return None
    tokens = values.shape[-1]
    flat = np.ascontiguousarray(values).reshape(-1, tokens * tokens)
    for height in range(1, tokens + 1):
        if tokens % height:
            continue
        width = tokens // height
        index = flat_index(height, width).reshape(-1)
        table = np.zeros((flat.shape[0], (2 * height - 1) * (2 * width - 1)), values.dtype)
        table[:, index] = flat
        if np.array_equal(_bits(table[:, index]), _bits(flat)):
            shape = values.shape[:-2] + (2 * height - 1, 2 * width - 1)
            return table.reshape(shape), height, width
    return None


def worth_it(values: np.ndarray, table: np.ndarray) -> bool:
    return values.nbytes - table.nbytes >= MIN_SAVING
