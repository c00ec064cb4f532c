"""Core ML target: an ML Program image classifier (float32, float16, 8-bit weights, W8A8).

The artifact takes an RGB image and returns `classLabel`, `classLabel_probs`
(softmax probabilities, a dictionary over the labels) and the raw `logits`.
Core ML's image input has one scale and a bias per channel, so the ImageNet
normalisation (x - mean_c) / std_c is split into

    ImageType:  x * a + b_c          a = 1 / std_0,  b_c = -mean_c / std_0
    in graph:   (...) * r_c          r_c = std_0 / std_c   (left out if all std are equal)

`coreml_keras_model` builds that wrapper; it must give job.model's logits for
x * a + b_c.

Precisions (PRECISION_DETAIL says what weights and activations each has):
float32 and float16 compute in that type; weights8 stores int8 per-channel
weights (constexpr_affine_dequantize, iOS 16) and computes in float16; int8
(W8A8, iOS 17) also quantizes to int8 the activations entering every conv,
linear and matmul (quantize -> dequantize pairs), with asymmetric per-tensor
ranges calibrated by running the float16 program in the reference executor
on the job's calibration images (coremltools' own activation calibration
needs the Core ML runtime). Every precision stores the relative position
bias compactly: each attention block's small table and a gather by an index
shared by the blocks of one window size (exact; `compact_relative_bias`).

Core ML itself only runs on macOS; elsewhere `predict` runs the
saved package with the NumPy reference executor (executor.py), and the
report's notes say which one produced the numbers. `describe` reads the saved
spec on any OS.

Modules: `target` (CoreMLTarget and the iOS rules), `convert` (Keras -> ML
Program, metadata, deterministic saving), `program` (edits of the program:
compact bias, 8-bit weights, W8A8 calibration and quantization), `describe`
(what a saved package says, on any OS), `executor` (the NumPy reference
executor), `names` (the facts they share).
"""

from .convert import convert, coreml_keras_model, image_preprocessing, rewrite
from .names import (CALIBRATION, DEFAULT_IOS, INPUT_LAYOUT, IOS, LABEL, LOGITS, MINIMUM_IOS,
                    PRECISION_DETAIL, PROBABILITIES)
from .program import activation_quantization, calibrate, compact_relative_bias
from .target import (CoreMLTarget, check_ios, check_precision, default_ios, deployment_target,
                     numerics_source)

__all__ = ["CALIBRATION", "CoreMLTarget", "DEFAULT_IOS", "INPUT_LAYOUT", "IOS", "LABEL", "LOGITS",
           "MINIMUM_IOS", "PRECISION_DETAIL", "PROBABILITIES", "activation_quantization",
           "calibrate", "check_ios", "check_precision", "compact_relative_bias", "convert",
           "coreml_keras_model", "default_ios", "deployment_target", "image_preprocessing",
           "numerics_source", "rewrite"]
