"""ONNX target: float32 from tf2onnx, INT8 as QDQ from ONNX Runtime's static quantizer.

Modules: `target` (the Target), `convert` (tf2onnx of the deploy graph,
compact relative bias, GELU in the form ORT fuses), `canonical` (names and
order that make the same inputs give the same bytes), `qdq` (calibration and
the choice of nodes ORT runs in integer kernels), `describe` (metadata and
what can be checked without running).

Both artifacts take normalised NHWC float32 input named "image" and return
"logits"; `metadata_props` carry the normalisation, labels and layout, so an
app (and `predict`) can prepare pixels from the file alone.
"""

from .canonical import INDEX_PREFIX, canonicalize, drop_identity_reshapes
from .convert import INPUT, OPSET, OUTPUT, compact_relative_bias, float_model
from .describe import INPUT_LAYOUT, describe_model, metadata, write_metadata
from .qdq import CALIBRATION, calibrate, quantize
from .target import OnnxTarget

__all__ = ["CALIBRATION", "INDEX_PREFIX", "INPUT", "INPUT_LAYOUT", "OPSET", "OUTPUT",
           "OnnxTarget", "calibrate", "canonicalize", "compact_relative_bias",
           "describe_model", "drop_identity_reshapes", "float_model", "metadata", "quantize",
           "write_metadata"]
