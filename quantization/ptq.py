"""Post-training full-integer quantization of MOAT models (the baseline QAT must beat).

`ptq_convert` quantizes from calibration images only. Both calibration
families start from the same float deploy graph (deploy.py), so PTQ and QAT
models have the same ops; they differ only in where the ranges come from.

calibration="minmax"
    Each range is the tensor's min and max over all calibration images (what
    TFLite's own calibrator would use). Outliers set the range, so wide
    tensors (attention logits, LayerNorm intermediates) get coarse steps.
calibration="percentile"
    Each activation range is [P(100 - p), P(p)] of the tensor's values over
    all calibration images (p = `percentile`, default 99.99), from a
    2048-bin histogram: the rare extremes are clipped so that the bulk of the
    values gets finer steps.
calibration="mse"
    Each range is chosen (grid search, each end shrunk independently) to
    minimise the mean squared error between the tensor's values and their
    8-bit fake-quantized version, over the same histogram.
calibration="entropy"
    Each range is chosen (both ends shrunk by the same factor) to minimise
    the KL divergence between the histogram and its 256-level quantized
    version, outliers folded into the end bins (TensorRT's entropy
    calibration, for asymmetric ranges).

For every statistic the ranges are computed here: the QAT graph
(qat.quantize_model) is run eagerly with its ActivationQuantizers observing
float values (quantizers.observe), the chosen statistic is written into their
range variables, and the QAT graph is converted without a representative
dataset. PTQ and QAT therefore share one conversion path and one graph, and
the constraints the QAT graph encodes hold for PTQ too: the attention keys
and values are quantized symmetrically (zero point 0), which XNNPACK needs
to run the int8 BATCH_MATMULs (TFLite's calibrator cannot be told that).
Only a graph with a layer that has no int8 rule (configs.py), which cannot
be wrapped for QAT, is calibrated by TFLite's own calibrator ("minmax" only;
`mixed=True` then leaves the unsupported ops float). Ranges TFLite fixes
(LOGISTIC, SOFTMAX) or derives (AVERAGE_POOL_2D, RESHAPE, TRANSPOSE, int32
biases) and weight ranges (max |w| per channel) are the same for every
calibration.
"""

from __future__ import annotations


import numpy as np

from tinymoat._keras import keras, tf

from .configs import UnsupportedLayerError, quantize_config_for
from .converter import keras_converter
from .deploy import deploy_model, is_deploy_graph
from .qat import link_shared_ranges, qat_converter, quantize_model
from .quantizers import RangeObserver, observe
from .forms import CALIBRATIONS
from .tflite.ops import float_op_details, format_ops

_BINS = 2048


class NotFullyIntegerError(RuntimeError):
    """The converted graph still has float ops and float fallback was not allowed."""


