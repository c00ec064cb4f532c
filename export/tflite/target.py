"""TFLite target: float32, float16, dynamic-range and full-integer INT8.

Full-integer models with a uint8 input take raw RGB pixels (the normalisation
is the first op of the graph, because a uint8 tensor has one scale for all
channels); every other variant takes normalised float or int8 input, and the
metadata tells apps which. The relative position bias is stored compactly
(`compact.py`) and Android-readable metadata with labels is attached
(`metadata/`). Float variants convert the exact float rewrite of the model
(deploy_model with erf GELU). The INT8 graph is tinymoat.quantization's
`int8_tflite` ("integer", or "mixed" for `--int8 --mixed`), the same bytes
tinymoat-eval scores; this module only packages it.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from tinymoat import __version__, with_pixel_input
from tinymoat._keras import tf
from tinymoat.quantization.tensors import dequantize, quantize

from ..target import ExportError, ExportJob, Target
from . import compact, interface
from .metadata import add_image_classifier_metadata, read_metadata


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
        from tinymoat.quantization.forms import CALIBRATIONS
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
        data = compact.compact_relative_bias(data, notes)
        data = compact.shorten_tensor_names(data, notes)
        if job.outputs == "probabilities":
            data = interface.append_softmax(data, notes)
        data = interface.name_io(data, outputs=(job.outputs,), notes=notes)
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
        # same function up to float rounding with fewer ops than the plain
        # conversion, and no slower (bench/int8_speed.py times both).
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
            model, images, qat_model = None, None, job.qat_model
        else:
            model = with_pixel_input(job.model, job.normalization) if pixel_input else job.model
            images = (calibration_pixels(job.calibration) if pixel_input
                      else job.normalized(job.calibration))
            qat_model = None
        try:
            return quantization.int8_tflite(
                model, images, qat_model=qat_model, graph="mixed" if mixed else "integer",
                gelu=None if mixed or from_qat else job.int8_gelu,
                calibration=job.calibration_statistic, input_type=job.input_type,
                output_type=job.output_type, notes=notes)
        except quantization.NotFullyIntegerError as exc:
            count, *ops = str(exc).splitlines()
            raise ExportError(f"the INT8 graph is not fully integer: {count.split(' ')[0]} "
                              f"float op(s), e.g. {ops[0] if ops else '?'}; pass --mixed to "
                              "accept a mixed graph") from None

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
