"""Keras -> Core ML ML Program: the image-input wrapper, conversion, metadata, saving
the package deterministically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from typing import Dict, List, Optional, Tuple


from tinymoat import __version__
from tinymoat.preprocess import NORMALIZATION

from ..target import ExportError, ExportJob
from .names import CHANNEL_SCALE, INPUT_LAYOUT, LABEL, LOGITS, PROBABILITIES, ios_version


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

def convert(job: ExportJob, precision: str, target):
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

def rewrite(model, edits):
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

def user_metadata(job: ExportJob, precision: str,
                  detail: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The same `tinymoat.*` keys as the ONNX artifact, for the Core ML input convention,
    and the precision of weights and activations."""
    extra = {} if detail is None else {"weights": detail["weights"],
                                       "activations": detail["activations"]}
    return job.metadata(precision, input_layout=INPUT_LAYOUT,
                        output="classLabel, classLabel_probs (softmax), logits [1, classes]",
                        minimum_ios=ios_version(job.minimum_ios), **extra)

def describe_spec(spec, job: ExportJob, precision: str,
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

def save(model, path: str) -> None:
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
