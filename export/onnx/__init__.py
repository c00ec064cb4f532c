"""ONNX target: float32 from tf2onnx, INT8 as QDQ from ONNX Runtime's static quantizer,
and their ORT-format files for ONNX Runtime Mobile.

Modules: `target` (the Targets: .onnx, and .ort with `--ort`), `convert`
(tf2onnx of the deploy graph, compact relative bias, GELU in the form ORT
fuses, the uint8 pixel input), `canonical` (names and order that make the
same inputs give the same bytes), `qdq` (calibration and the choice of nodes
ORT runs in integer kernels), `describe` (metadata and what can be checked
without running), `mobile` (the .ort conversion and the NNAPI / Core ML
usability verdict).

The input is named "image" (INPUT) and the output "probabilities" (PROBABILITIES,
a float Softmax after the logits; the default) or "logits" (OUTPUT). The
INT8 file takes uint8 RGB pixels NHWC and normalises them in the graph, as
the INT8 TFLite does (`--input-type float32`: normalised float input); the
float32 file takes normalised NHWC float32. `metadata_props` carry the
normalisation, labels and layout, so an app (and `predict`) can prepare
pixels from the file alone.
"""

from .canonical import INDEX_PREFIX, canonicalize, drop_identity_reshapes
from .convert import (INPUT, OPSET, OUTPUT, PROBABILITIES, compact_relative_bias, float_model,
                      pixel_input, probabilities_output)
from .describe import (INPUT_LAYOUT, ORT_SIZE_LIMIT, PIXEL_LAYOUT, describe_model, describe_ort,
                       metadata, write_metadata)
from .mobile import to_ort, usability
from .qdq import CALIBRATION, calibrate, quantize
from .target import OnnxTarget, OrtTarget, run_pixels, takes_pixels, with_ort

__all__ = ["CALIBRATION", "INDEX_PREFIX", "INPUT", "INPUT_LAYOUT", "OPSET",
           "ORT_SIZE_LIMIT", "OUTPUT", "PROBABILITIES", "OnnxTarget", "OrtTarget",
           "PIXEL_LAYOUT", "calibrate", "canonicalize", "compact_relative_bias",
           "describe_model", "describe_ort", "drop_identity_reshapes", "float_model",
           "metadata", "pixel_input", "probabilities_output", "quantize", "run_pixels",
           "takes_pixels", "to_ort", "usability", "with_ort", "write_metadata"]
