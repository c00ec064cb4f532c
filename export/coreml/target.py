"""CoreMLTarget: the export target (check, export, predict, describe) and the iOS rules."""

from __future__ import annotations

import sys
from typing import Dict

import numpy as np

from ..target import ExportError, ExportJob, Target
from .convert import convert, describe_spec, rewrite, save
from .describe import describe_package
from .program import calibrate, compact_relative_bias, quantize_activations, quantize_weights
from .names import (CALIBRATION, DEFAULT_IOS, IOS, LOGITS, MINIMUM_IOS, PRECISION_DETAIL,
                    ios_version)


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
        model, logits = convert(job, precision, target)
        notes = {"minimum_deployment_target": f"iOS{ios_version(job.minimum_ios)}",
                 "weights_activations": "weights {weights}, activations {activations}".format(
                     **self.precision_detail(precision))}
        edits = [lambda program: compact_relative_bias(program, notes)]
        if precision == "int8":
            model = rewrite(model, edits)
            ranges = calibrate(model, job, notes)
            edits = [lambda program: quantize_activations(program, ranges, notes)]
            if job.qat_model is not None:
                notes["qat"] = ("Core ML int8 uses post-training calibration, not the QAT "
                                "model's ranges")
        if precision in ("weights8", "int8"):
            edits.append(quantize_weights)
        model = rewrite(model, edits)
        spec = model.get_spec()
        ct.utils.rename_feature(spec, logits, LOGITS)
        describe_spec(spec, job, precision, self.precision_detail(precision))
        model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
        save(model, path)
        notes.update({"probabilities": "classLabel_probs are softmax probabilities; 'logits' "
                                       "is raw",
                      "numerics": numerics_source()})
        return notes

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        """Logits from the Core ML runtime on macOS, else from the reference executor."""
        pixels = np.asarray(pixels, np.uint8)
        if sys.platform != "darwin":
            from . import executor as coreml_executor
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
    return ("reference executor (NumPy, tinymoat.export.coreml.executor), not the Core ML "
            "runtime, which needs macOS")

def _check_pixels(pixels: np.ndarray, image) -> None:
    if pixels.ndim != 4 or pixels.shape[1:] != (image.height, image.width, 3):
        raise ValueError(f"expected pixels [N, {image.height}, {image.width}, 3], "
                         f"got {list(pixels.shape)}")


# ------------------------------------------------------------ preprocessing

def check_ios(minimum_ios: str) -> str:
    """The iOS version of --ios, checked without importing coremltools."""
    version = ios_version(minimum_ios)
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
