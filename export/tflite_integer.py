"""The int8 SOFTMAX rewritten into int8 ops that XNNPACK runs: the default INT8 graph.

LiteRT 2.3's XNNPACK has no int8 SOFTMAX, so TFLite runs its builtin int8
kernel: single-threaded, and slow (one [4, 196, 196] softmax, 1 thread:
0.29 ms, against 0.11 ms for the rewrite below, which also uses the second
thread). It also splits the delegated graph at every attention block.

`integer_softmax` replaces each int8 SOFTMAX (beta 1, last axis) by the
log-domain form exp(x - max - log(sum exp(x - max))), with every step an
int8 op XNNPACK takes:

    m      = REDUCE_MAX(x)                    on x's grid, exact
    z      = SUB(x, m)                        [-Y, 0]
    e      = ELU(z)                           = exp(z) - 1, [-1, 0]
    ramps  = CONV_2D 1x1 (e), RELU6           see below, [0, 6]
    L      = CONV_2D 1x1 (ramps)              ~ log(sum exp(z)), [0, log T']
    y      = SUB(z, L)                        [-Y, 0]
    p      = ADD(ELU(y), 1)                   = exp(y), on the SOFTMAX's output grid

The sum s = sum_j exp(z_j) = sum_j e_j + T lies in [1, T] and no int8 tensor
holds it to the precision its logarithm needs, so it never is one: the first
1x1 convolution (the keys are its input channels) accumulates it in int32
and emits ramp_i = RELU6(g_i (s - t_i)) for geometric breakpoints t_i = rho^i,
each ramp resolving its own interval [t_i, t_i+1] to 1/255 of its width.
The second sums ramps with the equal weights log(rho)/6, which is the
piecewise-linear interpolation of log s through the breakpoints (error below
(log rho)^2/8, centred by the bias). All kernels quantize exactly: every
output channel of the first is one repeated value (per-channel scale, code
127), the second is one value.

Below -Y (Y = 6.375 > log 512) exp is under half a step of the output grid,
so z and y saturate there with no effect on the result. Measured against the
float softmax on tiny_moat0_224 attention logits (SQNR of probabilities @
values): about the same as the builtin int8 kernel (30.4 vs 30.1 dB in one
stage-3 block); with sharper logits (x4 .. x16) within a few dB either way,
every figure above 27 dB. The SOFTMAX's input and output quantization are
kept, so PTQ and QAT graphs get the same rewrite.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np

from .tflite_graph import TFLiteGraph, op_name
from .tflite_metadata.tflite_model import fb, load, serialize

RHO = 1.2           # ratio of successive breakpoints of log s
Y = 6.375           # exp(-Y) < 1/512: the clamp of z and y (step Y/255 = 0.025)
_RELU6, _NONE = fb.ActivationFunctionType.RELU6, fb.ActivationFunctionType.NONE


def breakpoints(tokens: int, rho: Optional[float] = None) -> np.ndarray:
    """t_0 = 1 < t_1 < ... < t_M >= tokens, t_i = rho^i: where log's pieces meet."""
    rho = RHO if rho is None else rho
    count = max(1, math.ceil(math.log(tokens) / math.log(rho) - 1e-9))
    return rho ** np.arange(count + 1, dtype=np.float64)


def grids(x_step: float):
    """Steps of z = x - max and of y: z's divides x's, so the first SUB is exact."""
    z_step = x_step / max(1, math.floor(255 * x_step / Y))
    y_step = z_step * math.ceil(Y / (255 * z_step) - 1e-9)
    return z_step, y_step


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


