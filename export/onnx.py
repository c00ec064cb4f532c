"""ONNX target: float32 from tf2onnx, INT8 as QDQ from ONNX Runtime's static quantizer.

Both convert the exact float deploy graph (`tinymoat.quantization.deploy_model`
with erf GELU, as the float TFLite file): BatchNorms folded, q/k/v/o as 1x1
convolutions. ORT's float32 tiny-moat-0 at 224 then took 0.91x the time of the
reference graph's (43.6 vs 48.0 ms, 1 thread, AVX2, side by side).

Both artifacts take normalised NHWC float32 input named "image" and return
"logits"; `metadata_props` carry the normalisation, labels and layout, so an app
(and `predict`) can prepare pixels from the file alone. Three post-passes run on
the converted graph:

* the dense relative-position-bias constants that tf2onnx folds per attention
  block are stored as their small tables plus one shared Gather index (exact,
  checked value by value; about a quarter of tiny-moat-0's file otherwise);
* INT8 calibration runs through ONNX Runtime's calibrators with three changes
  to their defaults (see `calibrate`), and the ranges reach `quantize_static`
  through its calibration cache;
* names and node order are made canonical and identity Reshapes dropped,
  because tf2onnx numbers generated names with a process-wide counter, orders
  some nodes by hash order and keeps or removes identity Reshapes by hash
  order too: the same inputs then give byte-identical files.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import heapq
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Dict, List

import numpy as np

from tinymoat import __version__
from tinymoat.preprocess import NORMALIZATION

from .relative_bias import factor, flat_index, worth_it
from .target import METADATA_PREFIX as PREFIX
from .target import ExportError, ExportJob, Target

# 18 converts and runs too (tf2onnx 1.17, ORT 1.31) and changes nothing for this model but
# GlobalAveragePool -> ReduceMean; 17 keeps older (mobile) runtimes able to load the file.
OPSET = 17
INPUT, OUTPUT = "image", "logits"
INPUT_LAYOUT = "NHWC, RGB, (x - mean) / std"
CALIBRATION = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
ENTROPY_BINS = 512      # ORT's default (128) equals its 128 quantized bins: entropy == min/max
PERCENTILE = 99.99      # as tinymoat.quantization.ptq (ORT's default is 99.999)
GEMM_OPS = {"Conv", "Gemm", "MatMul"}
INDEX_PREFIX = "relative_position_index_"


class OnnxTarget(Target):
    name = "onnx"
    suffix = ".onnx"
    precisions = {"float32": "float32", "int8": "int8"}
    description = (f"ONNX opset {OPSET} for ONNX Runtime; int8 is QDQ (per-channel int8 weights, "
                   "int8 activations) from static calibration")

    def check(self, job: ExportJob, precision: str) -> None:
        if precision == "int8" and job.calibration_statistic not in CALIBRATION:
            raise ExportError(f"onnx: calibration {job.calibration_statistic!r} is not one of "
                              f"ONNX Runtime's ({', '.join(CALIBRATION)})")

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        import onnx
        if precision not in self.precisions.values():
            raise ExportError(f"onnx: unknown precision {precision!r}; "
                              f"choose one of {', '.join(self.precisions)}")
        notes: Dict = {}
        model = float_model(job, notes)
        if precision == "int8":
            if job.qat_model is not None:
                notes["qat"] = "ONNX int8 uses post-training calibration, not the QAT ranges"
            model = quantize(model, job, notes)
        write_metadata(model, job, precision)
        onnx.checker.check_model(model)
        with open(path, "wb") as f:
            f.write(model.SerializeToString(deterministic=True))
        return notes

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        import onnxruntime as ort
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        mean = np.asarray(json.loads(meta[PREFIX + "mean"]), np.float32)
        std = np.asarray(json.loads(meta[PREFIX + "std"]), np.float32)
        feed = session.get_inputs()[0]
        pixels = np.asarray(pixels)
        if pixels.ndim != 4 or list(pixels.shape[1:]) != list(feed.shape[1:]):
            raise ValueError(f"expected pixels [N, {', '.join(map(str, feed.shape[1:]))}], "
                             f"got {list(pixels.shape)}")
        images = (pixels.astype(np.float32) - mean) / std
        return np.concatenate([session.run(None, {feed.name: images[i:i + 1]})[0]
                               for i in range(len(images))]).astype(np.float32)

    def describe(self, path: str) -> Dict:
        return describe_model(path)


# ---------------------------------------------------------------- conversion

def float_model(job: ExportJob, notes: Dict):
    """The tf2onnx graph of the exact float deploy graph (as the float TFLite's),
    with fixed I/O names, compact relative bias and canonical names."""
    import tf2onnx
    from tinymoat._keras import tf
    from tinymoat.quantization import deploy_model
    height, width = job.input_size
    spec = (tf.TensorSpec((1, height, width, 3), tf.float32, name=INPUT),)
    try:
        model, _ = tf2onnx.convert.from_keras(deploy_model(job.model, gelu="erf"),
                                              input_signature=spec, opset=OPSET)
    except Exception as exc:  # tf2onnx raises plain exceptions for unsupported ops
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportError(f"onnx: tf2onnx could not convert the model: {reason}") from exc
    if len(model.graph.output) != 1:
        raise ExportError(f"onnx: expected one output (logits), got {len(model.graph.output)}")
    _rename_value(model.graph, model.graph.output[0].name, OUTPUT)
    replaced, saved = compact_relative_bias(model)
    if replaced:
        notes["relative_bias"] = (f"{replaced} dense bias constants stored as tables "
                                  f"({saved / 1e6:.2f} MB saved)")
    canonicalize(model)
    return model


def _rename_value(graph, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


# ------------------------------------------------------- relative-bias tables

def compact_relative_bias(model):
    """Replaces dense float32 [..., S, S] constants that only feed Adds by Gather(table, index).

    Returns (constants replaced, bytes saved). Blocks with the same window share
    one int32 [S, S] index initializer.
    """
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    consumers = collections.defaultdict(set)
    for node in graph.node:
        for name in node.input:
            consumers[name].add(node.op_type)
    outputs = {o.name for o in graph.output}
    indices: Dict[tuple, str] = {}
    keep, new_inits, new_nodes = [], [], []
    replaced, saved = 0, 0
    for init in graph.initializer:
        dims = tuple(init.dims)
        found = None
        if (init.data_type == TensorProto.FLOAT and len(dims) >= 3 and dims[-1] == dims[-2] > 1
                and consumers.get(init.name) == {"Add"} and init.name not in outputs):
            values = numpy_helper.to_array(init)
            found = factor(values)
        if found is None or not worth_it(values, found[0]):
            keep.append(init)
            continue
        table, height, width = found
        table = table.reshape(table.shape[:-2] + (-1,))  # flat [..., (2H-1)(2W-1)]
        key = (height, width)
        if key not in indices:
            indices[key] = f"{INDEX_PREFIX}{height}x{width}"
            index = flat_index(height, width)
            new_inits.append(numpy_helper.from_array(index, indices[key]))
            saved -= index.nbytes
        new_inits.append(numpy_helper.from_array(table, init.name + "_table"))
        new_nodes.append(helper.make_node("Gather", [init.name + "_table", indices[key]],
                                          [init.name], name=init.name + "_gather",
                                          axis=table.ndim - 1))
        replaced += 1
        saved += values.nbytes - table.nbytes
    if replaced:
        del graph.initializer[:]
        graph.initializer.extend(keep + new_inits)
        nodes = new_nodes + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return replaced, saved


# ------------------------------------------------------------- canonical form

def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def canonicalize(model) -> None:
    """Names every value by what computes it and sorts nodes and initializers by name.

    tf2onnx's names are not a function of the model: generated names carry a
    process-wide counter, and when it merges duplicate nodes or constants
    (q, k and v reshape the same tensor; every GELU uses 0.5) which TensorFlow
    name survives depends on hash order. So an initializer is named by its
    bytes (`const_<hash>`) and a node output by its op type, attributes and
    canonical inputs (`Conv_<hash>`); graph inputs and outputs keep their
    names. Identity Reshapes go first (`drop_identity_reshapes`). Identical
    computations collapse into one node. The node order is a topological order
    with ties broken by name.
    """
    from onnx import numpy_helper
    graph = model.graph
    if any(a.g.node or a.graphs for n in graph.node for a in n.attribute):
        return  # subgraphs would need scoped renaming; this model family has none
    drop_identity_reshapes(model)
    fixed = {v.name for v in list(graph.input) + list(graph.output)}
    names: Dict[str, str] = {}
    inits = {}
    for init in graph.initializer:
        if init.name not in fixed and not init.name.startswith(INDEX_PREFIX):
            array = numpy_helper.to_array(init)
            names[init.name] = "const_" + _digest(init.data_type, array.shape, array.tobytes())
            init.name = names[init.name]
        inits.setdefault(init.name, init)  # identical content under one name: keep one
    kept = {}
    for node in graph.node:  # ONNX nodes are stored in a topological order
        node.input[:] = [names.get(n, n) for n in node.input]
        attrs = b"".join(a.SerializeToString(deterministic=True)
                         for a in sorted(node.attribute, key=lambda a: a.name))
        key = _digest(node.op_type, node.domain, attrs, *node.input)
        for index, out in enumerate(node.output):
            if out and out not in fixed:
                names[out] = f"{node.op_type}_{key}" + (f"_{index}" if index else "")
        node.output[:] = [names.get(o, o) for o in node.output]
        node.name = node.output[0]
        kept.setdefault(node.name, node)   # the same computation twice: keep the first
    values = {}
    for value in graph.value_info:
        value.name = names.get(value.name, value.name)
        values.setdefault(value.name, value)
    _sort_graph(graph, list(kept.values()), list(inits.values()), list(values.values()))


def drop_identity_reshapes(model) -> int:
    """Removes Reshape nodes whose output has their input's static shape.

    Whether tf2onnx's optimizer removes such a Reshape (e.g. after a keepdims
    ReduceMean) depends on hash order: the micro model converted under four
    PYTHONHASHSEEDs had 20, 21 or 22 Reshapes and nothing else different.
    Initializers no node reads any more go too. Returns the number removed.
    """
    import onnx
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {}
    for value in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    fixed = {v.name for v in graph.output}
    source: Dict[str, str] = {}
    nodes = []
    for node in graph.node:  # topological order: a dropped output is renamed before use
        node.input[:] = [source.get(n, n) for n in node.input]
        out = node.output[0] if node.output else ""
        if (node.op_type == "Reshape" and out not in fixed and node.input[0] in shapes
                and shapes.get(out) == shapes[node.input[0]]):
            source[out] = node.input[0]
            continue
        nodes.append(node)
    if not source:
        return 0
    read = {name for node in nodes for name in node.input}
    initializers = [i for i in graph.initializer if i.name in read or i.name in fixed]
    values = [v for v in graph.value_info if v.name not in source]
    _set_graph(graph, nodes, initializers, values)
    return len(source)


def _sort_graph(graph, nodes, initializers, value_info) -> None:
    produced = {out: node for node in nodes for out in node.output}
    waiting = {id(node): sum(1 for n in set(node.input) if n in produced) for node in nodes}
    users = collections.defaultdict(list)
    for node in nodes:
        for name in set(node.input):
            if name in produced:
                users[name].append(node)
    ready = [(node.name, id(node), node) for node in nodes if waiting[id(node)] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for out in node.output:
            for user in users.get(out, []):
                waiting[id(user)] -= 1
                if waiting[id(user)] == 0:
                    heapq.heappush(ready, (user.name, id(user), user))
    if len(order) != len(nodes):
        raise ExportError("onnx: the converted graph has a cycle")
    _set_graph(graph, order, sorted(initializers, key=lambda i: i.name),
               sorted(value_info, key=lambda v: v.name))


def _set_graph(graph, nodes, initializers, value_info) -> None:
    """Replaces the graph's nodes, initializers and value_info with copies of these."""
    for field, items in ((graph.node, nodes), (graph.initializer, initializers),
                         (graph.value_info, value_info)):
        copies = [type(item)() for item in items]
        for copy, item in zip(copies, items):
            copy.CopyFrom(item)
        del field[:]
        field.extend(copies)


