"""The ONNX export targets: float32 and INT8 .onnx files, and their ORT-format (.ort)
files for ONNX Runtime Mobile (`--ort`), all run with ONNX Runtime."""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from typing import Dict, List, Optional

import numpy as np

from tinymoat.fileio import sha256

from ..target import METADATA_PREFIX as PREFIX
from ..target import ExportError, ExportJob, Target
from .convert import OPSET, float_model, pixel_input, probabilities_output
from .describe import describe_model, describe_ort, write_metadata
from .mobile import ORT_STYLE, to_ort, usability
from .qdq import CALIBRATION, quantize


def takes_pixels(job: ExportJob, precision: str) -> bool:
    """Whether the artifact takes uint8 pixels: INT8 unless --input-type float32, as the
    INT8 TFLite (int8 input is TFLite's only: ONNX then takes pixels too)."""
    return precision == "int8" and job.input_type != "float32"


class OnnxTarget(Target):
    name = "onnx"
    suffix = ".onnx"
    precisions = {"float32": "float32", "int8": "int8"}
    description = (f"ONNX opset {OPSET} for ONNX Runtime; int8 is QDQ (per-channel int8 weights, "
                   "uint8 or int8 activations) from static calibration, taking uint8 pixels")

    def precision_detail(self, precision, job=None):
        if self.precisions.get(precision, precision) != "int8":
            return {"weights": "float32", "activations": "float32"}
        activations = job.onnx_activations if job is not None else "uint8"
        return {"weights": "int8", "activations": f"{activations} into convolutions, matmuls "
                "and GELU; LayerNorm, softmax and additions float32"}

    def __init__(self):
        self._written: List[tuple] = []  # (weakref to the job, precision, path, sha256)

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
        model = float_model(job, notes, gelu="sigmoid" if precision == "int8" else "erf")
        if precision == "int8":
            if job.qat_model is not None:
                notes["qat"] = "ONNX int8 uses post-training calibration, not the QAT ranges"
            notes["gelu"] = "sigmoid form, int8" + (
                "" if job.int8_gelu == "sigmoid" else f" (--gelu {job.int8_gelu} is TFLite only)")
            model = quantize(model, job, notes)
        pixels = takes_pixels(job, precision)
        if pixels:
            pixel_input(model, *job.mean_std)
        notes["input"] = ("uint8 pixels, normalised in the graph" if pixels else
                          "float32, normalised") + (
            " (int8 input is TFLite only)" if precision == "int8" and job.input_type == "int8"
            else "")
        if job.outputs == "probabilities":
            probabilities_output(model)
            notes["output"] = "probabilities: a float Softmax after the logits"
        write_metadata(model, job, precision, pixels)
        onnx.checker.check_model(model)
        with open(path, "wb") as f:
            f.write(model.SerializeToString(deterministic=True))
        notes["mobile"] = mobile_verdict(path)
        self._written = [w for w in self._written if w[0]() is not None and w[2] != str(path)]
        self._written.append((weakref.ref(job), precision, str(path), sha256(path)))
        return notes

    def written(self, job: ExportJob, precision: str, prefer: str = "") -> Optional[str]:
        """A file this target wrote for this job and precision and still unchanged:
        `prefer` if it is one, else the latest."""
        found = [(path, digest) for ref, done, path, digest in self._written
                 if ref() is job and done == precision]
        found.sort(key=lambda item: item[0] == str(prefer))
        for path, digest in reversed(found):
            if os.path.isfile(path) and sha256(path) == digest:
                return path
        return None

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        return run_pixels(path, pixels)

    def describe(self, path: str) -> Dict:
        return describe_model(path)


class OrtTarget(Target):
    """The .onnx of the same job and precision in ORT format (mobile.to_ort): converted
    from the file the ONNX target just wrote, else from one exported for it."""

    name = "ort"
    suffix = ".ort"
    precisions = OnnxTarget.precisions
    description = f"ORT format for ONNX Runtime Mobile ({ORT_STYLE})"
    precision_detail = OnnxTarget.precision_detail

    def __init__(self, source: OnnxTarget):
        self.source = source

    def check(self, job: ExportJob, precision: str) -> None:
        self.source.check(job, precision)

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        beside = os.path.join(os.path.dirname(str(path)), self.source.file_name(job, precision))
        onnx_path = self.source.written(job, precision, prefer=beside)
        if onnx_path is not None:
            notes = self._convert(onnx_path, path)
            notes["source"] = os.path.basename(onnx_path)
            return notes
        with tempfile.TemporaryDirectory(prefix="tinymoat-ort-") as folder:
            onnx_path = os.path.join(folder, self.source.file_name(job, precision))
            notes = self.source.export(job, precision, onnx_path)
            notes.update(self._convert(onnx_path, path))
            notes["source"] = "an .onnx exported for it"
        return notes

    @staticmethod
    def _convert(onnx_path: str, path: str) -> Dict:
        to_ort(onnx_path, path)
        return {"ort": ORT_STYLE,
                "size_vs_onnx": round(os.path.getsize(path) / os.path.getsize(onnx_path), 4),
                "mobile": mobile_verdict(onnx_path)}

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        return run_pixels(path, pixels)

    def describe(self, path: str) -> Dict:
        stem = os.path.splitext(str(path))[0]
        return describe_ort(path, stem + OnnxTarget.suffix)


def mobile_verdict(path: str) -> Dict:
    """mobile.usability, or {"error": why} (the verdict is advice: it never fails an export)."""
    try:
        return usability(path)
    except Exception as exc:  # an ORT tools module that changed its interface
        return {"error": f"mobile usability check failed: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}"}


def with_ort(plan: List[tuple]) -> List[tuple]:
    """The plan with an ORT-format artifact after each ONNX one (`--ort`)."""
    out = []
    for target, precision in plan:
        out.append((target, precision))
        if isinstance(target, OnnxTarget):
            out.append((OrtTarget(target), precision))
    if len(out) == len(plan):
        raise ExportError("--ort converts ONNX artifacts: use it with --target onnx or all")
    return out


def run_pixels(path: str, pixels: np.ndarray) -> np.ndarray:
    """Logits of an .onnx or .ort file for uint8 RGB pixels, prepared as its metadata and
    input type say (raw uint8, or normalised float32)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    feed = session.get_inputs()[0]
    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or list(pixels.shape[1:]) != list(feed.shape[1:]):
        raise ValueError(f"expected pixels [N, {', '.join(map(str, feed.shape[1:]))}], "
                         f"got {list(pixels.shape)}")
    if feed.type == "tensor(uint8)":
        images = pixels.astype(np.uint8)
    else:
        mean = np.asarray(json.loads(meta[PREFIX + "mean"]), np.float32)
        std = np.asarray(json.loads(meta[PREFIX + "std"]), np.float32)
        images = (pixels.astype(np.float32) - mean) / std
    return np.concatenate([session.run(None, {feed.name: images[i:i + 1]})[0]
                           for i in range(len(images))]).astype(np.float32)
