"""The TFLite target: packaging a converted graph into the shipped .tflite.

    target     TFLiteTarget: float conversions, the INT8 graph from
               tinymoat.quantization.int8_tflite, validation in LiteRT
    compact    the relative position bias as a table plus a gather (exact)
    interface  the output softmax, I/O names and the serving signature
    metadata   Android image-classifier metadata with packed labels (no TensorFlow)

The target's names load on first use, so reading or writing metadata does
not import TensorFlow.
"""

import importlib as _importlib

__all__ = ["TFLiteTarget", "calibration_pixels", "validated_runtime"]


def __getattr__(name):
    if name in __all__:
        value = getattr(_importlib.import_module(f"{__name__}.target"), name)
        globals()[name] = value
        return value
    try:  # a submodule
        return _importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