def ptq_convert(model: keras.Model, representative_images, *, input_type=tf.int8,
                output_type=tf.int8, calibration: str = "minmax", mixed: bool = False,
                percentile: float = 99.99, batch_size: int = 8, gelu: str = "sigmoid") -> bytes:
    """Full-integer TFLite flatbuffer of `model` from calibration images.

    Args:
      model: a MOAT model (or its deploy graph); it is not modified.
      representative_images: [N, H, W, 3] float32, preprocessed like the
        model's inputs (tinymoat.preprocess). A few dozen to a few hundred.
      input_type, output_type: tf.int8, tf.uint8 or tf.float32 (float I/O
        puts one QUANTIZE/DEQUANTIZE at the edges).
      calibration: "minmax", "percentile", "mse" or "entropy" (module docstring).
      mixed: allow ops without an int8 kernel to stay float
        (TFLITE_BUILTINS_INT8 + TFLITE_BUILTINS). With False, a graph that
        is not fully integer raises NotFullyIntegerError naming the ops.
      percentile: upper percentile for calibration="percentile".
      batch_size: images per forward pass while collecting statistics.
      gelu: the deploy graph's GELU (deploy_model): "sigmoid" (MUL, LOGISTIC,
        MUL, which XNNPACK runs in int8), "tanh" (TanhGelu: closer to erf GELU,
        two more int8 ops, also XNNPACK's) or "erf" (TFLite's int8 GELU, exact
        up to its table; the --mixed export computes it in float). Ignored
        when `model` already is a deploy graph.
    """
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
    images = np.asarray(representative_images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError("representative_images must be a non-empty [N, H, W, C] array")
    float_model = model if is_deploy_graph(model, gelu) else deploy_model(model, gelu=gelu)

    if calibration == "minmax" and not _quantizable(float_model):
        converter = keras_converter(float_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(len(images)))
        # Float fallback is always allowed here and refused below, so that a
        # graph that is not fully integer is reported op by op rather than as
        # the converter's first error.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
    else:
        qat = quantize_model(float_model, gelu=gelu)
        calibrate_ranges(qat, images, calibration, percentile=percentile,
                         batch_size=batch_size)
        converter = qat_converter(qat, input_type=input_type, output_type=output_type)
    tflite = converter.convert()
    if not mixed:
        leftover = float_op_details(tflite)
        if leftover:
            raise NotFullyIntegerError(
                f"{len(leftover)} ops are not integer:\n{format_ops(leftover)}")
    return tflite


def _quantizable(float_model: keras.Model) -> bool:
    """True if every layer of the deploy graph has an int8 rule (can be QAT-wrapped)."""
    try:
        for layer in float_model.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                quantize_config_for(layer)
    except UnsupportedLayerError:
        return False
    return True


# --- statistics ------------------------------------------------------------------


class _MinMax(RangeObserver):
    def update(self, key, state, values):
        lo, hi = float(values.min()), float(values.max())
        return (lo, hi) if state is None else (min(state[0], lo), max(state[1], hi))


class _Histogram(RangeObserver):
    """Second pass: a fixed-bin histogram over the first pass's [min, max] (0 included)."""

    def __init__(self, bounds):
        super().__init__()
        self.bounds = bounds

    def update(self, key, state, values):
        counts, _ = np.histogram(values, bins=_BINS, range=self.bounds[key])
        return counts if state is None else state + counts


def _run(qat_model, images, batch_size):
    for start in range(0, len(images), batch_size):
        qat_model(tf.constant(images[start:start + batch_size]), training=False)


def collect_histograms(qat_model: keras.Model, images, batch_size: int = 8):
    """{point key: (lo, hi, counts)} of every ActivationQuantizer's float input.

    Two eager passes: exact min/max, then a histogram over [min(lo, 0), max(hi, 0)].
    Returns the histograms and the observer (whose `assign` writes ranges).
    """
    first = _MinMax()
    with observe(first):
        _run(qat_model, images, batch_size)
    bounds = {}
    for key, (_, (lo, hi)) in first.points.items():
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi <= lo:
            hi = lo + 1e-6
        bounds[key] = (lo, hi)
    second = _Histogram(bounds)
    with observe(second):
        _run(qat_model, images, batch_size)
    return {k: (bounds[k][0], bounds[k][1], counts) for k, (_, counts) in second.points.items()}, \
        second


def percentile_range(lo, hi, counts, percentile=99.99):
    """[P(100 - p), P(p)] of a histogram over [lo, hi] (bin edges, conservatively outward)."""
    edges = np.linspace(lo, hi, len(counts) + 1)
    cdf = np.cumsum(counts) / max(counts.sum(), 1)
    tail = 1.0 - percentile / 100.0
    first = int(np.searchsorted(cdf, tail, side="left"))
    last = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    return min(edges[first], 0.0), max(edges[min(last + 1, len(counts))], 0.0)


def _fake_quant_np(values, lo, hi, levels=255):
    """numpy version of TF's fake_quant_with_min_max_vars (nudged zero point)."""
    scale = (hi - lo) / levels
    zero = np.clip(np.round(-lo / scale), 0, levels)
    lo_n, hi_n = -zero * scale, (levels - zero) * scale
    q = np.clip(values, lo_n[..., None], hi_n[..., None])
    return np.round((q - lo_n[..., None]) / scale[..., None]) * scale[..., None] + lo_n[..., None]


def mse_range(lo, hi, counts, steps: int = 24):
    """The [a, b] (0 inside, a in lo*(0..1], b in hi*(0..1]) minimising quantization MSE."""
    edges = np.linspace(lo, hi, len(counts) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    weights = counts.astype(np.float64)
    fractions = np.linspace(1.0, 1.0 / steps, steps)
    a = np.minimum(lo * fractions, 0.0)
    b = np.maximum(hi * fractions, 0.0)
    aa, bb = np.meshgrid(a, b, indexing="ij")
    aa, bb = aa.reshape(-1), bb.reshape(-1)
    keep = bb - aa > 1e-12
    aa, bb = aa[keep], bb[keep]
    errors = []
    for chunk in range(0, len(aa), 64):
        q = _fake_quant_np(centres[None, :], aa[chunk:chunk + 64], bb[chunk:chunk + 64])
        errors.append(((q - centres[None, :]) ** 2 * weights[None, :]).sum(axis=1))
    best = int(np.argmin(np.concatenate(errors)))
    return float(aa[best]), float(bb[best])


def entropy_range(lo, hi, counts, levels: int = 256, steps: int = 64):
    """The [a, b] = f * [lo, hi] (f in (0, 1]) minimising KL(P || Q).

    P: the histogram of the bins inside [a, b], with the mass outside added
    to the end bins. Q: the bins inside [a, b] alone merged into `levels`
    equal groups, each group's mass spread evenly over the bins where P is
    non-zero. Q lacks the clipped mass, so clipping is paid for.
    """
    counts = counts.astype(np.float64)
    if counts.sum() == 0:
        return lo, hi
    edges = np.linspace(lo, hi, len(counts) + 1)
    best, best_range = np.inf, (lo, hi)
    for f in np.linspace(1.0, 1.0 / steps, steps):
        first = int(np.clip(np.searchsorted(edges, lo * f, side="right") - 1, 0, len(counts) - 1))
        last = int(np.clip(np.searchsorted(edges, hi * f, side="left") - 1, first,
                           len(counts) - 1))
        inside = counts[first:last + 1]
        if len(inside) < levels:
            break
        p = inside.copy()
        p[0] += counts[:first].sum()
        p[-1] += counts[last + 1:].sum()
        starts = np.array([g[0] for g in np.array_split(np.arange(len(p)), levels)])
        lengths = np.diff(np.append(starts, len(p)))
        present = (p > 0).astype(np.float64)
        mass = np.add.reduceat(inside, starts)
        spread = np.maximum(np.add.reduceat(present, starts), 1.0)
        q = np.repeat(mass / spread, lengths) * present
        pn = p / p.sum()
        qn = np.maximum(q / max(q.sum(), 1e-12), 1e-12)
        mask = pn > 0
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / qn[mask])))
        if kl < best:
            best, best_range = kl, (min(edges[first], 0.0), max(edges[last + 1], 0.0))
    return best_range


