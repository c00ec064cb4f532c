"""The TFLite target: packaging a converted graph into the shipped .tflite.

    target     TFLiteTarget: float conversions, the INT8 graph from
               tinymoat.quantization.int8_tflite, validation in LiteRT
    compact    the relative position bias as a table plus a gather (exact)
    interface  the output softmax, I/O names and the serving signature
    metadata   Android image-classifier metadata with packed labels
"""

from .target import TFLiteTarget, calibration_pixels, validated_runtime

__all__ = ["TFLiteTarget", "calibration_pixels", "validated_runtime"]