class _Rewriter:
    def __init__(self, model):
        self.model = model
        self.graph = TFLiteGraph(model)
        self.sub = self.graph.sub
        self.axes = {}
        self.one = None

    def int8(self, name, shape, quantization):
        return self.graph.tensor(name, shape, fb.TensorType.INT8, quantization)

    def softmax(self, op):
        """The ops replacing one int8 SOFTMAX (same input and output tensors)."""
        g, sub = self.graph, self.sub
        x, p = int(op.inputs[0]), int(op.outputs[0])
        xt = sub.tensors[x]
        shape = [int(d) for d in xt.shape]
        tokens, rank = shape[-1], len(shape)
        name = (xt.name or b"softmax").decode(errors="replace")
        if rank not in self.axes:
            self.axes[rank] = g.constant(f"softmax_axis_{rank}", np.asarray([rank - 1], np.int32),
                                         fb.TensorType.INT32)
        row = shape[:-1] + [1]
        t = breakpoints(tokens)
        ramps = len(t) - 1
        gains = 6.0 / np.diff(t)
        e_scale = 1.0 / 255.0
        # first 1x1 conv: ramp_i = RELU6(g_i * (sum_j e_j + T - t_i)); weights all code 127
        kernel1 = g.constant(f"{name}/ramp_kernel", np.full((ramps, 1, 1, tokens), 127, np.int8),
                             fb.TensorType.INT8, _quant(gains / 127.0, np.zeros(ramps)))
        bias1 = np.round((tokens - t[:-1]) * 127.0 / e_scale).astype(np.int32)
        bias1 = g.constant(f"{name}/ramp_bias", bias1, fb.TensorType.INT32,
                           _quant(e_scale * gains / 127.0, np.zeros(ramps)))
        # 1x1 convs over the ramps: log s = L_low + L_high, L_low = min(log s, log t_k)
        ramp_scale, step = 6.0 / 255.0, math.log(RHO) / 6.0
        acc_scale = ramp_scale * step / 127.0
        split = ramps // 2
        logs = (split * math.log(RHO), (ramps - split) * math.log(RHO))
        chord = round(math.log(RHO) ** 2 / 16.0 / acc_scale)  # centres the chords' error
        pieces = []
        for k, (lo, hi) in enumerate(((0, split), (split, ramps))):
            codes = np.zeros(ramps, np.int8)
            codes[lo:hi] = 127
            kernel = g.constant(f"{name}/log_kernel_{k}", codes.reshape(1, 1, 1, ramps),
                                fb.TensorType.INT8, _quant(step / 127.0, 0))
            bias = g.constant(f"{name}/log_bias_{k}", np.asarray([chord if k == 0 else 0], np.int32),
                              fb.TensorType.INT32, _quant(acc_scale, 0))
            pieces.append((kernel, bias, self.int8(f"{name}/log_sum_{k}", row, _range(0.0, logs[k]))))

        z_step, y_step = grids(float(xt.quantization.scale[0]))
        m = self.int8(f"{name}/max", row, _quant(xt.quantization.scale, xt.quantization.zeroPoint))
        z = self.int8(f"{name}/shifted", shape, _quant(z_step, 127))
        e = self.int8(f"{name}/expm1", shape, _range(-1.0, 0.0))
        r = self.int8(f"{name}/ramps", shape[:-1] + [ramps], _range(0.0, 6.0))
        w = self.int8(f"{name}/half_normalized", shape, _quant(y_step, 127))
        y = self.int8(f"{name}/normalized", shape, _quant(y_step, 127))
        p1 = self.int8(f"{name}/pm1", shape, _range(-1.0, 0.0))
        if self.one is None:  # 1.0 exactly
            self.one = g.constant("softmax_one", np.asarray([127], np.int8), fb.TensorType.INT8,
                                  _quant(1.0 / 127.0, 0))
        sub_opts = dict(fusedActivationFunction=_NONE, potScaleInt16=True)
        conv = dict(padding=fb.Padding.VALID, strideW=1, strideH=1, dilationWFactor=1,
                    dilationHFactor=1)
        # p = exp(y) = ELU(y) + 1 on ELU's own step: on SOFTMAX's 1/256 the ADD would round
        # every k/255 down to k/256 (0.4 % of each row's mass lost)
        sub.tensors[p].quantization = _range(0.0, 1.0)
        ops = [g.op("REDUCE_MAX", 2, [x, self.axes[rank]], [m],
                    *_options("ReducerOptions", keepDims=True)),
               g.op("SUB", 2, [x, m], [z], *_options("SubOptions", **sub_opts)),
               g.op("ELU", 1, [z], [e])]
        ops += self._conv4d(e, shape, [kernel1, bias1], r, ramps,
                            _options("Conv2DOptions", fusedActivationFunction=_RELU6, **conv))
        for kernel, bias, target in pieces:
            ops += self._conv4d(r, shape[:-1] + [ramps], [kernel, bias], target, 1,
                                _options("Conv2DOptions", fusedActivationFunction=_NONE, **conv))
        ops += [g.op("SUB", 2, [z, pieces[0][2]], [w], *_options("SubOptions", **sub_opts)),
                g.op("SUB", 2, [w, pieces[1][2]], [y], *_options("SubOptions", **sub_opts)),
                g.op("ELU", 1, [y], [p1]),
                g.op("ADD", 2, [p1, self.one], [p], *_options("AddOptions", **sub_opts))]
        return ops

    def _conv4d(self, source, shape, weights, target, channels, options):
        """CONV_2D 1x1 over the last axis; inputs of another rank are reshaped to 4-D."""
        g = self.graph
        if len(shape) == 4:
            return [g.op("CONV_2D", 3, [source] + weights, [target], *options)]
        rows = int(np.prod(shape[:-1]))
        source_q = self.sub.tensors[source].quantization
        target_q = self.sub.tensors[target].quantization
        flat_in = self.int8(f"{source}/4d", [1, 1, rows, shape[-1]], source_q)
        flat_out = self.int8(f"{target}/4d", [1, 1, rows, channels], target_q)
        ops = []
        for src, dst, new in ((source, flat_in, [1, 1, rows, shape[-1]]),
                              (flat_out, target, shape[:-1] + [channels])):
            new_shape = g.constant(f"shape_{dst}", np.asarray(new, np.int32),
                                   fb.TensorType.INT32)
            ops.append(g.op("RESHAPE", 1, [src, new_shape], [dst],
                            *_options("ReshapeOptions", newShape=np.asarray(new, np.int32))))
        return [ops[0], g.op("CONV_2D", 3, [flat_in] + weights, [flat_out], *options), ops[1]]


