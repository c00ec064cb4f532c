"""What a saved package says about itself, read on any OS: program ops, blobs,
preprocessing, and the checks against its own metadata."""

from __future__ import annotations

import collections
import json
from typing import Dict, Optional

import numpy as np

from tinymoat.fileio import size_bytes

from ..target import METADATA_PREFIX as PREFIX
from .names import (CHANNEL_SCALE, LABEL, LOGITS, PRECISION_DETAIL, PROBABILITIES,
                    SPEC_VERSION_IOS)


_DTYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT8": np.int8,
           "UINT8": np.uint8, "INT16": np.int16}

def _value(value) -> Optional[np.ndarray]:
    """A MIL immediate tensor value as a NumPy array (None for blobs and other kinds)."""
    from coremltools.proto import MIL_pb2
    if not value.HasField("immediateValue") or not value.type.HasField("tensorType"):
        return None
    dtype = MIL_pb2.DataType.Name(value.type.tensorType.dataType)
    tensor = value.immediateValue.tensor
    kind = tensor.WhichOneof("value")
    if kind == "bytes":
        return np.frombuffer(tensor.bytes.values, _DTYPES.get(dtype, np.uint8)).copy()
    if kind in ("floats", "ints", "doubles", "longInts", "bools"):
        return np.asarray(getattr(tensor, kind).values)
    return None

def _blob_dtype(value) -> Optional[str]:
    from coremltools.proto import MIL_pb2
    if value.HasField("blobFileValue") and value.type.HasField("tensorType"):
        return MIL_pb2.DataType.Name(value.type.tensorType.dataType).lower()
    return None

class _Program:
    """The main function of an ML Program spec: ops, constants and argument values."""

    def __init__(self, spec):
        main = spec.mlProgram.functions["main"]
        self.opset = main.opset
        self.ops = list(main.block_specializations[main.opset].operations)
        self.consts = {op.outputs[0].name: op.attributes["val"]
                       for op in self.ops if op.type == "const"}
        self.by_output = {out.name: op for op in self.ops for out in op.outputs}

    def argument(self, op, name) -> Optional[np.ndarray]:
        if name not in op.inputs or not op.inputs[name].arguments:
            return None
        arg = op.inputs[name].arguments[0]
        if arg.WhichOneof("binding") == "value":
            return _value(arg.value)
        return _value(self.consts[arg.name]) if arg.name in self.consts else None

    def find(self, op_type: str, name_part: str):
        return next((op for op in self.ops if op.type == op_type
                     and name_part in op.outputs[0].name), None)

    def class_labels(self) -> Optional[list]:
        op = next((op for op in self.ops if op.type == "classify"), None)
        if op is None:
            return None
        arg = op.inputs["classes"].arguments[0]
        value = arg.value if arg.WhichOneof("binding") == "value" else self.consts[arg.name]
        items = value.immediateValue.list.values
        return [v.immediateValue.tensor.strings.values[0]
                if v.immediateValue.tensor.WhichOneof("value") == "strings"
                else int(v.immediateValue.tensor.longInts.values[0]) for v in items]

    def weight_dtypes(self) -> Dict[str, int]:
        """How many weight blobs of each dtype (const values and constexpr operands).

        iOS 16/17 constexpr ops hold their operands as attributes, iOS 18 ones as
        inputs bound to values; scales and offsets are not counted as weights.
        """
        counts = collections.Counter()
        for op in self.ops:
            if op.type != "const" and not op.type.startswith("constexpr_"):
                continue
            values = list(op.attributes.items()) + [
                (key, arg.value) for key, binding in op.inputs.items()
                for arg in binding.arguments if arg.WhichOneof("binding") == "value"]
            for key, value in values:
                dtype = _blob_dtype(value)
                if dtype and key in ("val", "quantized_data", "data", "indices", "lut"):
                    counts[dtype] += 1
        return dict(sorted(counts.items()))

