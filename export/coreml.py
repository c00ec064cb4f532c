"""Core ML target: an ML Program image classifier (float32, float16, 8-bit weights, W8A8).

The artifact takes an RGB image and returns `classLabel`, `classLabel_probs`
(softmax probabilities, a dictionary over the labels) and the raw `logits`.
Core ML's image input has one scale and a bias per channel, so the ImageNet
normalisation (x - mean_c) / std_c is split into

    ImageType:  x * a + b_c          a = 1 / std_0,  b_c = -mean_c / std_0
    in graph:   (...) * r_c          r_c = std_0 / std_c   (left out if all std are equal)

`coreml_keras_model` builds that wrapper; it must give job.model's logits for
x * a + b_c.

Precisions (PRECISION_DETAIL says what weights and activations each has):
float32 and float16 compute in that type; weights8 stores int8 per-channel
weights (constexpr_affine_dequantize, iOS 16) and computes in float16; int8
(W8A8, iOS 17) also quantizes to int8 the activations entering every conv,
linear and matmul (quantize -> dequantize pairs), with asymmetric per-tensor
ranges calibrated by running the float16 program in the reference executor
on the job's calibration images (coremltools' own activation calibration
needs the Core ML runtime). Every precision stores the relative position
bias compactly: each attention block's small table and a gather by an index
shared by the blocks of one window size (exact; `compact_relative_bias`).

Core ML itself only runs on macOS; elsewhere `predict` runs the
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
# The lowest iOS of each precision: constexpr dequantization of weights is an iOS 16
# op, quantize / dequantize of activations iOS 17 ops.
MINIMUM_IOS = {"float32": "15", "float16": "15", "weights8": "16", "int8": "17"}
PRECISION_DETAIL = {"float32": ("float32", "float32"), "float16": ("float16", "float16"),
                    "weights8": ("int8", "float16"), "int8": ("int8", "int8")}
# Ops whose float inputs (other than constants) the int8 program quantizes.
QUANTIZED_INPUTS = {"conv": ("x",), "linear": ("x",), "matmul": ("x", "y")}
CALIBRATION = ("minmax",)
DEFAULT_IOS = "16"
SPEC_VERSION_IOS = {6: "15", 7: "16", 8: "17", 9: "18"}
CHANNEL_SCALE = "channel_scale"
LOGITS, LABEL, PROBABILITIES = "logits", "classLabel", "classLabel_probs"
INPUT_LAYOUT = "RGB image; x * scale + bias_c (image input), then * channel_scale_c (in graph)"


class CoreMLTarget(Target):
    name = "coreml"
    suffix = ".mlpackage"
    # --dynamic (int8 weights, float activations) -> weights8; --int8 -> W8A8
    precisions = {"float32": "float32", "float16": "float16", "dynamic": "weights8",
                  "int8": "int8"}
    description = ("Core ML ML Program image classifier (.mlpackage); weights8 = int8 "
                   "per-channel weights, float16 compute; int8 = int8 weights and int8 "
                   "activations into conv/linear/matmul (iOS 17)")

    precision_details = PRECISION_DETAIL  # a requested "dynamic" is weights8

    def output_kind(self, job: ExportJob, precision: str) -> str:
        return "logits"  # predict reads `logits`; the classifier's classLabel_probs has both

    def check(self, job: ExportJob, precision: str) -> None:
        precision = check_precision(precision, job.minimum_ios)
        if precision == "int8":
            if job.calibration_statistic not in CALIBRATION:
                raise ExportError(f"coreml: int8 calibration {job.calibration_statistic!r} is "
                                  f"not implemented; use --calibration "
                                  f"{' or '.join(CALIBRATION)}")
            if len(job.calibration) == 0:
                raise ExportError("coreml: int8 needs at least one calibration image")

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        import coremltools as ct
        self.check(job, precision)
        precision = self.precisions.get(precision, precision)
        target = deployment_target(job.minimum_ios)
        model, logits = _convert(job, precision, target)
        notes = {"minimum_deployment_target": f"iOS{_ios(job.minimum_ios)}",
                 "weights_activations": "weights {weights}, activations {activations}".format(
                     **self.precision_detail(precision))}
        edits = [lambda program: compact_relative_bias(program, notes)]
        if precision == "int8":
            model = _rewrite(model, edits)
            ranges = calibrate(model, job, notes)
            edits = [lambda program: quantize_activations(program, ranges, notes)]
            if job.qat_model is not None:
                notes["qat"] = ("Core ML int8 uses post-training calibration, not the QAT "
                                "model's ranges")
        if precision in ("weights8", "int8"):
            edits.append(quantize_weights)
        model = _rewrite(model, edits)
        spec = model.get_spec()
        ct.utils.rename_feature(spec, logits, LOGITS)
        _describe_spec(spec, job, precision, self.precision_detail(precision))
        model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
        _save(model, path)
        notes.update({"probabilities": "classLabel_probs are softmax probabilities; 'logits' "
                                       "is raw",
                      "numerics": numerics_source()})
        return notes

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


def default_ios(precision: str) -> str:
    """--ios when not given: 16, or the lowest iOS the precision's ops allow if higher
    (17 for int8). `precision` as requested ("dynamic") or as written ("weights8")."""
    precision = CoreMLTarget.precisions.get(precision, precision)
    return max(DEFAULT_IOS, MINIMUM_IOS.get(precision, DEFAULT_IOS), key=IOS.index)


def check_precision(precision: str, minimum_ios: str) -> str:
    """The artifact precision of a requested one, checked against --ios without
    importing coremltools."""
    precision = CoreMLTarget.precisions.get(precision, precision)
    if precision not in PRECISION_DETAIL:
        raise ExportError(f"coreml: unknown precision {precision!r}; "
                          f"choose one of {', '.join(PRECISION_DETAIL)}")
    version = check_ios(minimum_ios)
    need = MINIMUM_IOS[precision]
    if IOS.index(version) < IOS.index(need):
        why = ("its activation quantize/dequantize ops are iOS 17 ops" if precision == "int8"
               else "its constexpr weight dequantize ops are iOS 16 ops")
        raise ExportError(f"coreml: {precision} needs --ios {need} or later ({why}); "
                          f"got --ios {minimum_ios}")
    return precision


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


# ------------------------------------------------------------ program edits

def _rewrite(model, edits):
    """The MLModel with `edits` (functions of the PyMIL program) applied to its program.

    The program is serialised again without coremltools' default pass pipeline: its
    constant folding would expand the compact bias back into dense constants (the
    program went through that pipeline once already, in `_convert`).
    """
    import coremltools as ct
    from coremltools.converters.mil.converter import mil_convert
    from coremltools.converters.mil.frontend.milproto.load import load
    spec = model.get_spec()
    program = load(spec, spec.specificationVersion, model.weights_dir)
    for edit in edits:
        edit(program)
    return mil_convert(program, convert_to="mlprogram", convert_from="milinternal",
                       specification_version=spec.specificationVersion,
                       model_description=spec.description, skip_model_load=True,
                       compute_units=ct.ComputeUnit.ALL,
                       pass_pipeline=ct.PassPipeline.EMPTY)


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
    from .relative_bias import factor, worth_it
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
    from .relative_bias import relative_indices
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

    The program runs in the reference executor (coreml_executor), as saved, so the
    names are those of the program the quantize ops go into.
    """
    from . import coreml_executor
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


