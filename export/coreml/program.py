"""Edits of the ML Program: compact relative bias, 8-bit weights, activation calibration
and the quantize -> dequantize pairs of W8A8."""

from __future__ import annotations

import os
import tempfile
from typing import Dict, Optional, Tuple

import numpy as np

from ..target import ExportError, ExportJob
from .names import QUANTIZED_INPUTS


def compact_relative_bias(program, notes: Optional[Dict] = None) -> Tuple[int, int]:
    """Replaces each dense relative-bias constant [..., S, S] by its table and a gather.

    T [..., (2H-1)(2W-1)] -> gather (last axis) by F [S, S] -> [..., S, S], with
    F = relative_bias.flat_index(H, W) computed once per window size (from two
    small constants, `_relative_index`) and shared by its blocks.
    relative_bias.factor checks the structure bit for bit, so the
    gather gives the same values in the same dtype. Returns (constants replaced,
    bytes saved), also put in notes["relative_bias"].
    """
    main = program.functions["main"]
    with main:
        return _compact_relative_bias(main, notes)

def _compact_relative_bias(main, notes: Optional[Dict]) -> Tuple[int, int]:
    from coremltools.converters.mil import Builder as mb
    from ..relative_bias import factor, worth_it
    indices, replaced, saved = {}, 0, 0
    for op in list(main.operations):
        value = op.outputs[0].val if op.op_type == "const" else None
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            continue
        found = factor(value)
        if found is None:
            continue
        table, height, width = found
        table = table.reshape(table.shape[:-2] + (-1,))
        if not worth_it(value, table):
            continue
        with mb.set_before_op(op):
            if (height, width) not in indices:
                indices[height, width] = _relative_index(height, width)
                saved -= 4 * (height * height + width * width)
            dense = mb.gather(x=mb.const(val=table, name=op.name + "_table"),
                              indices=indices[height, width], axis=table.ndim - 1,
                              name=op.name + "_gather")
        main.replace_uses_of_var_after_op(anchor_op=dense.op, old_var=op.outputs[0],
                                          new_var=dense)
        main.remove_ops([op])
        replaced, saved = replaced + 1, saved + value.nbytes - table.nbytes
    if notes is not None and replaced:
        notes["relative_bias"] = (f"{replaced} dense bias constants stored as tables and a "
                                  f"gather by {len(indices)} shared index(es), {saved} bytes "
                                  f"saved")
    return replaced, saved

def _relative_index(height: int, width: int):
    """F [S, S] as the sum of its row and column parts, reshaped.

    F[(i, j), (x, y)] = (x - i + H - 1)(2W - 1) + (y - j + W - 1): an int32 add of a
    [H, 1, H, 1] and a [1, W, 1, W] constant. Stored whole, F would be an immediate
    value of the spec (varint-coded, ~75 KB for a 14x14 window); the two parts are
    0.8 KB. Every input is a constant, so the runtime can compute it once.
    """
    from coremltools.converters.mil import Builder as mb
    from ..relative_bias import relative_indices
    name = f"relative_position_index_{height}x{width}"
    rows = (relative_indices(height) * (2 * width - 1)).reshape(height, 1, height, 1)
    cols = relative_indices(width).reshape(1, width, 1, width)
    grid = mb.add(x=mb.const(val=rows, name=name + "_rows"),
                  y=mb.const(val=cols, name=name + "_cols"), name=name + "_grid")
    return mb.reshape(x=grid, shape=[height * width, height * width], name=name)

def quantize_weights(program) -> None:
    """int8 per-output-channel symmetric weights (coremltools' weight quantization pass:
    constexpr_affine_dequantize on iOS 16/17, constexpr_blockwise_shift_scale on 18)."""
    import coremltools.optimize.coreml as cto
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY
    from coremltools.converters.mil.mil.passes.graph_pass import PassOption
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8"))
    quantizer = PASS_REGISTRY["compression::linear_quantize_weights"]
    quantizer.set_options([PassOption("config", config)])
    quantizer.apply(program)

