"""ONNX target (modules: target, convert, canonical, qdq, describe): float32 from tf2onnx, INT8 as QDQ from ONNX Runtime's static quantizer.

Both convert the exact float deploy graph (`tinymoat.quantization.deploy_model`
with erf GELU, as the float TFLite file): BatchNorms folded, q/k/v/o as 1x1
convolutions. ORT's float32 tiny-moat-0 at 224 then took 0.91x the time of the
reference graph's (43.6 vs 48.0 ms, 1 thread, AVX2, side by side).

Both artifacts take normalised NHWC float32 input named "image" and return
"logits"; `metadata_props` carry the normalisation, labels and layout, so an app
(and `predict`) can prepare pixels from the file alone. Three post-passes run on
the converted graph:

* the dense relative-position-bias constants that tf2onnx folds per attention
  block are stored as their small tables plus one shared Gather index (exact,
  checked value by value; about a quarter of tiny-moat-0's file otherwise);
* INT8 calibration runs through ONNX Runtime's calibrators with three changes
  to their defaults (see `calibrate`), and the ranges reach `quantize_static`
  through its calibration cache;
* names and node order are made canonical and identity Reshapes dropped,
  because tf2onnx numbers generated names with a process-wide counter, orders
  some nodes by hash order and keeps or removes identity Reshapes by hash
  order too: the same inputs then give byte-identical files.
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
