"""tinymoat.quantization: make MOAT models integer-friendly (QAT and post-training).

    deploy_model(model)               exact float rewrite into the int8 runtime's layers
    quantize_model(model)             quantization-aware training model (tfmot wrappers)
    qat_convert(qat_model)            its full-integer TFLite flatbuffer (learned ranges)
    ptq_convert(model, images, ...)   full-integer TFLite from calibration images
    tflite_ops / float_ops            what a converted graph computes in

See deploy.py, configs.py (where quantizers go and why), qat.py and ptq.py.
"""

from .configs import (MoatQuantizeConfig, MoatQuantizeScheme, UnsupportedLayerError,
                      quantize_config_for, register)
from .deploy import deploy_model, flatten_model, gelu_form, is_deploy_graph
from .evaluate import (Agreement, agreement, reset_batch_norm_statistics, run_tflite,
                       synthetic_images)
from .ptq import CALIBRATIONS, NotFullyIntegerError, calibrate_ranges, ptq_convert
from .qat import (activation_ranges, check_ranges, custom_objects, distill, initialize_ranges,
                  link_shared_ranges, load_qat, qat_convert, qat_converter, quantize_model,
                  quantize_scope, save_qat)
from .tflite_ops import (Op, float_op_details, float_ops, format_ops, io_details, op_details,
                         op_histogram, tflite_ops)

__all__ = [
    "Agreement", "CALIBRATIONS", "MoatQuantizeConfig", "MoatQuantizeScheme",
    "NotFullyIntegerError", "Op", "UnsupportedLayerError", "activation_ranges", "agreement",
    "calibrate_ranges", "check_ranges", "custom_objects", "deploy_model", "distill",
    "flatten_model", "float_op_details", "float_ops", "format_ops", "gelu_form",
    "initialize_ranges",
    "io_details", "is_deploy_graph", "link_shared_ranges", "load_qat", "op_details",
    "op_histogram", "ptq_convert", "qat_convert", "qat_converter", "quantize_config_for",
    "quantize_model", "quantize_scope", "register", "reset_batch_norm_statistics", "run_tflite",
    "save_qat", "synthetic_images", "tflite_ops",
]