# ------------------------------------------------------------- quantization

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
      LayerNorm's x - mean to under 1% of its range and the top-1 class
      changed on every test image at 224, while min/max elsewhere keeps it;
    * percentile is PERCENTILE, and tensors whose values span too few float32
      steps for ORT's histogram keep min/max instead of failing the export;
    * inference runs on one thread (`_one_thread_session`).
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


def quantize(model, job: ExportJob, notes: Dict):
    """QDQ INT8: per-channel symmetric int8 weights, int8 activations."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
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
                            per_channel=True, activation_type=QuantType.QInt8,
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
    return quantized


# ----------------------------------------------------------------- metadata

def metadata(job: ExportJob, precision: str) -> Dict[str, str]:
    return job.metadata(precision, input_layout=INPUT_LAYOUT,
                        output="logits [1, classes], no softmax")


def write_metadata(model, job: ExportJob, precision: str) -> None:
    import onnxruntime
    import tf2onnx
    model.producer_name = "tinymoat"
    model.producer_version = __version__
    model.graph.name = job.variant
    model.doc_string = (f"{job.variant} image classifier, {job.input_size[0]}x{job.input_size[1]}"
                        f" RGB, {precision}; converted with tf2onnx {tf2onnx.__version__}"
                        + (f", quantized with onnxruntime {onnxruntime.__version__}"
                           if precision == "int8" else ""))
    del model.metadata_props[:]
    for key, value in sorted(metadata(job, precision).items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


# ----------------------------------------------------------------- describe

def _value_info(value) -> Dict:
    from onnx import TensorProto
    tensor = value.type.tensor_type
    return {"name": value.name, "type": TensorProto.DataType.Name(tensor.elem_type).lower(),
            "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param
                      for d in tensor.shape.dim]}


def describe_model(path: str) -> Dict:
    import onnx
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model)
        checker = "passed"
    except onnx.checker.ValidationError as exc:
        checker = f"failed: {str(exc).splitlines()[0]}"
    ops = collections.Counter(node.op_type for node in model.graph.node)
    meta = {p.key: p.value for p in model.metadata_props}
    read = {}
    for key, value in meta.items():
        try:
            read[key] = json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            read[key] = value
    weights = collections.Counter()
    for init in model.graph.initializer:
        weights[onnx.TensorProto.DataType.Name(init.data_type).lower()] += 1
    info = {
        "format": "onnx",
        "file_bytes": os.path.getsize(path),
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "checker": checker,
        "inputs": [_value_info(v) for v in model.graph.input],
        "outputs": [_value_info(v) for v in model.graph.output],
        "op_types": dict(sorted(ops.items())),
        "nodes": len(model.graph.node),
        "quantize_linear": ops.get("QuantizeLinear", 0),
        "dequantize_linear": ops.get("DequantizeLinear", 0),
        "initializer_dtypes": dict(sorted(weights.items())),
        "relative_bias_tables": sum(1 for n in model.graph.node if n.op_type == "Gather"
                                    and n.input[1].startswith(INDEX_PREFIX)),
        "metadata": read,
    }
    info["checks"] = _checks(info, read)
    return info


def _checks(info: Dict, meta: Dict) -> Dict[str, bool]:
    """The graph against what its own tinymoat.* metadata promises."""
    height, width = meta.get(PREFIX + "input_size", (None, None))
    labels = meta.get(PREFIX + "labels", [])
    int8 = meta.get(PREFIX + "precision") == "int8"
    return {
        "checker": info["checker"] == "passed",
        "input": info["inputs"] == [{"name": INPUT, "type": "float",
                                     "shape": [1, height, width, 3]}],
        "output": info["outputs"] == [{"name": OUTPUT, "type": "float",
                                       "shape": [1, len(labels)]}],
        "normalization": (meta.get(PREFIX + "mean"), meta.get(PREFIX + "std")) == tuple(
            list(v) for v in NORMALIZATION.get(meta.get(PREFIX + "normalization"), ((), ()))),
        "precision": (info["quantize_linear"] > 0) == int8 and (
            "int8" in info["initializer_dtypes"]) == int8,
    }
