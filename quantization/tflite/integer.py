"""SOFTMAX and RSQRT of the INT8 graph as int8 ops XNNPACK runs: the default `--int8`.

LiteRT 2.3's XNNPACK has no int8 SOFTMAX and no int8 RSQRT (LayerNorm's
1/std), so TFLite runs its builtin kernels for them: single-threaded, and
each splits the delegated graph. The int8 SOFTMAX kernel is also slow: the
rewrite below takes about a third of its time on one thread and also uses a
second one. `integer_kernels`
rewrites both; tensors between ops stay int8 and the ops' own input and
output tensors stay where they are, so PTQ and QAT graphs get the same
rewrite.

Softmax (int8, last axis, beta 1), in the log domain:

    m      = REDUCE_MAX(x)                on x's grid, exact
    z      = SUB(x, m)                    [-Y, 0], on a grid dividing x's: exact
    e      = ELU(z)                       exp(z) - 1
    ramps  = CONV_2D 1x1 (e), RELU6       the keys are the input channels
    L1, L2 = CONV_2D 1x1 (ramps) x 2      log(sum_j exp(z_j)) = L1 + L2
    y      = SUB(SUB(z, L1), L2)
    p      = ADD(ELU(y), 1)               exp(y), the probabilities

The row sum s = sum_j e_j + T lies in [1, T] and no int8 tensor holds it
to the ~0.1 % its logarithm needs, so it never is one: the first
convolution accumulates it in int32 and emits ramp_i = RELU6(g_i (s - t_i))
for breakpoints t_i = RHO^i, each ramp resolving [t_i, t_i+1] to 1/255 of
its width. Summing the ramps with the equal weights log(RHO)/6 interpolates
log s linearly between breakpoints (error below log(RHO)^2/8, centred by a
bias). Every kernel quantizes exactly (each output channel one repeated
value). log s goes in two halves (L1 up to t_{M/2}, about sqrt(T); L2 the rest) to
halve its rounding: a row's log-sum error scales all of its probabilities
alike. y's grid (Y/255) is deliberately not a multiple of z's (x's step over
an integer): on a common grid the rounding of y = z - log s would be one
offset for the whole row, scaling it by up to +-1.25 %; off it, the offsets
differ between the row's distinct logits and partly cancel in p @ v
(0.1-0.2 dB of tiny-moat-0's agreement with the float model). Below -Y
(Y = 6.375 > log 512) exp is under half a step of the output, so z and y
saturate there with no effect. The probabilities get
ELU's 1/255 grid (TFLite's SOFTMAX writes 1/256; going between the two would
lose 0.4 % of every row's mass).

Measured against the float softmax of the same int8 logits: about as close
as TFLite's int8 kernel (tests/test_integer.py); in tiny-moat-0 with
the tiny_moat0_224 fixture weights the model's agreement with the float
model is unchanged (bench/int8_speed.py prints it).

RSQRT (int8, one channel: LayerNorm's per-token variance) is a table: its
output code is a non-increasing function of its input code. Each unit drop
of it between input codes a and a+1 becomes one channel of a 1x1
convolution, RELU6(g (tau - v)) with tau halfway between the two codes and
g so steep that the channel is exactly 0 or 6 at every code; a second 1x1
convolution counts the channels (equal weights, one output step each) on top
of the code at the largest input. Every positive input code gives exactly
the builtin kernel's output code.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from .graph import TFLiteGraph, op_name, replace_ops
from .flatbuffer import fb

RHO = 1.2     # ratio of successive breakpoints of log s
Y = 6.375     # exp(-Y) < 1/512: where z and y saturate
_RELU6, _NONE = fb.ActivationFunctionType.RELU6, fb.ActivationFunctionType.NONE
_RAMP = 6.0   # a RELU6 ramp's top; ramps are quantized on [0, 6]


def breakpoints(tokens: int, rho: Optional[float] = None) -> np.ndarray:
    """t_0 = 1 < t_1 < ... < t_M >= tokens, t_i = rho^i, M >= 2: where log's pieces meet."""
    rho = RHO if rho is None else rho
    count = max(2, math.ceil(math.log(tokens) / math.log(rho) - 1e-9))  # two halves of log
    return rho ** np.arange(count + 1, dtype=np.float64)


