"""TFLite target: float32, float16, dynamic-range and full-integer INT8.

Full-integer models with a uint8 input take raw RGB pixels (the normalisation
is the first op of the graph, because a uint8 tensor has one scale for all
channels); every other variant takes normalised float or int8 input, and the
metadata tells apps which. The relative position bias is stored compactly
(`tflite_compact.py`) and Android-readable metadata with labels is attached.
Float variants convert the exact float rewrite of the model (deploy_model
with erf GELU). The INT8 graph uses GELU's sigmoid form, and SOFTMAX and
RSQRT, which XNNPACK has no int8 kernel for, are rewritten into int8 ops it
has (`tflite_integer.py`), and its sigmoid GELUs lose their MUL by a constant to
a relabelling of scales that LiteRT 1.4's XNNPACK needs (`tflite_gelu.py`);
`--int8 --mixed` is quantized from the exact GELU and computes GELU, SOFTMAX
and RSQRT in float instead (`tflite_islands.py`).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from tinymoat import __version__, with_pixel_input
from tinymoat._keras import tf
from tinymoat.quantization.tensors import dequantize, quantize  # noqa: F401  (also for tests)

from . import tflite_compact, tflite_gelu, tflite_integer, tflite_io, tflite_islands
from .target import ExportError, ExportJob, Target
from .tflite_metadata import add_image_classifier_metadata, read_metadata

IO_TYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}


def _tf_type(name):
    return {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[name]


class TFLiteTarget(Target):
    name = "tflite"
    suffix = ".tflite"
    precisions = {"float32": "float32", "float16": "float16", "dynamic": "dynamic",
                  "int8": "int8", "int8-mixed": "int8-mixed"}
    description = "LiteRT / TensorFlow Lite flatbuffer with image-classifier metadata"
    precision_details = {
        "float32": ("float32", "float32"),
        "float16": ("float16", "float32"),           # weights widened to float32 at load
        "dynamic": ("int8", "float32"),              # int8 weights, float activations
        "int8": ("int8", "int8"),                    # every tensor between ops int8/int32
        "int8-mixed": ("int8", "int8; GELU, softmax and 1/sqrt in float32"),
    }

    def check(self, job: ExportJob, precision: str) -> None:
        from tinymoat.quantization import CALIBRATIONS
        if precision.startswith("int8") and job.calibration_statistic not in CALIBRATIONS:
            raise ExportError(f"tflite: calibration {job.calibration_statistic!r} is not one of "
                              f"{', '.join(CALIBRATIONS)}")
        if job.qat_model is not None and job.input_type == "uint8":
            raise ExportError("tflite: a QAT model takes normalised input; export it with "
                              "--input-type int8 or float32")

    def reference(self, job: ExportJob, precision: str) -> str:
        return "qat" if job.qat_model is not None and precision.startswith("int8") else "float"

    def export(self, job: ExportJob, precision: str, path: str) -> Dict:
        notes: Dict = {}
        pixel_input = precision.startswith("int8") and job.input_type == "uint8"
        if precision.startswith("int8"):
            data = self._integer(job, pixel_input, notes, mixed=precision == "int8-mixed",
                                 from_qat=self.reference(job, precision) == "qat")
        else:
            data = self._float(job.model, precision)
        data = tflite_compact.compact_relative_bias(data, notes)
        data = tflite_compact.shorten_tensor_names(data, notes)
        if job.outputs == "probabilities":
            data = tflite_io.append_softmax(data, notes)
        data = tflite_io.name_io(data, outputs=(job.outputs,), notes=notes)
        mean, std = ((0.0,) * 3, (1.0,) * 3) if pixel_input else job.mean_std
        notes["validated_runtime"] = validated_runtime()
        data = add_image_classifier_metadata(
            data, name=f"{job.variant} ({precision})", labels=job.labels,
            mean=[float(m) for m in mean], std=[float(s) for s in std],
            description=(f"{job.variant} image classifier, {job.input_size[0]}x"
                         f"{job.input_size[1]} RGB, {precision}; input "
                         + ("raw pixels 0..255" if pixel_input else
                            f"normalised ({job.normalization}: (x - mean) / std)")
                         + f"; validated in {notes['validated_runtime']}"),
            version=__version__, author="tinymoat", license="Apache-2.0")
        with open(path, "wb") as f:
            f.write(data)
        return notes

    @staticmethod
    def _float(model, precision) -> bytes:
        # The exact float rewrites of the int8 deploy graph (BatchNorms folded on
        # both sides, q/k/v/o as 1x1 convolutions with the query scale, key and
        # value biases folded, LayerNorm affines folded), erf GELU kept: the
        # same function up to float rounding with fewer ops (tiny-moat-0 at 224:
        # 355 ops instead of 398; 1 thread, dense bias: from equal to 0.5 ms
        # faster than the plain conversion across runs).
        from tinymoat.quantization import deploy_model
        converter = tf.lite.TFLiteConverter.from_keras_model(deploy_model(model, gelu="erf"))
        if precision in ("float16", "dynamic"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()

    @staticmethod
    def _integer(job: ExportJob, pixel_input: bool, notes: Dict, mixed: bool,
                 from_qat: bool) -> bytes:
        from tinymoat import quantization
        if from_qat:
            data = quantization.qat_convert(job.qat_model, input_type=_tf_type(job.input_type),
                                            output_type=_tf_type(job.output_type))
            notes["ranges"] = "learned in quantization-aware training"
            notes["gelu"] = f"{quantization.gelu_form(job.qat_model)} form, int8"
        else:
            model = with_pixel_input(job.model, job.normalization) if pixel_input else job.model
            images = (calibration_pixels(job.calibration) if pixel_input
                      else job.normalized(job.calibration))
            data = quantization.ptq_convert(model, images, input_type=_tf_type(job.input_type),
                                            output_type=_tf_type(job.output_type),
                                            calibration=job.calibration_statistic,
                                            mixed=mixed, gelu="erf" if mixed else job.int8_gelu)
            notes["ranges"] = (f"post-training calibration ({job.calibration_statistic}) on "
                               f"{len(job.calibration)} images")
            notes["gelu"] = "erf, in float" if mixed else f"{job.int8_gelu} form, int8"
        if mixed:
            data = tflite_islands.float_islands(data, notes=notes)
        else:
            data = tflite_integer.integer_kernels(data, notes)
            data = tflite_gelu.fold_gelu_scale(data, notes)
        left = quantization.float_ops(data)
        notes["float_ops"] = [str(op) for op in left]
        if left and not mixed:
            raise ExportError(f"the INT8 graph is not fully integer: {len(left)} float op(s), "
                              f"e.g. {left[0]}; pass --mixed to accept a mixed graph")
        return data

    def predict(self, path: str, pixels: np.ndarray) -> np.ndarray:
        from ai_edge_litert.interpreter import Interpreter
        with open(path, "rb") as f:
            model_bytes = f.read()
        meta = read_metadata(model_bytes)
        mean = np.asarray(meta["input"]["mean"], np.float32)
        std = np.asarray(meta["input"]["std"], np.float32)
        interpreter = Interpreter(model_content=model_bytes)
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        logits = []
        for image in np.asarray(pixels):
            x = (image[None].astype(np.float32) - mean) / std
            interpreter.set_tensor(inp["index"], quantize(x, inp))
            interpreter.invoke()
            logits.append(dequantize(interpreter.get_tensor(out["index"]), out)[0])
        return np.stack(logits)

    def describe(self, path: str) -> Dict:
        from ai_edge_litert.interpreter import Interpreter

        from tinymoat import quantization
        with open(path, "rb") as f:
            data = f.read()
        interpreter = Interpreter(model_content=data)
        ops = [d["op_name"] for d in interpreter._get_ops_details()]
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        meta = read_metadata(data)
        return {
            "ops": len(ops), "op_types": sorted(set(ops)),
            "input": {"dtype": np.dtype(inp["dtype"]).name, "shape": inp["shape"].tolist(),
                      "quantization": list(inp["quantization"])},
            "output": {"dtype": np.dtype(out["dtype"]).name, "shape": out["shape"].tolist()},
            "float_ops": [str(op) for op in quantization.float_ops(data)],
            "metadata": {k: meta[k] for k in ("name", "version", "min_parser_version")}
                        | {"input": meta["input"], "labels": len(meta["labels"])},
        }


def validated_runtime() -> str:
    """The runtime the pipeline validates TFLite artifacts in (`TFLiteTarget.predict`): the
    LiteRT of this environment, e.g. 'ai-edge-litert 2.3.0'. Other runtimes and ARM are
    checked by bench/runtime_matrix.py and bench/arm64_check.py, not per artifact."""
    import importlib.metadata
    try:
        return f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
    except importlib.metadata.PackageNotFoundError:
        return "ai-edge-litert (version unknown)"


def calibration_pixels(pixels: np.ndarray) -> np.ndarray:
    """Calibration images for a raw-pixel input, plus one image spanning 0..255.

    The input scale is calibrated from what it sees; one black-and-white image
    pins it to exactly [0, 255] (uint8 scale 1, zero point 0), so apps can pass
    camera pixels unchanged.
    """
    pixels = np.asarray(pixels, np.float32)
    span = np.zeros_like(pixels[:1])
    span[:, : span.shape[1] // 2] = 255.0
    return np.concatenate([pixels, span])
