"""The small interface every export target implements, and the job it receives.

A target turns an ExportJob into one artifact file for one precision, runs an
artifact on raw pixels the way an app would (reading the artifact's own
metadata for the input convention), and describes what it can check without
running it. Targets are listed in `targets.py`, which drives the CLI, file
names and reports.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional, Tuple

import numpy as np

from tinymoat.preprocess import NORMALIZATION, mean_std
from tinymoat.quantization.forms import DEFAULT_INT8_GELU


class ExportError(ValueError):
    """A user-facing export failure; the message is one line."""


# Prefix of the key/value metadata that ONNX (metadata_props) and Core ML
# (user_defined_metadata) artifacts carry; TFLite has its own metadata schema.
METADATA_PREFIX = "tinymoat."


class NumericsUnavailable(Exception):
    """The artifact cannot be run on this machine (e.g. Core ML off macOS)."""


@dataclasses.dataclass
class ExportJob:
    """Everything a target needs; built once by the CLI (or by library users)."""

    model: object                       # float tf_keras model: batch 1, normalised input, logits
    variant: str
    input_size: Tuple[int, int]
    labels: List[str]
    normalization: str                  # key of tinymoat.NORMALIZATION
    calibration: np.ndarray             # uint8 RGB pixels [N, H, W, 3]
    qat_model: Optional[object] = None  # quantization-aware trained model (INT8 from learned ranges)
    input_type: str = "uint8"           # full-integer TFLite: uint8 | int8 | float32
    output_type: str = "float32"        # full-integer TFLite: uint8 | int8 | float32
    outputs: str = "logits"             # logits | probabilities (a softmax at the end)
    calibration_statistic: str = "minmax"
    int8_gelu: str = DEFAULT_INT8_GELU  # PTQ full-integer TFLite GELU (forms.INT8_GELU_FORMS)
    onnx_activations: str = "uint8"     # ONNX INT8 activation type: uint8 (U8S8) | int8 (S8S8)
    minimum_ios: str = "16"
    random_weights: bool = False        # nothing trained: agreement figures are not meaningful

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def mean_std(self):
        return mean_std(self.normalization)

    def metadata(self, precision: str, **extra: str) -> Dict[str, str]:
        """The `tinymoat.*` keys an app reads to prepare pixels and name classes."""
        mean, std = NORMALIZATION[self.normalization]
        values = {
            "variant": self.variant,
            "input_size": json.dumps(list(self.input_size)),
            "normalization": self.normalization,
            "mean": json.dumps([float(v) for v in mean]),
            "std": json.dumps([float(v) for v in std]),
            "labels": json.dumps(list(self.labels), ensure_ascii=False),
            "precision": precision,
            **extra,
        }
        return {METADATA_PREFIX + k: v for k, v in values.items()}

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        mean, std = self.mean_std
        return ((np.asarray(pixels, np.float32) - mean) / std).astype(np.float32)


class Target:
    """Base class: subclasses set the class attributes and implement the three methods."""

    name: str = ""
    suffix: str = ""
    # Precision asked for on the command line ("float32", "float16", "dynamic", "int8")
    # -> precision of the artifact this target writes for it.
    precisions: Dict[str, str] = {}
    description: str = ""
    # Artifact precision -> (what the weights are stored as, what the activations are
    # computed in): the report states both for every artifact.
    precision_details: Dict[str, Tuple[str, str]] = {}

    def file_name(self, job: ExportJob, precision: str) -> str:
        height, width = job.input_size
        size = f"{height}" if height == width else f"{height}x{width}"
        return f"{job.variant}_{size}_{precision}{self.suffix}"

    def reference(self, job: ExportJob, precision: str) -> str:
        """The model this artifact is converted from, which validation compares it with:
        "float" (job.model) or "qat" (job.qat_model)."""
        return "float"

    def output_kind(self, job: ExportJob, precision: str) -> str:
        """What predict() returns for this artifact: "logits" or "probabilities"
        (validation compares log-probabilities with the reference's then)."""
        return job.outputs

    def precision_detail(self, precision: str, job: Optional[ExportJob] = None) -> Dict[str, str]:
        """{"weights": ..., "activations": ...} of an artifact precision."""
        weights, activations = self.precision_details[self.precisions.get(precision, precision)]
        return {"weights": weights, "activations": activations}

    def check(self, job: ExportJob, precision: str) -> None:
        """Raises ExportError for options this target cannot honour, before anything runs."""

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        """Writes the artifact to `path` (the caller renames it into place).

        Returns notes for the report (e.g. ops left in float).
        """
        raise NotImplementedError

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        """Logits [N, classes] for uint8 RGB pixels [N, H, W, 3], as an app would compute them.

        Raises NumericsUnavailable where the runtime cannot run here.
        """
        raise NotImplementedError

    def describe(self, path: str) -> Dict:
        """What can be checked without running: metadata read back, ops, I/O types."""
        raise NotImplementedError
