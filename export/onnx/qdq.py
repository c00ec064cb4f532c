"""INT8 ONNX: calibration through ONNX Runtime's calibrators and QDQ quantization."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..target import ExportError, ExportJob
from .canonical import canonicalize
from .convert import INPUT

CALIBRATION = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
ENTROPY_BINS = 512      # ORT's default (128) equals its 128 quantized bins: entropy == min/max
PERCENTILE = 99.99      # as tinymoat.quantization.ptq (ORT's default is 99.999)
GEMM_OPS = {"Conv", "Gemm", "MatMul"}
# --onnx-activations: ONNX Runtime's x86 integer kernels multiply unsigned 8-bit
# activations by signed 8-bit weights (U8S8); int8 activations (S8S8) suit ARM.
ACTIVATION_TYPES = ("uint8", "int8")


def _op_types() -> List[str]:
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    return sorted(set(QDQRegistry) | set(QLinearOpsRegistry))  # quantize_static's default


class _Images:
    """CalibrationDataReader over normalised images, one [1, H, W, 3] feed at a time."""

    def __init__(self, images: np.ndarray):
        self._images = iter(images)

    def get_next(self):
        image = next(self._images, None)
        return None if image is None else {INPUT: image[None].astype(np.float32)}


def _degenerate(ranges) -> set:
    """Tensors whose values span too few float32 steps for a 2048-bin |x| histogram.

    ORT's percentile calibrator histograms |x| between its min and max in the
    tensor's dtype; numpy cannot cut 2048 finite bins out of a range of a few
    ulps (e.g. a LayerNorm variance that barely varies) and raises.
    """
    out = set()
    for name, data in ranges.items():
        low = float(np.min(data.range_value[0]))
        high = float(np.max(data.range_value[1]))
        steps = 4096 * np.finfo(np.float32).eps * max(abs(low), abs(high))
        if low * high > 0 and high - low < steps:  # a range that spans 0 is never this narrow
            out.add(name)
    return out


def _gemm_inputs(model_path: str) -> set:
    """Tensors read only by Conv, Gemm or MatMul (where clipping outliers pays off)."""
    import onnx
    readers = collections.defaultdict(set)
    for node in onnx.load(model_path, load_external_data=False).graph.node:
        for name in node.input:
            readers[name].add(node.op_type)
    return {name for name, ops in readers.items() if ops <= GEMM_OPS}


def _softmax_outputs(model_path: str) -> set:
    """Outputs of Softmax nodes: their range is [0, 1] whatever the images."""
    import onnx
    graph = onnx.load(model_path, load_external_data=False).graph
    return {node.output[0] for node in graph.node if node.op_type == "Softmax"}


def _one_thread_session(path):
    """An ORT session that computes every value on one thread, denormals flushed.

    ORT's calibrators use its defaults: a thread pool sized by the machine and
    the calling thread's denormal mode. Ranges, and so the INT8 file's bytes,
    should depend on the model and the images only, not on the core count.
    """
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def calibrate(model_path: str, job: ExportJob, folder: str):
    """Activation ranges (TensorsData) with the job's statistic, using ORT's calibrators.

    Departures from `quantize_static`'s own calibration, each found on tiny-moat-0:
    * entropy uses ENTROPY_BINS bins (with ORT's default of 128 bins it can
      only pick the full range, i.e. min/max), and only for inputs of Conv,
      Gemm and MatMul; applied to every tensor its KL thresholds clip
      LayerNorm's x - mean to a small part of its range and change the
      top-1 class, while min/max elsewhere keeps it;
    * percentile is PERCENTILE, and tensors whose values span too few float32
      steps for ORT's histogram keep min/max instead of failing the export;
    * inference runs on one thread (`_one_thread_session`);
    * a Softmax output (attention weights, read by QLinearMatMul) gets its
      whole range [0, 1], as TFLite's int8 softmax: calibrated on a few
      images its maximum is one that other images' sharper attention
      exceeds, and clipping those peaks costs most of the model's agreement
      with the float model.
    """
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, create_calibrator
    statistic = job.calibration_statistic
    if statistic not in CALIBRATION:
        raise ExportError(f"onnx: unknown calibration statistic {statistic!r}; "
                          f"choose one of {', '.join(CALIBRATION)}")
    images = job.normalized(job.calibration)
    if len(images) == 0:
        raise ExportError("onnx: int8 needs at least one calibration image")

    def run(method, extra=None, skip=()):
        calibrator = create_calibrator(
            Path(model_path), _op_types(),
            augmented_model_path=os.path.join(folder, f"augmented_{method.name}.onnx"),
            calibrate_method=method, extra_options=extra or {})
        if skip:  # the set the histogram calibrators collect over (no public switch)
            calibrator.tensors_to_calibrate = set(calibrator.tensors_to_calibrate) - set(skip)
        calibrator.infer_session = _one_thread_session(calibrator.augmented_model_path)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            calibrator.collect_data(_Images(images))  # histogram calibrators print progress
            return calibrator.compute_data()

    minmax = run(CalibrationMethod.MinMax)
    ranges = {name: data.range_value for name, data in minmax.items()}
    method = getattr(CalibrationMethod, CALIBRATION[statistic])
    if method == CalibrationMethod.Percentile:
        found = run(method, {"percentile": PERCENTILE}, skip=_degenerate(minmax))
        ranges.update({name: data.range_value for name, data in found.items()})
    elif method == CalibrationMethod.Entropy:
        skip = set(ranges) - _gemm_inputs(model_path)
        found = run(method, {"num_bins": ENTROPY_BINS}, skip=skip)
        ranges.update({name: data.range_value for name, data in found.items()})
    ranges.update({name: (0.0, 1.0) for name in _softmax_outputs(model_path) if name in ranges})
    return TensorsData(method, {
        name: TensorData(lowest=np.asarray(low, np.float32).reshape(()),
                         highest=np.asarray(high, np.float32).reshape(()))
        for name, (low, high) in sorted(ranges.items())})


@contextlib.contextmanager
def _root_log_level(level):
    """ONNX Runtime's quantizer logs advice through the root logger."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(max(level, previous))
    try:
        yield
    finally:
        root.setLevel(previous)