def describe_package(path: str) -> Dict:
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2
    spec = ct.utils.load_spec(str(path))
    desc = spec.description
    program = _Program(spec) if spec.HasField("mlProgram") else None
    meta = dict(desc.metadata.userDefined)
    read = {k: (json.loads(v) if v[:1] in "[{" else v) for k, v in meta.items()}
    image = next((f for f in desc.input if f.type.HasField("imageType")), None)
    info: Dict = {
        "format": "coreml mlprogram" if program else "coreml " + spec.WhichOneof("Type"),
        "package_bytes": size_bytes(path),
        "specification_version": spec.specificationVersion,
        "minimum_ios": SPEC_VERSION_IOS.get(spec.specificationVersion),
        "is_classifier": bool(desc.predictedFeatureName),
        "predicted_feature": desc.predictedFeatureName,
        "predicted_probabilities": desc.predictedProbabilitiesName,
        "inputs": [{"name": f.name, "type": f.type.WhichOneof("Type")} for f in desc.input],
        "outputs": [{"name": f.name, "type": f.type.WhichOneof("Type")} for f in desc.output],
        "author": desc.metadata.author, "license": desc.metadata.license,
        "version": desc.metadata.versionString,
        "short_description": desc.metadata.shortDescription,
        "metadata": read,
    }
    if image is not None:
        img = image.type.imageType
        info["image_input"] = {
            "name": image.name, "width": img.width, "height": img.height,
            "color_layout": FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(img.colorSpace)}
    if program is not None:
        labels = program.class_labels()
        info["class_labels"] = len(labels) if labels is not None else None
        info["mil_opset"] = program.opset
        info["mil_ops"] = dict(sorted(collections.Counter(op.type for op in program.ops).items()))
        info["weight_dtypes"] = program.weight_dtypes()
        info["quantized_activations"] = info["mil_ops"].get("quantize", 0)
        info["relative_bias_tables"] = sum(1 for op in program.ops if op.type == "gather"
                                           and op.outputs[0].name.endswith("_gather"))
        if image is not None:
            info["image_input"].update(_preprocessing(program, image.name))
        info["checks"] = _checks(info, read, labels)
    return info

def _preprocessing(program: _Program, name: str) -> Dict:
    """Scale, biases and channel multiply as the program applies them to the image."""
    scaled = program.by_output.get(f"{name}__scaled__")
    biased = program.by_output.get(f"{name}__biased__")
    channel = program.find("mul", CHANNEL_SCALE)
    values = {"scale": program.argument(scaled, "y") if scaled is not None else np.ones(1),
              "bias": program.argument(biased, "y") if biased is not None else np.zeros(3),
              "channel_scale": (program.argument(channel, "y") if channel is not None
                                else np.ones(3))}
    return {k: [float(x) for x in np.asarray(v, np.float64).reshape(-1)]
            for k, v in values.items() if v is not None}

def _checks(info: Dict, meta: Dict, labels) -> Dict[str, bool]:
    """The spec against what its own tinymoat.* metadata promises."""
    checks: Dict[str, bool] = {}
    precision = meta.get(PREFIX + "precision")
    image = info.get("image_input", {})
    if PREFIX + "mean" in meta and {"scale", "bias", "channel_scale"} <= set(image):
        scale = image["scale"][0]
        bias = np.asarray(image["bias"])
        channel = np.asarray(image["channel_scale"])
        std = 1.0 / (scale * channel)          # x * s * r + b * r = (x - mean) / std
        mean = -bias / scale
        # float16 programs store the channel multiply in float16 (11-bit mantissa)
        tol = 1e-6 if precision == "float32" else 1e-3
        checks["normalization"] = bool(
            np.allclose(mean, meta[PREFIX + "mean"], rtol=1e-6)
            and np.allclose(std, meta[PREFIX + "std"], rtol=tol))
    if PREFIX + "labels" in meta:
        checks["labels"] = labels == meta[PREFIX + "labels"] and info["is_classifier"]
    if PREFIX + "minimum_ios" in meta:
        checks["minimum_ios"] = info["minimum_ios"] == meta[PREFIX + "minimum_ios"]
    if PREFIX + "input_size" in meta and image:
        checks["input_size"] = [image.get("height"), image.get("width")] == \
            meta[PREFIX + "input_size"] and image.get("color_layout") == "RGB"
    dtypes = info.get("weight_dtypes", {})
    expected = {"float32": ("float32", ("float16", "int8")),
                "float16": ("float16", ("float32", "int8")),
                "weights8": ("int8", ()), "int8": ("int8", ())}.get(precision)
    if expected:
        present, absent = expected
        checks["weight_dtypes"] = dtypes.get(present, 0) > 0 and not any(
            dtypes.get(d, 0) for d in absent)
    if precision in PRECISION_DETAIL:
        # int8 activations are quantize ops; no other precision has any
        quantized = info.get("quantized_activations", 0)
        checks["activations"] = (quantized > 0) == (PRECISION_DETAIL[precision][1] == "int8") \
            and meta.get(PREFIX + "activations", PRECISION_DETAIL[precision][1]) == \
            PRECISION_DETAIL[precision][1]
    checks["outputs"] = [o["name"] for o in info["outputs"]] == [LABEL, PROBABILITIES, LOGITS]
    return checks
