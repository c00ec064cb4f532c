"""The facts of the Core ML target that its modules share: iOS versions per precision,
what each precision stores and computes, output names, the input convention."""

IOS = ("15", "16", "17", "18")           # ML Programs need iOS 15 (Core ML 5)
# The lowest iOS of each precision: constexpr dequantization of weights is an iOS 16
# op, quantize / dequantize of activations iOS 17 ops.
MINIMUM_IOS = {"float32": "15", "float16": "15", "weights8": "16", "int8": "17"}
PRECISION_DETAIL = {"float32": ("float32", "float32"), "float16": ("float16", "float16"),
                    "weights8": ("int8", "float16"), "int8": ("int8", "int8")}
# Ops whose float inputs (other than constants) the int8 program quantizes.
QUANTIZED_INPUTS = {"conv": ("x",), "linear": ("x",), "matmul": ("x", "y")}
CALIBRATION = ("minmax",)
DEFAULT_IOS = "16"
SPEC_VERSION_IOS = {6: "15", 7: "16", 8: "17", 9: "18"}
CHANNEL_SCALE = "channel_scale"
LOGITS, LABEL, PROBABILITIES = "logits", "classLabel", "classLabel_probs"
INPUT_LAYOUT = "RGB image; x * scale + bias_c (image input), then * channel_scale_c (in graph)"


def ios_version(minimum_ios) -> str:
    """'17' of --ios 17, iOS17 or ios17."""
    return str(minimum_ios).lower().removeprefix("ios")
