"""Core ML target: an ML Program image classifier (float32, float16, 8-bit weights).

The artifact takes an RGB image and returns `classLabel`, `classLabel_probs`
(softmax probabilities, a dictionary over the labels) and the raw `logits`.
Core ML's image input has one scale and a bias per channel, so the ImageNet
normalisation (x - mean_c) / std_c is split into

    ImageType:  x * a + b_c          a = 1 / std_0,  b_c = -mean_c / std_0
    in graph:   (...) * r_c          r_c = std_0 / std_c   (left out if all std are equal)

`coreml_keras_model` builds that wrapper; it must give job.model's logits for
x * a + b_c. Core ML itself only runs on macOS; elsewhere `predict` runs the
saved package with the NumPy reference executor (coreml_executor.py), and the
report's notes say which one produced the numbers. `describe` reads the saved
spec on any OS.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import tempfile
import uuid
from typing import Dict, List, Optional, Tuple

import numpy as np

from tinymoat import __version__
from tinymoat.fileio import size_bytes
from tinymoat.preprocess import NORMALIZATION

from .target import METADATA_PREFIX as PREFIX
from .target import ExportError, ExportJob, Target

IOS = ("15", "16", "17", "18")           # ML Programs need iOS 15 (Core ML 5)
SPEC_VERSION_IOS = {6: "15", 7: "16", 8: "17", 9: "18"}
CHANNEL_SCALE = "channel_scale"
LOGITS, LABEL, PROBABILITIES = "logits", "classLabel", "classLabel_probs"
INPUT_LAYOUT = "RGB image; x * scale + bias_c (image input), then * channel_scale_c (in graph)"


class CoreMLTarget(Target):
    name = "coreml"
    suffix = ".mlpackage"
    precisions = {"float32": "float32", "float16": "float16", "int8": "weights8"}
    description = ("Core ML ML Program image classifier (.mlpackage); weights8 = float16 "
                   "compute with int8 per-channel weights")

    def check(self, job: ExportJob, precision: str) -> None:
        precision = self.precisions.get(precision, precision)   # "int8" asks for weights8
        if precision not in self.precisions.values():
            raise ExportError(f"coreml: unknown precision {precision!r}; "
                              f"choose one of {', '.join(self.precisions.values())}")
        deployment_target(job.minimum_ios)
        if precision == "weights8" and IOS.index(_ios(job.minimum_ios)) < IOS.index("16"):
            raise ExportError(f"coreml: 8-bit weights need iOS 16 or later (their dequantize "
                              f"ops are iOS 16 ops); got minimum iOS {job.minimum_ios}")

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        import coremltools as ct
        self.check(job, precision)
        precision = self.precisions.get(precision, precision)
        target = deployment_target(job.minimum_ios)
        model, logits = _convert(job, precision, target)
        if precision == "weights8":
            import coremltools.optimize.coreml as cto
            config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
                mode="linear_symmetric", dtype="int8"))
            model = cto.linear_quantize_weights(model, config)
        spec = model.get_spec()
        ct.utils.rename_feature(spec, logits, LOGITS)
        _describe_spec(spec, job, precision)
        model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
        _save(model, path)
        return {"minimum_deployment_target": f"iOS{_ios(job.minimum_ios)}",
                "probabilities": "classLabel_probs are softmax probabilities; 'logits' is raw",
                "numerics": numerics_source()}

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        """Logits from the Core ML runtime on macOS, else from the reference executor."""
        pixels = np.asarray(pixels, np.uint8)
        if sys.platform != "darwin":
            from . import coreml_executor
            executor = coreml_executor.load(path)
            image = executor.image_feature().type.imageType
            _check_pixels(pixels, image)
            return executor.predict(pixels, LOGITS).astype(np.float32).reshape(len(pixels), -1)
        import coremltools as ct
        from PIL import Image
        model = ct.models.MLModel(str(path))
        _check_pixels(pixels, model.get_spec().description.input[0].type.imageType)
        return np.stack([np.asarray(model.predict({"image": Image.fromarray(p, "RGB")})[LOGITS],
                                    np.float32).reshape(-1) for p in pixels])

    def describe(self, path: str) -> Dict:
        return describe_package(path)


def numerics_source() -> str:
    """Which executor `predict` uses here: the report must say the numbers are not Core ML's
    own off macOS."""
    if sys.platform == "darwin":
        return "Core ML runtime (coremltools on macOS)"
    return ("reference executor (NumPy, tinymoat.export.coreml_executor), not the Core ML "
            "runtime, which needs macOS")


def _check_pixels(pixels: np.ndarray, image) -> None:
    if pixels.ndim != 4 or pixels.shape[1:] != (image.height, image.width, 3):
        raise ValueError(f"expected pixels [N, {image.height}, {image.width}, 3], "
                         f"got {list(pixels.shape)}")


# ------------------------------------------------------------ preprocessing

def _ios(minimum_ios) -> str:
    return str(minimum_ios).lower().removeprefix("ios")


def check_ios(minimum_ios: str) -> str:
    """The iOS version of --ios, checked without importing coremltools."""
    version = _ios(minimum_ios)
    if version not in IOS:
        raise ExportError(f"coreml: minimum iOS {minimum_ios} is not supported; ML Programs "
                          f"need iOS 15 or later (choose one of {', '.join(IOS)})")
    return version


def deployment_target(minimum_ios: str):
    version = check_ios(minimum_ios)
    import coremltools as ct
    return getattr(ct.target, f"iOS{version}")


def image_preprocessing(normalization: str) -> Tuple[float, List[float], Optional[List[float]]]:
    """(scale, per-channel bias, per-channel multiply or None) for (x - mean) / std."""
    mean, std = (list(map(float, v)) for v in NORMALIZATION[normalization])
    scale = 1.0 / std[0]
    bias = [-m / std[0] for m in mean]
    channel = [std[0] / s for s in std]
    return scale, bias, (None if all(c == 1.0 for c in channel) else channel)


def coreml_keras_model(job: ExportJob):
    """job.model behind the in-graph part of the normalisation, with a softmax output.

    Input: x * scale + bias_c (what Core ML's image input produces from pixels x).
    Outputs: [probabilities, logits]. The per-channel multiply is a Rescaling
    layer with one factor per channel, which converts to a single `mul`.
    """
    from tinymoat._keras import keras
    height, width = job.input_size
    _, _, channel = image_preprocessing(job.normalization)
    inputs = keras.Input((height, width, 3), batch_size=1, name="image")
    x = inputs
    if channel is not None:
        x = keras.layers.Rescaling(scale=channel, name=CHANNEL_SCALE)(x)
    logits = job.model(x)
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, [probabilities, logits], name=f"{job.model.name}_coreml")


# ---------------------------------------------------------------- conversion

def _convert(job: ExportJob, precision: str, target):
    """(MLModel, name of the logits output).

    Two steps because of a coremltools 9 limitation: a classifier with a second
    output fails in the backend (IndexError: list index out of range in
    get_func_output), as the output types recorded by the TensorFlow frontend
    and the float16 pass do not count the classify op's extra output. Stopping
    at the MIL program, clearing those types and converting that program with
    the classifier config avoids it.
    """
    import coremltools as ct
    height, width = job.input_size
    scale, bias, _ = image_preprocessing(job.normalization)
    image = ct.ImageType(name="image", shape=(1, height, width, 3), scale=scale, bias=bias,
                         color_layout=ct.colorlayout.RGB)
    compute = ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16
    try:
        program = ct.convert(coreml_keras_model(job), source="tensorflow",
                             convert_to="milinternal", inputs=[image],
                             compute_precision=compute, minimum_deployment_target=target)
        main = program.functions["main"]
        probabilities, logits = (v.name for v in main.outputs)
        main.set_output_types(None)
        model = ct.convert(program, convert_to="mlprogram",
                           classifier_config=ct.ClassifierConfig(
                               list(job.labels), predicted_probabilities_output=probabilities),
                           compute_precision=ct.precision.FLOAT32,  # already float16 if asked
                           minimum_deployment_target=target, skip_model_load=True)
    except (ValueError, NotImplementedError, RuntimeError, TypeError) as exc:
        raise ExportError(f"coreml: conversion failed: {str(exc).splitlines()[0]}") from exc
    return model, logits


def user_metadata(job: ExportJob, precision: str) -> Dict[str, str]:
    """The same `tinymoat.*` keys as the ONNX artifact, for the Core ML input convention."""
    return job.metadata(precision, input_layout=INPUT_LAYOUT,
                        output="classLabel, classLabel_probs (softmax), logits [1, classes]",
                        minimum_ios=_ios(job.minimum_ios))


def _describe_spec(spec, job: ExportJob, precision: str) -> None:
    import coremltools as ct
    from tinymoat._keras import tf
    desc = spec.description
    height, width = job.input_size
    desc.metadata.author = "tinymoat"
    desc.metadata.license = "Apache-2.0"
    desc.metadata.versionString = __version__
    desc.metadata.shortDescription = (
        f"{job.variant} image classifier, {height}x{width} RGB, {job.num_classes} classes, "
        f"{precision}. classLabel_probs are softmax probabilities; 'logits' are the raw "
        f"logits. The {job.normalization} normalisation is inside the model.")
    user = desc.metadata.userDefined
    # The conversion date would make every export differ; the rest is kept.
    user.pop("com.github.apple.coremltools.conversion_date", None)
    user["com.github.apple.coremltools.source"] = f"tensorflow=={tf.__version__}"
    user["com.github.apple.coremltools.version"] = ct.__version__
    for key, value in user_metadata(job, precision).items():
        user[key] = value
    texts = {"image": f"RGB image {width}x{height}, pixels 0..255",
             LABEL: "most likely label", PROBABILITIES: "softmax probability of every label",
             LOGITS: "raw logits [1, classes] (before the softmax)"}
    for feature in list(desc.input) + list(desc.output):
        feature.shortDescription = texts.get(feature.name, feature.shortDescription)


def _save(model, path: str) -> None:
    """Saves the package at `path` (any name), byte for byte the same for the same model."""
    with tempfile.TemporaryDirectory(prefix="tinymoat-coreml-") as folder:
        package = os.path.join(folder, "model.mlpackage")
        model.save(package)
        root = _stable_manifest(package)
        _deterministic_spec(os.path.join(package, "Data", root))
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        shutil.move(package, path)


def _deterministic_spec(spec_path: str) -> None:
    """Re-serialises the spec with sorted map entries.

    coremltools writes protobuf maps (op attributes, metadata) in hash order,
    which changes with PYTHONHASHSEED from one process to the next.
    """
    from coremltools.proto import Model_pb2
    spec = Model_pb2.Model()
    with open(spec_path, "rb") as f:
        spec.ParseFromString(f.read())
    with open(spec_path, "wb") as f:
        f.write(spec.SerializeToString(deterministic=True))


def _stable_manifest(package: str) -> str:
    """Replaces the random item UUIDs of Manifest.json by ones derived from the item paths.

    Returns the path of the root model (the spec) inside the package's Data folder.
    """
    manifest = os.path.join(package, "Manifest.json")
    with open(manifest) as f:
        data = json.load(f)
    ids = {old: str(uuid.uuid5(uuid.NAMESPACE_URL, "tinymoat.mlpackage/" + item["path"])).upper()
           for old, item in data["itemInfoEntries"].items()}
    data["itemInfoEntries"] = {ids[old]: item for old, item in data["itemInfoEntries"].items()}
    data["rootModelIdentifier"] = ids[data["rootModelIdentifier"]]
    with open(manifest, "w") as f:  # formatted as coremltools' own writer does
        f.write(json.dumps(data, indent=4, sort_keys=True) + "\n")
    return data["itemInfoEntries"][data["rootModelIdentifier"]]["path"]


# ----------------------------------------------------------------- describe

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
                "weights8": ("int8", ())}.get(precision)
    if expected:
        present, absent = expected
        checks["weight_dtypes"] = dtypes.get(present, 0) > 0 and not any(
            dtypes.get(d, 0) for d in absent)
    checks["outputs"] = [o["name"] for o in info["outputs"]] == [LABEL, PROBABILITIES, LOGITS]
    return checks
