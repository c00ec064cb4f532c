"""The TFLite target: packaging a converted graph into the shipped .tflite.

    target     TFLiteTarget: float conversions, the INT8 graph from
               tinymoat.quantization.int8_tflite, validation in LiteRT
    compact    the relative position bias as a table plus a gather (exact)
    interface  the output softmax, I/O names and the serving signature
    metadata   Android image-classifier metadata with packed labels (no TensorFlow)

The target's names load on first use, so reading or writing metadata does
not import TensorFlow.
"""

from tinymoat._lazy import lazy_names as _lazy_names

__all__ = ["TFLiteTarget", "calibration_pixels", "validated_runtime"]
__getattr__, __dir__ = _lazy_names(__name__, {name: "target" for name in __all__}, globals())