def rsqrt_codes(in_scale, in_zero, out_scale, out_zero) -> np.ndarray:
    """Output code of an int8 RSQRT for each input code -128..127 (non-positive inputs: 127)."""
    values = in_scale * (np.arange(-128, 128) - in_zero)
    with np.errstate(divide="ignore", invalid="ignore"):
        real = np.where(values > 0, 1.0 / np.sqrt(np.maximum(values, 1e-30)), np.inf)
        codes = np.round(real / out_scale) + out_zero
    return np.clip(np.nan_to_num(codes, posinf=127), -128, 127).astype(np.int64)


def _rsqrt(rewriter: "_Rewriter", op):
    """One int8 RSQRT as a lookup table of steps: CONV_2D 1x1 (RELU6) then CONV_2D 1x1.

    RSQRT's int8 output is a non-increasing function of the input code. Each
    unit drop of it between input codes a and a+1 is one channel of the first
    convolution, RELU6(g (tau - v)) with tau halfway between the two codes and
    g so steep that the channel is exactly 0 or 6 at every code; the second
    sums the channels with equal weights (one output step each) on top of the
    code at the largest input. Every input code gives exactly the code the
    builtin kernel gives; the tensors are per-token ([.., 1]), so this is cheap.
    """
    g, sub = rewriter.graph, rewriter.sub
    v, u = int(op.inputs[0]), int(op.outputs[0])
    vq, uq = sub.tensors[v].quantization, sub.tensors[u].quantization
    s_v, z_v = float(vq.scale[0]), int(vq.zeroPoint[0])
    s_u, z_u = float(uq.scale[0]), int(uq.zeroPoint[0])
    codes = rsqrt_codes(s_v, z_v, s_u, z_u)
    drops = -np.diff(codes)  # >= 0: the output drops by this much from code a to a+1
    edges = np.repeat(np.arange(-128, 127), drops)  # one channel per unit of drop
    channels = len(edges)
    shape = [int(d) for d in sub.tensors[v].shape]
    name = (sub.tensors[v].name or b"rsqrt").decode(errors="replace")
    if channels == 0:  # a constant output: the second conv's bias alone
        edges = np.asarray([-128])
        channels, drops_all = 1, 0
    else:
        drops_all = 1
    gain = 12.0 / s_v  # 6 half a code away from tau
    kernel1 = g.constant(f"{name}/step_kernel", np.full((channels, 1, 1, 1), -127, np.int8),
                         fb.TensorType.INT8, _quant(gain / 127.0, 0))
    bias1 = np.round(127.0 * (edges + 0.5 - z_v)).astype(np.int32)  # g tau / (s_v g / 127)
    bias1 = g.constant(f"{name}/step_bias", bias1, fb.TensorType.INT32,
                       _quant(s_v * gain / 127.0, 0))
    w_scale = s_u / 6.0 / 127.0
    kernel2 = g.constant(f"{name}/sum_kernel", np.full((1, 1, 1, channels), 127 * drops_all,
                                                       np.int8),
                         fb.TensorType.INT8, _quant(w_scale, 0))
    acc_scale = (6.0 / 255.0) * w_scale
    bias2 = np.asarray([round(s_u * (codes[-1] - z_u) / acc_scale)], np.int64)
    bias2 = g.constant(f"{name}/sum_bias", bias2.astype(np.int32), fb.TensorType.INT32,
                       _quant(acc_scale, 0))
    steps = rewriter.int8(f"{name}/steps", shape[:-1] + [channels], _range(0.0, 6.0))
    conv = dict(padding=fb.Padding.VALID, strideW=1, strideH=1, dilationWFactor=1,
                dilationHFactor=1)
    ops = rewriter._conv4d(v, shape, [kernel1, bias1], steps, channels,
                           _options("Conv2DOptions", fusedActivationFunction=_RELU6, **conv))
    ops += rewriter._conv4d(steps, shape[:-1] + [channels], [kernel2, bias2], u, shape[-1],
                            _options("Conv2DOptions", fusedActivationFunction=_NONE, **conv))
    return ops


def integer_kernels(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """The model with every int8 SOFTMAX (last axis, beta 1) and RSQRT (one channel)
    rewritten into int8 ops that XNNPACK runs."""
    model = load(model_bytes)
    rewriter = _Rewriter(model)
    sub = rewriter.sub
    rewritten, count = [], {}
    for op in sub.operators:
        name = op_name(model, op)
        ints = (sub.tensors[int(op.inputs[0])].type == fb.TensorType.INT8
                and sub.tensors[int(op.outputs[0])].type == fb.TensorType.INT8)
        if (name == "SOFTMAX" and ints
                and abs(getattr(op.builtinOptions, "beta", 1.0) - 1.0) < 1e-6):
            rewritten += rewriter.softmax(op)
        elif name == "RSQRT" and ints and int(sub.tensors[int(op.inputs[0])].shape[-1]) == 1:
            rewritten += _rsqrt(rewriter, op)
        else:
            rewritten.append(op)
            continue
        count[name] = count.get(name, 0) + 1
    if not count:
        return model_bytes
    sub.operators = rewritten
    if notes is not None:
        notes["integer_kernels"] = count
    return serialize(model)