def grids(x_step: float):
    """Steps of z = x - max and of y. z's divides x's, so the first SUB is exact.
    y's is Y / 255, in general not commensurate with z's: then rounding y = z - log s
    errs differently at different z of a row instead of alike at all (see the module
    docstring)."""
    z_step = x_step / max(1, math.floor(255 * x_step / Y))
    return z_step, Y / 255.0


def rsqrt_codes(in_scale, in_zero, out_scale, out_zero) -> np.ndarray:
    """Output code of an int8 RSQRT for each input code -128..127 (inputs <= 0: 127)."""
    values = in_scale * (np.arange(-128, 128) - in_zero)
    real = 1.0 / np.sqrt(np.maximum(values, 1e-30))
    codes = np.where(values > 0, np.round(real / out_scale) + out_zero, 127)
    return np.clip(codes, -128, 127).astype(np.int64)


def _quant(scale, zero_point, axis=0):
    q = fb.QuantizationParametersT()
    q.scale = np.atleast_1d(np.asarray(scale, np.float32))
    q.zeroPoint = np.atleast_1d(np.asarray(zero_point, np.int64))
    q.quantizedDimension = axis
    return q


def _range(lo: float, hi: float):
    """int8 grid with lo at code -128 and hi at code 127."""
    scale = (hi - lo) / 255.0
    return _quant(scale, int(round(-128 - lo / scale)))


def _options(kind, **fields):
    options = getattr(fb, kind + "T")()
    for key, value in fields.items():
        setattr(options, key, value)
    return getattr(fb.BuiltinOptions, kind), options


_ELEMENTWISE = dict(fusedActivationFunction=_NONE, potScaleInt16=True)