def integer_nodes(model) -> List[str]:
    """Names of the nodes to quantize: those ONNX Runtime runs faster in integer kernels.

    Conv and MatMul (QLinearConv, QLinearMatMul), and the Sigmoid of GELU's
    sigmoid form and of squeeze-and-excitation with the Muls around it
    (QLinearSigmoid, QLinearMul: table lookups instead of float math). The
    rest stays float between DequantizeLinear and QuantizeLinear: LayerNorm,
    softmax, the relative bias and residual additions (QLinearAdd on every
    addition made tiny-moat-0 slower, and quantizing every op type as
    quantize_static does by default left float Convs that ORT does not fuse).
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    readers = collections.defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            readers[name].append(node)
    names = [node.name for node in model.graph.node if node.op_type in ("Conv", "MatMul")]
    for sigmoid in (n for n in model.graph.node if n.op_type == "Sigmoid"):
        scale = producer.get(sigmoid.input[0])
        names += [sigmoid.name] + ([scale.name] if scale is not None and scale.op_type == "Mul"
                                   else [])
        names += [n.name for n in readers[sigmoid.output[0]] if n.op_type == "Mul"]
    return names


def quantize(model, job: ExportJob, notes: Dict):
    """QDQ INT8 of `integer_nodes`: per-channel symmetric int8 weights, activations of
    job.onnx_activations type."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    if job.onnx_activations not in ACTIVATION_TYPES:
        raise ExportError(f"onnx: activation type {job.onnx_activations!r} is not one of "
                          f"{', '.join(ACTIVATION_TYPES)}")
    activations = QuantType.QUInt8 if job.onnx_activations == "uint8" else QuantType.QInt8
    from onnxruntime.quantization.calibrate import save_tensors_data
    with tempfile.TemporaryDirectory(prefix="tinymoat-onnx-") as folder:
        source = os.path.join(folder, "float.onnx")
        onnx.save(model, source)
        ranges = calibrate(source, job, folder)
        cache = os.path.join(folder, "ranges.json")
        save_tensors_data(ranges, cache)
        target = os.path.join(folder, "int8.onnx")
        with _root_log_level(logging.ERROR):  # "consider pre-processing": it changes nothing here
            quantize_static(source, target, calibration_data_reader=None,
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=_op_types(),
                            nodes_to_quantize=integer_nodes(model),
                            per_channel=True, activation_type=activations,
                            weight_type=QuantType.QInt8,
                            calibrate_method=ranges.calibration_method,
                            calibration_cache_path=cache,
                            # ORT's default axis 1 does not exist for BatchNormalization's
                            # 1-D scale; it would fall back to one scale for all channels.
                            extra_options={"QDQOpTypePerChannelSupportToAxis":
                                           {"BatchNormalization": 0}})
        quantized = onnx.load(target)
    canonicalize(quantized)
    notes["calibration"] = (f"{job.calibration_statistic} over {len(job.calibration)} images "
                            f"({len(ranges.data)} tensors)")
    notes["activations"] = f"{job.onnx_activations} ({'U8S8' if job.onnx_activations == 'uint8' else 'S8S8'})"
    return quantized
