"""The INT8 TFLite graph the SDK ships: one function from a model to its final int8 bytes.

`int8_tflite` converts (post-training calibration of a float model, or the
learned ranges of a QAT model) and then applies the graph passes that make
the graph what the runtimes run:

  graph "integer"  SOFTMAX and RSQRT become int8 ops XNNPACK runs
                   (tflite/integer.py) and GELU's sigmoid form loses its MUL
                   by 1.702 to a relabelling of scales (tflite/gelu.py);
                   every op is int8.
  graph "mixed"    quantized from the exact GELU; GELU, SOFTMAX and RSQRT
                   computed in float32 inside XNNPACK (tflite/islands.py).

tinymoat-export and tinymoat-eval both call it, so the accuracy tinymoat-eval
reports is that of the graph tinymoat-export ships. The exporter then only
packages the bytes (compact relative bias, names, an output softmax,
metadata), which changes no computed value.
"""

from __future__ import annotations

from typing import Dict, Optional

from tinymoat._keras import tf

from .forms import CALIBRATIONS, DEFAULT_GRAPH, DEFAULT_INT8_GELU, GRAPHS, INT8_GELU_FORMS
from .ptq import NotFullyIntegerError

IO_TYPES = ("int8", "uint8", "float32")


def int8_tflite(model=None, images=None, *, qat_model=None, graph: str = DEFAULT_GRAPH,
                gelu: Optional[str] = None, calibration: str = "minmax",
                input_type: str = "int8", output_type: str = "int8",
                notes: Optional[Dict] = None) -> bytes:
    """The shipped INT8 TFLite flatbuffer of a float model (with calibration images) or of
    a QAT model.

    Args:
      model, images: the float model and its calibration images, [N, H, W, 3]
        float32 as the model takes them (normalised, or raw pixels for a model
        with a pixel input). Not with `qat_model`.
      qat_model: a QAT model (quantize_model, trained or range-initialised); its
        own GELU form and learned ranges are used.
      graph: "integer" (default) or "mixed" (forms.GRAPHS).
      gelu: the int8 GELU form of a PTQ "integer" graph ("sigmoid" by default,
        or "tanh"); the "mixed" graph is always quantized from the exact GELU.
      calibration: the PTQ range statistic (forms.CALIBRATIONS).
      input_type, output_type: "int8", "uint8" or "float32".
      notes: filled with what was done: ranges, gelu, the passes' rewrites and
        float_ops (the ops left in float; empty for the "integer" graph).

    Raises NotFullyIntegerError when an "integer" graph keeps a float op, and
    ValueError for an unknown choice.
    """
    from . import qat as qat_module
    from .deploy import gelu_form
    from .ptq import ptq_convert
    from .tflite import gelu as gelu_pass
    from .tflite import integer, islands
    from .tflite.ops import float_op_details, format_ops

    notes = {} if notes is None else notes
    gelu = _check(model, images, qat_model, graph, gelu, calibration, input_type, output_type)
    types = {"input_type": _tf_type(input_type), "output_type": _tf_type(output_type)}
    mixed = graph == "mixed"
    if qat_model is not None:
        data = qat_module.qat_convert(qat_model, **types)
        notes["ranges"] = "learned in quantization-aware training"
        notes["gelu"] = f"{gelu_form(qat_model)} form, int8"
    else:
        data = ptq_convert(model, images, calibration=calibration, mixed=mixed, gelu=gelu,
                           **types)
        notes["ranges"] = f"post-training calibration ({calibration}) on {len(images)} images"
        notes["gelu"] = "erf, in float" if mixed else f"{gelu} form, int8"
    if mixed:
        data = islands.float_islands(data, notes=notes)
    else:
        data = integer.integer_kernels(data, notes)
        data = gelu_pass.fold_gelu_scale(data, notes)
    left = float_op_details(data)
    notes["float_ops"] = [str(d.op) for d in left]
    if left and not mixed:
        raise NotFullyIntegerError(f"{len(left)} ops are not integer:\n{format_ops(left)}")
    return data


def _check(model, images, qat_model, graph, gelu, calibration, input_type, output_type) -> str:
    """The PTQ GELU form to quantize from; ValueError for choices that do not fit."""
    if (qat_model is None) == (model is None):
        raise ValueError("give either a float model with calibration images or a qat_model")
    if model is not None and images is None:
        raise ValueError("a float model needs calibration images")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {', '.join(GRAPHS)}, not {graph!r}")
    if gelu is not None and gelu not in INT8_GELU_FORMS:
        raise ValueError(f"gelu must be one of {', '.join(INT8_GELU_FORMS)}, not {gelu!r}")
    if gelu is not None and graph == "mixed":
        raise ValueError("the mixed graph is quantized from the exact GELU: give no gelu form")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}, "
                         f"not {calibration!r}")
    for name, value in (("input_type", input_type), ("output_type", output_type)):
        if value not in IO_TYPES:
            raise ValueError(f"{name} must be one of {', '.join(IO_TYPES)}, not {value!r}")
    return "erf" if graph == "mixed" else gelu or DEFAULT_INT8_GELU


def _tf_type(name: str):
    return {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[name]