class _Rewriter:
    """Builds the replacement ops into one model; shared constants are made once."""

    def __init__(self, graph: TFLiteGraph):
        self.graph = graph
        self.sub = graph.sub
        self.axes: Dict[int, int] = {}
        self.one: Optional[int] = None
        self.weights: Dict[tuple, tuple] = {}  # (kernel, bias) tensors of the 1x1 convs

    def int8(self, name, shape, quantization) -> int:
        return self.graph.tensor(name, shape, fb.TensorType.INT8, quantization)

    def conv1x1(self, name, source, target, codes, scales, bias, activation) -> List:
        """CONV_2D 1x1 over the last axis of `source` (int8 kernel `codes` [out, in] with
        per-output `scales`; int32 `bias` on the accumulator's scale); inputs of
        another rank than 4 go through RESHAPE to [1, 1, rows, channels] and back."""
        g = self.graph
        codes = np.asarray(codes, np.int8)
        channels = codes.shape[0]
        scales = np.atleast_1d(np.asarray(scales, np.float64))
        if np.all(scales == scales[0]):  # per-tensor: one scale, not one per channel
            scales = scales[:1]
        source_q = self.sub.tensors[source].quantization
        bias = np.asarray(bias, np.int32)
        key = (codes.tobytes(), codes.shape, scales.tobytes(), bias.tobytes(),
               float(source_q.scale[0]))
        if key not in self.weights:  # blocks with equal token counts share them
            kernel = g.constant(f"{name}/kernel", codes.reshape(channels, 1, 1, -1),
                                fb.TensorType.INT8, _quant(scales, np.zeros(len(scales))))
            accumulator = float(source_q.scale[0]) * scales
            self.weights[key] = (kernel, g.constant(f"{name}/bias", bias, fb.TensorType.INT32,
                                                    _quant(accumulator, np.zeros(len(scales)))))
        kernel, bias = self.weights[key]
        options = _options("Conv2DOptions", padding=fb.Padding.VALID, strideW=1, strideH=1,
                           dilationWFactor=1, dilationHFactor=1,
                           fusedActivationFunction=activation)
        shape = [int(d) for d in self.sub.tensors[source].shape]
        if len(shape) == 4:
            return [g.op("CONV_2D", 3, [source, kernel, bias], [target], *options)]
        rows = int(np.prod(shape[:-1]))
        flat_in = self.int8(f"{name}/in4d", [1, 1, rows, shape[-1]], source_q)
        flat_out = self.int8(f"{name}/out4d", [1, 1, rows, channels],
                             self.sub.tensors[target].quantization)
        return [self._reshape(source, flat_in, [1, 1, rows, shape[-1]]),
                g.op("CONV_2D", 3, [flat_in, kernel, bias], [flat_out], *options),
                self._reshape(flat_out, target, shape[:-1] + [channels])]

    def _reshape(self, source, target, shape):
        shape = np.asarray(shape, np.int32)
        new_shape = self.graph.constant(f"shape_{target}", shape, fb.TensorType.INT32)
        return self.graph.op("RESHAPE", 1, [source, new_shape], [target],
                             *_options("ReshapeOptions", newShape=shape))

    def softmax(self, op) -> List:
        """The ops computing one int8 SOFTMAX's output tensor from its input tensor."""
        g, sub = self.graph, self.sub
        x, p = int(op.inputs[0]), int(op.outputs[0])
        xq = sub.tensors[x].quantization
        shape = [int(d) for d in sub.tensors[x].shape]
        tokens, rank, row = shape[-1], len(shape), shape[:-1] + [1]
        name = (sub.tensors[x].name or b"softmax").decode(errors="replace")
        if rank not in self.axes:
            self.axes[rank] = g.constant(f"softmax_axis_{rank}", np.asarray([rank - 1], np.int32),
                                         fb.TensorType.INT32)
        if self.one is None:  # 1.0, exactly
            self.one = g.constant("softmax_one", np.asarray([127], np.int8), fb.TensorType.INT8,
                                  _quant(1.0 / 127.0, 0))
        t = breakpoints(tokens)
        ramps = len(t) - 1
        z_step, y_step = grids(float(xq.scale[0]))
        tensor = {
            "max": (row, _quant(xq.scale, xq.zeroPoint)),
            "shifted": (shape, _quant(z_step, 127)),
            "expm1": (shape, _range(-1.0, 0.0)),
            "ramps": (shape[:-1] + [ramps], _range(0.0, _RAMP)),
            "half_normalized": (shape, _quant(y_step, 127)),
            "normalized": (shape, _quant(y_step, 127)),
            "pm1": (shape, _range(-1.0, 0.0)),
        }
        tensor = {k: self.int8(f"{name}/{k}", *v) for k, v in tensor.items()}
        # p = ELU(y) + 1 on ELU's own 1/255 step (see the module docstring)
        sub.tensors[p].quantization = _range(0.0, 1.0)

        ops = [g.op("REDUCE_MAX", 2, [x, self.axes[rank]], [tensor["max"]],
                    *_options("ReducerOptions", keepDims=True)),
               g.op("SUB", 2, [x, tensor["max"]], [tensor["shifted"]],
                    *_options("SubOptions", **_ELEMENTWISE)),
               g.op("ELU", 1, [tensor["shifted"]], [tensor["expm1"]])]
        # ramp_i = RELU6(g_i (sum_j e_j + T - t_i)): kernel g_i (code 127), e on 1/255
        gains = _RAMP / np.diff(t)
        e_step = 1.0 / 255.0
        ops += self.conv1x1(f"{name}/ramps", tensor["expm1"], tensor["ramps"],
                            np.full((ramps, tokens), 127), gains / 127.0,
                            np.round((tokens - t[:-1]) * 127.0 / e_step), _RELU6)
        # log s = sum_i ramp_i log(RHO)/6, in two halves; the chord bias centres the error
        weight = math.log(RHO) / _RAMP
        accumulator = (_RAMP / 255.0) * weight / 127.0
        chord = round(math.log(RHO) ** 2 / 16.0 / accumulator)
        split = ramps // 2
        halves = []
        for k, (lo, hi) in enumerate(((0, split), (split, ramps))):
            codes = np.zeros((1, ramps))
            codes[0, lo:hi] = 127
            half = self.int8(f"{name}/log_sum_{k}", row,
                             _range(0.0, (hi - lo) * math.log(RHO)))
            ops += self.conv1x1(f"{name}/log_sum_{k}", tensor["ramps"], half, codes,
                                weight / 127.0, [chord if k == 0 else 0], _NONE)
            halves.append(half)
        ops += [g.op("SUB", 2, [tensor["shifted"], halves[0]], [tensor["half_normalized"]],
                     *_options("SubOptions", **_ELEMENTWISE)),
                g.op("SUB", 2, [tensor["half_normalized"], halves[1]], [tensor["normalized"]],
                     *_options("SubOptions", **_ELEMENTWISE)),
                g.op("ELU", 1, [tensor["normalized"]], [tensor["pm1"]]),
                g.op("ADD", 2, [tensor["pm1"], self.one], [p],
                     *_options("AddOptions", **_ELEMENTWISE))]
        return ops

    def rsqrt(self, op) -> List:
        """The ops computing one int8 RSQRT's output tensor: a table of steps."""
        sub = self.sub
        v, u = int(op.inputs[0]), int(op.outputs[0])
        vq, uq = sub.tensors[v].quantization, sub.tensors[u].quantization
        s_v, z_v = float(vq.scale[0]), int(vq.zeroPoint[0])
        s_u, z_u = float(uq.scale[0]), int(uq.zeroPoint[0])
        codes = rsqrt_codes(s_v, z_v, s_u, z_u)
        edges = np.repeat(np.arange(-128, 127), -np.diff(codes))  # a channel per unit drop
        counted = 127 if len(edges) else 0  # an empty table: the constant code alone
        edges = edges if len(edges) else np.asarray([-128])
        shape = [int(d) for d in sub.tensors[v].shape]
        name = (sub.tensors[v].name or b"rsqrt").decode(errors="replace")
        steps = self.int8(f"{name}/steps", shape[:-1] + [len(edges)], _range(0.0, _RAMP))
        gain = 2 * _RAMP / s_v  # RELU6 saturates half a code away from tau
        # channel = RELU6(gain (tau - v)), tau = s_v (edge + 0.5 - z_v): kernel -gain
        ops = self.conv1x1(f"{name}/steps", v, steps, np.full((len(edges), 1), -127),
                           gain / 127.0, np.round(127.0 * (edges + 0.5 - z_v)), _RELU6)
        # u = s_u (codes[-1] - z_u) + s_u * (number of channels at 6)
        weight = s_u / _RAMP / 127.0
        accumulator = (_RAMP / 255.0) * weight
        ops += self.conv1x1(f"{name}/count", steps, u, np.full((1, len(edges)), counted),
                            weight, [round(s_u * (codes[-1] - z_u) / accumulator)], _NONE)
        return ops


def integer_kernels(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """The model with each int8 SOFTMAX (last axis, beta 1) and one-channel RSQRT
    rewritten into int8 ops that XNNPACK runs."""
    made = {}  # one _Rewriter for the model: shared constants are made once

    def integer(model, graph, op):
        sub = graph.sub
        name = op_name(model, op)
        source = sub.tensors[int(op.inputs[0])]
        if name not in ("SOFTMAX", "RSQRT") or not (
                source.type == fb.TensorType.INT8
                and sub.tensors[int(op.outputs[0])].type == fb.TensorType.INT8):
            return None
        if "rewriter" not in made:
            made["rewriter"] = _Rewriter(graph)
        rewriter = made["rewriter"]
        if name == "SOFTMAX" and abs(getattr(op.builtinOptions, "beta", 1.0) - 1.0) < 1e-6:
            return rewriter.softmax(op)
        if name == "RSQRT" and int(source.shape[-1]) == 1:
            return rewriter.rsqrt(op)
        return None

    return replace_ops(model_bytes, integer, "integer_kernels", notes)
