"""The choices that shape an INT8 graph, in one table that every CLI, training and bench reads.

Plain data (no TensorFlow), so `--help` and argument checks stay fast.
"""

# How activation ranges are chosen from calibration images (ptq.py).
CALIBRATIONS = ("minmax", "percentile", "mse", "entropy")

# GELU as deploy_model writes it. "erf" is the model's own GELU; the others are
# forms that XNNPACK runs in int8 (the full-integer graph cannot hold erf as
# anything but TFLite's GELU table, which XNNPACK does not take).
GELU_FORMS = {
    "sigmoid": "x * sigmoid(1.702 x): MUL, LOGISTIC, MUL; the fastest int8 form",
    "tanh": "GELU's tanh form: within 5e-4 of erf, two more int8 ops per GELU",
    "erf": "the exact GELU: float models and the mixed graph",
}
INT8_GELU_FORMS = ("sigmoid", "tanh")   # what --gelu / --qat-gelu accept
DEFAULT_INT8_GELU = "sigmoid"

# The INT8 graphs the SDK ships (tinymoat.quantization.int8_tflite).
GRAPHS = {
    "integer": "every op int8; softmax and LayerNorm's 1/sqrt rewritten into int8 ops "
               "XNNPACK runs; runs on integer-only accelerators",
    "mixed": "int8 graph from the exact GELU with GELU, softmax and 1/sqrt computed in "
             "float32 inside XNNPACK (--mixed)",
}
DEFAULT_GRAPH = "integer"