def calibrate(model, job: ExportJob,
              notes: Optional[Dict] = None) -> Dict[str, Tuple[float, float]]:
    """(min, max) of every tensor the float program computes, over job.calibration.

    The program runs in the reference executor (executor.py), as saved, so the
    names are those of the program the quantize ops go into.
    """
    from . import executor as coreml_executor
    ranges: Dict[str, Tuple[float, float]] = {}

    def observe(name: str, value: np.ndarray) -> None:
        if value.dtype.kind != "f" or not value.size:
            return
        low, high = float(np.min(value)), float(np.max(value))
        if name in ranges:
            low, high = min(low, ranges[name][0]), max(high, ranges[name][1])
        ranges[name] = (low, high)

    with tempfile.TemporaryDirectory(prefix="tinymoat-coreml-calibration-") as folder:
        package = os.path.join(folder, "float.mlpackage")
        model.save(package)
        executor = coreml_executor.load(package)
        name = executor.image_feature().name
        for pixels in np.asarray(job.calibration, np.uint8):
            executor.run({name: executor.image_tensor(pixels)}, observe=observe)
    if notes is not None:
        notes["calibration"] = (f"{job.calibration_statistic} over {len(job.calibration)} "
                                f"images, float16 program in the reference executor")
    return ranges

def activation_quantization(low: float, high: float, dtype) -> Tuple[np.ndarray, np.ndarray]:
    """(scale, int8 zero point) of an asymmetric int8 range covering [low, high] and 0.

    The scale is rounded to the program's float dtype first (at least its smallest
    normal value) and the zero point computed from it, so that 0.0 stays exactly
    representable.
    """
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high - low <= 0.0:
        high = low + 1.0
    # A range too narrow for the dtype (random weights give some near-constant tensors)
    # would round the scale to 0, which the quantize op refuses: the smallest normal
    # value of the dtype is the finest step.
    scale = np.asarray(max((high - low) / 255.0, float(np.finfo(dtype).tiny)), dtype)
    zero = np.clip(np.rint(-128.0 - low / np.float64(scale)), -128, 127)
    return scale, np.asarray(zero, np.int8)

def quantize_activations(program, ranges: Dict[str, Tuple[float, float]],
                         notes: Optional[Dict] = None) -> int:
    """Puts quantize -> dequantize (int8, per tensor) on the non-constant float inputs of
    every op of QUANTIZED_INPUTS; one pair per tensor, shared by its consumers.

    Returns how many tensors were quantized (also in notes["activations"]).
    """
    main = program.functions["main"]
    pairs: Dict[str, object] = {}
    with main:
        for op in list(main.operations):
            _quantize_inputs(op, ranges, pairs)
    if notes is not None:
        notes["activations"] = (f"{len(pairs)} tensors quantized to int8 (asymmetric, per "
                                f"tensor) at the inputs of {', '.join(QUANTIZED_INPUTS)}")
    return len(pairs)

def _quantize_inputs(op, ranges: Dict[str, Tuple[float, float]], pairs: Dict) -> None:
    """Feeds op's QUANTIZED_INPUTS from a quantize -> dequantize pair of the same tensor,
    made before op the first time the tensor is seen."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types
    for key in QUANTIZED_INPUTS.get(op.op_type, ()):
        var = op.inputs.get(key)
        if var is None or var.val is not None or var.dtype not in (types.fp16, types.fp32):
            continue
        if var.name not in pairs:
            if var.name not in ranges:
                raise ExportError(f"coreml: calibration saw no values of {var.name!r}")
            scale, zero = activation_quantization(*ranges[var.name],
                                                  types.nptype_from_builtin(var.dtype))
            with mb.set_before_op(op):     # one scale and zero point for both ops
                scale = mb.const(val=scale, name=var.name + "_scale")
                zero = mb.const(val=zero, name=var.name + "_zero_point")
                quantized = mb.quantize(input=var, scale=scale, zero_point=zero,
                                        output_dtype="int8", name=var.name + "_quantized")
                pairs[var.name] = mb.dequantize(input=quantized, scale=scale, zero_point=zero,
                                                name=var.name + "_dequantized")
        op.set_inputs(**{key: pairs[var.name]})
