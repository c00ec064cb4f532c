"""Metadata for image classifiers, in the layout on-device libraries look for.

The TFLite Task Library `ImageClassifier` and the MediaPipe image classifier
(both checked against their sources) read, from subgraph 0:

* input 0: `ImageProperties` (MediaPipe accepts only RGB), and a
  `NormalizationOptions` process unit with 1 or 3 mean/std values, required
  when the input is FLOAT32: that is how they turn pixels into floats;
* output 0: an associated file of type TENSOR_AXIS_LABELS, one label per line,
  packed into the zip after the model. Outputs are dequantized by the tensor's
  own quantization parameters, which need no metadata.

Both accept only UINT8 or FLOAT32 image inputs. A UINT8 input receives the raw
pixels unnormalized, so the model's input quantization (or its first layers)
must do the normalization; mean/std are then a record, not an instruction.
An INT8-input model gets correct metadata here but those libraries refuse it.

Stats follow the tflite-support writer's convention: for a FLOAT32 input they
are the normalized range of `input_range`, per channel; for integer inputs the
range of the integer type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tinymoat.quantization.tflite import flatbuffer

from . import codec, model_file, packing

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"

_CHANNELS = {"RGB": 3, "GRAYSCALE": 1}
_INTEGER_RANGES = {"UINT8": (0.0, 255.0), "INT8": (-128.0, 127.0)}
_PROBABILITY_OPS = {"SOFTMAX", "LOGISTIC"}


def add_image_classifier_metadata(
        model_bytes: bytes, *, name: str, labels: Sequence[str],
        mean: Sequence[float], std: Sequence[float],
        description: str | None = None, version: str | None = None,
        author: str | None = None, license: str | None = None,
        input_range: tuple[float, float] = (0.0, 255.0), color_space: str = "RGB",
        input_name: str = "image", output_name: str | None = None,
        input_description: str | None = "Input image to be classified.",
        output_description: str | None = None) -> bytes:
    """Returns `model_bytes` with image classifier metadata and labels.txt attached.

    `mean`/`std` are the per-channel normalization in the units of
    `input_range` (x_norm = (x - mean) / std): 1 value or one per input channel.
    `output_name` defaults to "probability" when the model ends in a softmax
    or logistic and "logits" otherwise.

    Any TFLITE_METADATA entry and any zip already attached are replaced, so
    calling this again on its own output gives the same bytes as calling it
    once; other metadata entries (min_runtime_version, CONVERSION_METADATA)
    are kept. Raises ValueError on inputs the on-device readers would reject
    or misread.
    """
    model = flatbuffer.load(model_bytes)
    inputs = model_file.io_tensors(model, "inputs")
    outputs = model_file.io_tensors(model, "outputs")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"an image classifier has one input and one output; "
                         f"this model has {len(inputs)} and {len(outputs)}")
    image, scores = inputs[0], outputs[0]

    _check_text("name", name, required=True)
    for key, value in (("description", description), ("version", version),
                       ("author", author), ("license", license)):
        _check_text(key, value)
    channels = _check_image(image, color_space)
    mean, std = _check_normalization(mean, std, channels)
    labels = _check_labels(labels, scores)
    lo, hi = _check_range(input_range)

    stats = _input_stats(image, mean, std, lo, hi)
    if output_name is None:
        probs = model_file.producer_op(model, scores.index) in _PROBABILITY_OPS
        output_name = "probability" if probs else "logits"
    metadata = {
        "name": name,
        "description": description,
        "version": version,
        "subgraph_metadata": [{
            "input_tensor_metadata": [{
                "name": input_name,
                "description": input_description,
                "content": {"content_properties_type": "ImageProperties",
                            "content_properties": {"color_space": color_space}},
                "process_units": [{"options_type": "NormalizationOptions",
                                   "options": {"mean": mean, "std": std}}],
                "stats": stats,
            }],
            "output_tensor_metadata": [_output_metadata(output_name, output_description,
                                                        len(labels))],
        }],
        "author": author,
        "license": license,
    }
    metadata["min_parser_version"] = codec.min_parser_version(metadata)

    model_file.set_metadata_buffer(model, METADATA_NAME, codec.encode(metadata))
    return packing.append_zip(flatbuffer.serialize(model),
                              [(LABELS_FILE, packing.labels_text(labels))])


def _input_stats(image: model_file.TensorInfo, mean, std, lo: float, hi: float) -> dict:
    """The input's value range as the metadata states it: normalised for a float input, the
    integer type's range for a quantized one."""
    if image.dtype == "FLOAT32":
        return {"min": [(lo - m) / s for m, s in zip(mean, std)],
                "max": [(hi - m) / s for m, s in zip(mean, std)]}
    if image.dtype in _INTEGER_RANGES:
        ilo, ihi = _INTEGER_RANGES[image.dtype]
        return {"min": [ilo], "max": [ihi]}
    raise ValueError(f"input tensor type {image.dtype} is not an image type "
                     f"(expected FLOAT32, UINT8 or INT8)")


