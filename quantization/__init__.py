"""tinymoat.quantization: make MOAT models integer-friendly (QAT and post-training).

    deploy_model(model)               exact float rewrite into the int8 runtime's layers
    quantize_model(model)             quantization-aware training model (tfmot wrappers)
    int8_tflite(model, images | qat_model=...)
                                      the INT8 TFLite graph the SDK ships (export and eval)
    qat_convert / ptq_convert         the converter's int8 flatbuffer, before the graph passes
    float_ops / tflite_ops            what a converted graph computes in
    forms                             calibration statistics, GELU forms, INT8 graphs

See deploy.py, configs.py (where quantizers go and why), qat.py, ptq.py,
int8_graph.py and the tflite/ package (the flatbuffer and the graph passes).
Names load on first use, so the flatbuffer tools and the choice tables
import without TensorFlow.
"""

from tinymoat._lazy import lazy_names as _lazy_names

from .forms import CALIBRATIONS, GELU_FORMS, GRAPHS, INT8_GELU_FORMS  # noqa: F401

_EXPORTS = {
    "MoatQuantizeConfig": "configs", "MoatQuantizeScheme": "configs",
    "UnsupportedLayerError": "configs", "quantize_config_for": "configs", "register": "configs",
    "deploy_model": "deploy", "flatten_model": "deploy", "gelu_form": "deploy",
    "is_deploy_graph": "deploy",
    "Agreement": "metrics", "agreement": "metrics", "compare": "metrics",
    "sqnr_db": "metrics",
    "reset_batch_norm_statistics": "evaluate", "run_tflite": "evaluate",
    "synthetic_images": "evaluate",
    "int8_tflite": "int8_graph",
    "NotFullyIntegerError": "ptq", "calibrate_ranges": "ptq", "ptq_convert": "ptq",
    "activation_ranges": "qat", "check_ranges": "qat", "custom_objects": "qat",
    "distill": "qat", "initialize_ranges": "qat", "link_shared_ranges": "qat",
    "load_qat": "qat", "qat_convert": "qat", "qat_converter": "qat",
    "quantize_model": "qat", "quantize_scope": "qat", "save_qat": "qat",
    "Op": "tflite.ops", "float_op_details": "tflite.ops", "float_ops": "tflite.ops",
    "format_ops": "tflite.ops", "io_details": "tflite.ops", "op_details": "tflite.ops",
    "op_histogram": "tflite.ops", "tflite_ops": "tflite.ops",
}

__all__ = sorted([*_EXPORTS, "CALIBRATIONS", "GELU_FORMS", "GRAPHS", "INT8_GELU_FORMS"])


__getattr__, __dir__ = _lazy_names(__name__, _EXPORTS, globals())