def calibrate_ranges(qat_model: keras.Model, images, calibration: str = "percentile", *,
                     percentile: float = 99.99, batch_size: int = 8) -> keras.Model:
    """Sets every ActivationQuantizer range of a QAT model from float statistics.

    calibration: "minmax" (exact min/max over the images), "percentile",
    "mse" or "entropy" (module docstring). Needs eager execution (it calls the model
    directly). Returns the model, whose ranges are changed in place.
    """
    images = np.asarray(images, np.float32)
    link_shared_ranges(qat_model)
    if calibration == "minmax":
        observer = _MinMax()
        with observe(observer):
            _run(qat_model, images, batch_size)
        observer.assign({k: state for k, (_, state) in observer.points.items()})
        return qat_model
    histograms, observer = collect_histograms(qat_model, images, batch_size)
    if calibration == "percentile":
        ranges = {k: percentile_range(lo, hi, c, percentile)
                  for k, (lo, hi, c) in histograms.items()}
    elif calibration == "mse":
        ranges = {k: mse_range(lo, hi, c) for k, (lo, hi, c) in histograms.items()}
    elif calibration == "entropy":
        ranges = {k: entropy_range(lo, hi, c) for k, (lo, hi, c) in histograms.items()}
    else:
        raise ValueError(f"unknown calibration {calibration!r}")
    observer.assign(ranges)
    return qat_model