def _output_metadata(output_name: str, description: str | None, classes: int) -> dict:
    """The output tensor's metadata: its labels file, and [0, 1] for probabilities."""
    if description is None:
        description = (f"{'Probabilities' if output_name == 'probability' else 'Scores'} "
                       f"of the {classes} classes, in the order of {LABELS_FILE}.")
    output_md = {
        "name": output_name,
        "description": description,
        "content": {"content_properties_type": "FeatureProperties", "content_properties": {}},
        "associated_files": [{
            "name": LABELS_FILE,
            "description": "Class names, one per line; line i names output index i.",
            "type": "TENSOR_AXIS_LABELS",
        }],
    }
    if output_name == "probability":
        output_md["stats"] = {"min": [0.0], "max": [1.0]}
    return output_md


def read_metadata(model_bytes: bytes) -> dict:
    """The image classifier metadata of a model, flattened for checks and reports.

    Returns {"name", "description", "version", "author", "license",
    "min_parser_version", "input": {"name", "description", "color_space",
    "mean", "std", "stats": {"min", "max"}}, "output": {"name", "description",
    "labels_file", "stats"}, "labels": [...] or None, "packed_files": [...],
    "raw": <the whole metadata in dict form>}. Absent strings are None.
    Raises ValueError when the model has no TFLITE_METADATA.
    """
    buf = model_file.metadata_buffer(model_bytes, METADATA_NAME)
    if buf is None:
        raise ValueError(f"model has no {METADATA_NAME} entry")
    raw = codec.decode(buf)
    subgraphs = raw.get("subgraph_metadata") or [{}]
    inputs = subgraphs[0].get("input_tensor_metadata") or [{}]
    outputs = subgraphs[0].get("output_tensor_metadata") or [{}]
    image, scores = inputs[0], outputs[0]

    norm = next((u.get("options", {}) for u in image.get("process_units", [])
                 if u.get("options_type") == "NormalizationOptions"), {})
    props = image.get("content", {}).get("content_properties", {})
    labels_file = next((f.get("name") for f in scores.get("associated_files", [])
                        if f.get("type") == "TENSOR_AXIS_LABELS"), None)
    packed = packing.read_zip(model_bytes)
    labels = None
    if labels_file is not None and labels_file in packed:
        labels = packing.parse_labels(packed[labels_file])

    return {
        **{key: raw.get(key) for key in ("name", "description", "version", "author",
                                         "license", "min_parser_version")},
        "input": {
            "name": image.get("name"),
            "description": image.get("description"),
            "color_space": props.get("color_space", "UNKNOWN"),
            "mean": norm.get("mean"),
            "std": norm.get("std"),
            "stats": image.get("stats"),
        },
        "output": {
            "name": scores.get("name"),
            "description": scores.get("description"),
            "labels_file": labels_file,
            "stats": scores.get("stats"),
        },
        "labels": labels,
        "packed_files": list(packed),
        "raw": raw,
    }


# ------------------------------------------------------------------ validation
def _check_text(key, value, required=False):
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"{key} must be a{' non-empty' if required else ''} string, got {value!r}")


def _check_image(image: model_file.TensorInfo, color_space: str) -> int:
    if color_space not in _CHANNELS:
        raise ValueError(f"color_space must be one of {sorted(_CHANNELS)}, got {color_space!r}")
    if len(image.shape) != 4:
        raise ValueError(f"input {image.name!r} must be a 4-D NHWC image, shape {image.shape}")
    channels = image.shape[-1]
    if channels != _CHANNELS[color_space]:
        raise ValueError(f"color_space {color_space} needs {_CHANNELS[color_space]} channels, "
                         f"input {image.name!r} has {channels} (shape {image.shape})")
    return channels


def _floats(key, values) -> list[float]:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{key} must be a sequence of numbers, got {values!r}")
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a sequence of numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{key} values must be finite, got {out}")
    return out


def _check_normalization(mean, std, channels: int):
    mean, std = _floats("mean", mean), _floats("std", std)
    for key, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ValueError(f"{key} needs 1 or {channels} values (one per input channel), "
                             f"got {len(values)}")
    if len(mean) != len(std):
        raise ValueError(f"mean and std must have the same length, got {len(mean)} and {len(std)}")
    if any(s == 0.0 for s in std):
        raise ValueError(f"std values must be non-zero, got {std}")
    return mean, std


def _check_labels(labels, scores: model_file.TensorInfo) -> list[str]:
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be a sequence of strings, not one string")
    labels = list(labels)
    if not labels:
        raise ValueError("labels must not be empty")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label or "\n" in label or "\r" in label:
            raise ValueError(f"label {i} must be a non-empty single-line string, got {label!r}")
    if not scores.shape:
        raise ValueError(f"output {scores.name!r} has no shape")
    classes = scores.shape[-1]
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for an output of {classes} classes "
                         f"(output {scores.name!r}, shape {scores.shape})")
    return labels


def _check_range(input_range):
    values = _floats("input_range", () if input_range is None else input_range)
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"input_range must be (low, high) with low < high, got {input_range!r}")
    return values[0], values[1]
