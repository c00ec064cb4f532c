"""The ONNX export target: float32 and INT8 artifacts run with ONNX Runtime."""

from __future__ import annotations

import json
from typing import Dict

import numpy as np

from ..target import METADATA_PREFIX as PREFIX
from ..target import ExportError, ExportJob, Target
from .convert import OPSET, float_model
from .describe import describe_model, write_metadata
from .qdq import CALIBRATION, quantize


class OnnxTarget(Target):
    name = "onnx"
    suffix = ".onnx"
    precisions = {"float32": "float32", "int8": "int8"}
    description = (f"ONNX opset {OPSET} for ONNX Runtime; int8 is QDQ (per-channel int8 weights, "
                   "uint8 or int8 activations) from static calibration")

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