def user_metadata(job: ExportJob, precision: str,
                  detail: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The same `tinymoat.*` keys as the ONNX artifact, for the Core ML input convention,
    and the precision of weights and activations."""
    extra = {} if detail is None else {"weights": detail["weights"],
                                       "activations": detail["activations"]}
    return job.metadata(precision, input_layout=INPUT_LAYOUT,
                        output="classLabel, classLabel_probs (softmax), logits [1, classes]",
                        minimum_ios=_ios(job.minimum_ios), **extra)


def _describe_spec(spec, job: ExportJob, precision: str,
                   detail: Optional[Dict[str, str]] = None) -> None:
    import coremltools as ct
    from tinymoat._keras import tf
    desc = spec.description
    height, width = job.input_size
    desc.metadata.author = "tinymoat"
    desc.metadata.license = "Apache-2.0"
    desc.metadata.versionString = __version__
    desc.metadata.shortDescription = (
        f"{job.variant} image classifier, {height}x{width} RGB, {job.num_classes} classes, "
        f"{precision}"
        + ("" if detail is None else
           f" (weights {detail['weights']}, activations {detail['activations']})")
        + f". classLabel_probs are softmax probabilities; 'logits' are the raw "
        f"logits. The {job.normalization} normalisation is inside the model.")
    user = desc.metadata.userDefined
    # The conversion date would make every export differ; the rest is kept.
    user.pop("com.github.apple.coremltools.conversion_date", None)
    user["com.github.apple.coremltools.source"] = f"tensorflow=={tf.__version__}"
    user["com.github.apple.coremltools.version"] = ct.__version__
    for key, value in user_metadata(job, precision, detail).items():
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
