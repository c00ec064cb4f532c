"""ONNX metadata written for apps, and what can be checked in a file without running it."""

from __future__ import annotations

import collections
import json
import os
from typing import Dict

from tinymoat import __version__
from tinymoat.preprocess import NORMALIZATION

from ..target import METADATA_PREFIX as PREFIX
from ..target import ExportJob
from .canonical import INDEX_PREFIX
from .convert import INPUT, OUTPUT, PROBABILITIES

INPUT_LAYOUT = "NHWC, RGB, (x - mean) / std"
# A uint8 input: the graph normalises with the mean and std it states.
PIXEL_LAYOUT = "NHWC, RGB, uint8 pixels 0..255, (x - mean) / std inside the graph"
INPUT_TYPES = {INPUT_LAYOUT: "float", PIXEL_LAYOUT: "uint8"}  # input_layout -> ONNX type


def metadata(job: ExportJob, precision: str, pixels: bool = False) -> Dict[str, str]:
    output = ("probabilities [1, classes], softmax of the logits"
              if job.outputs == "probabilities" else "logits [1, classes], no softmax")
    return job.metadata(precision, input_layout=PIXEL_LAYOUT if pixels else INPUT_LAYOUT,
                        output=output)


def write_metadata(model, job: ExportJob, precision: str, pixels: bool = False) -> None:
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
    for key, value in sorted(metadata(job, precision, pixels).items()):
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
    read = _read_metadata({p.key: p.value for p in model.metadata_props})
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


def _read_metadata(meta: Dict[str, str]) -> Dict:
    read = {}
    for key, value in meta.items():
        try:
            read[key] = json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            read[key] = value
    return read


def describe_ort(path: str, source: str = None) -> Dict:
    """What ONNX Runtime reads from an ORT-format file (`source`: the .onnx it was made from)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    types = {"tensor(float)": "float", "tensor(uint8)": "uint8"}
    info = {
        "format": "ort",
        "file_bytes": os.path.getsize(path),
        "inputs": [{"name": v.name, "type": types.get(v.type, v.type), "shape": list(v.shape)}
                   for v in session.get_inputs()],
        "outputs": [{"name": v.name, "type": types.get(v.type, v.type), "shape": list(v.shape)}
                    for v in session.get_outputs()],
        "metadata": _read_metadata(session.get_modelmeta().custom_metadata_map),
    }
    if source is not None and os.path.isfile(source):
        info["onnx_bytes"] = os.path.getsize(source)
        info["size_vs_onnx"] = round(info["file_bytes"] / info["onnx_bytes"], 4)
    info["checks"] = _checks({"checker": "passed", **info}, info["metadata"])
    del info["checks"]["checker"]
    if "size_vs_onnx" in info:
        info["checks"]["size"] = info["size_vs_onnx"] <= ORT_SIZE_LIMIT
    return info


# The .ort must keep the compact relative bias: at most this size over the .onnx.
ORT_SIZE_LIMIT = 1.05


def _checks(info: Dict, meta: Dict) -> Dict[str, bool]:
    """The graph against what its own tinymoat.* metadata promises."""
    height, width = meta.get(PREFIX + "input_size", (None, None))
    labels = meta.get(PREFIX + "labels", [])
    int8 = meta.get(PREFIX + "precision") == "int8"
    layout = meta.get(PREFIX + "input_layout")
    checks = {
        "checker": info["checker"] == "passed",
        "input": layout in INPUT_TYPES and info["inputs"] == [
            {"name": INPUT, "type": INPUT_TYPES[layout], "shape": [1, height, width, 3]}],
        "output": info["outputs"] == [{"name": PROBABILITIES if str(meta.get(
            PREFIX + "output", "")).startswith(PROBABILITIES) else OUTPUT, "type": "float",
                                       "shape": [1, len(labels)]}],
        "normalization": (meta.get(PREFIX + "mean"), meta.get(PREFIX + "std")) == tuple(
            list(v) for v in NORMALIZATION.get(meta.get(PREFIX + "normalization"), ((), ()))),
    }
    if "quantize_linear" in info:  # an ONNX graph (an .ort shows no QDQ nodes once fused)
        checks["precision"] = (info["quantize_linear"] > 0) == int8 and (
            "int8" in info["initializer_dtypes"]) == int8
    return checks
