"""Quantization-aware training models of MOAT and their int8 TFLite conversion.

    qat = quantize_model(model)              # deploy rewrite + tfmot wrappers
    initialize_ranges(qat, images)           # optional: ranges from a few batches
    qat.compile(...); qat.fit(...)           # ranges and weights learn together
    tflite = qat_convert(qat)                # int8 in, int8 out, no calibration data

The QAT model is the deploy graph (deploy.py) with a fake quantizer on every
tensor the int8 TFLite graph stores (configs.py). Its ranges are what the
converter uses: conversion needs no representative dataset, and if it asked
for one, some tensor would lack a fake quantizer.
"""

from __future__ import annotations

import contextlib
from typing import List, Optional, Tuple

import numpy as np

from tinymoat import saving
from tinymoat._keras import keras, tf
from tinymoat.layers import CUSTOM_OBJECTS

import tensorflow_model_optimization as tfmot  # noqa: E402

from .configs import MoatQuantizeConfig, MoatQuantizeScheme, quantize_config_for
from .converter import keras_converter
from .deploy import deploy_model, is_deploy_graph
from .forms import GELU_FORMS
from .layers import LAYERS
from .quantizers import QUANTIZERS, ActivationQuantizer, SharedRangeQuantizer

_qk = tfmot.quantization.keras


def custom_objects() -> dict:
    """Everything needed to deserialize a QAT model (layers, configs, quantizers)."""
    objects = dict(CUSTOM_OBJECTS)
    objects.update(LAYERS)
    objects.update(QUANTIZERS)
    objects["MoatQuantizeConfig"] = MoatQuantizeConfig
    return objects


@contextlib.contextmanager
def quantize_scope():
    """tfmot's quantize_scope with the MOAT layers, configs and quantizers added
    (for keras.models.load_model / clone_model of QAT models)."""
    with _qk.quantize_scope(custom_objects()) as scope:
        yield scope


def quantize_model(model: keras.Model, *, ema_decay: float = 0.99,
                   gelu: str = "sigmoid") -> keras.Model:
    """A quantization-aware training copy of a MOAT model.

    The float model is first rewritten by `deploy_model` (BN folding, LayerNorm
    decomposition, ...; skipped if `model` already is a deploy graph), then
    every layer is annotated and tfmot's `quantize_apply` wraps it with the
    QuantizeConfig of the MOAT registry (`MoatQuantizeScheme`), which also
    puts a quantizer on the model input.

    Activation ranges start empty and are set by the first training batch
    (then follow an EMA with `ema_decay`); call `initialize_ranges` to set
    them from data without training. The returned model is not compiled; the
    input model is not modified.

    gelu: the GELU form the QAT model trains with and its int8 graph runs
    (deploy_model): "sigmoid" (x * sigmoid(1.702 x), the fastest on CPUs),
    "tanh" (TanhGelu, within 5e-4 of the exact GELU; two more int8 ops each,
    also XNNPACK's) or "erf" (TFLite's int8 GELU, which XNNPACK does not
    take). Ignored when `model` already is a deploy graph: it keeps its form.
    """
    if gelu not in GELU_FORMS:
        raise ValueError(f"gelu must be one of {tuple(GELU_FORMS)}, not {gelu!r}")
    float_model = model if is_deploy_graph(model, gelu) else deploy_model(model, gelu=gelu)
    for layer in float_model.layers:  # name the first layer without a rule (tfmot would not)
        if not isinstance(layer, keras.layers.InputLayer):
            quantize_config_for(layer)
    with quantize_scope():
        annotated = _qk.quantize_annotate_model(float_model)
        qat = _qk.quantize_apply(annotated, scheme=MoatQuantizeScheme(ema_decay))
    if hasattr(model, "moat_config"):
        qat.moat_config = model.moat_config
    return link_shared_ranges(qat)


def link_shared_ranges(qat_model: keras.Model) -> keras.Model:
    """Points each SharedRangeQuantizer at the range of the quantizer upstream.

    The link is a Python reference (see SharedRangeQuantizer): quantize_model,
    load_qat and qat_converter call this; call it again after cloning a QAT
    model yourself. Idempotent.
    """
    for layer in qat_model.layers:
        # Output quantizers and those of points inside a layer (layers.py) alike
        # take the range of what flows into the layer.
        points = [a.quantizer for a in getattr(layer, "_quantize_activations", None) or ()]
        for quantizer in list(getattr(layer, "_output_quantizers", None) or ()) + points:
            if isinstance(quantizer, SharedRangeQuantizer):
                quantizer.source = _upstream_range(layer)
    return qat_model


def _upstream_range(layer):
    """The range variables of the nearest learned output quantizer above `layer`."""
    current = layer
    while True:
        node = current._inbound_nodes[0]  # pylint: disable=protected-access
        parents = tf.nest.flatten(node.inbound_layers)
        if len(parents) != 1:
            raise ValueError(f"{layer.name}: a shared range needs a single input")
        current = parents[0]
        quantizers = getattr(current, "_output_quantizers", None)
        if quantizers:
            if isinstance(quantizers[0], ActivationQuantizer):
                return current._output_quantizer_vars  # pylint: disable=protected-access
            if isinstance(quantizers[0], SharedRangeQuantizer):
                return quantizers[0].source
            raise ValueError(f"{layer.name}: the range upstream ({current.name}) is not learned")
        if isinstance(current, keras.layers.InputLayer):
            raise ValueError(f"{layer.name}: no quantizer upstream")


def save_qat(qat_model: keras.Model, folder, *, config=None, input_size=None, labels=None,
             extra: Optional[dict] = None) -> str:
    """Writes a QAT model as a tinymoat saved-model folder (kind "qat").

    config and input_size default to the model's `moat_config` and input
    shape. The ranges are saved with the weights: a QAT model only converts
    to the int8 graph it was trained for at its own input size.
    """
    config = config if config is not None else getattr(qat_model, "moat_config", None)
    if config is None:
        raise ValueError("pass config= (the model has no moat_config)")
    if input_size is None:
        input_size = tuple(int(v) for v in qat_model.input.shape[1:3])
    return saving.save(qat_model, folder, config=config, input_size=input_size, labels=labels,
                       kind="qat", extra=extra)


class QuantizeWrapperV2(_qk.QuantizeWrapperV2):
    """tfmot's QuantizeWrapperV2, building its inner layer before listing its weights.

    QuantizeWrapperV2.build copies the inner layer's weights into its own list
    before building the inner layer. Wrapping an already built layer (as
    quantize_apply does) lists them; rebuilding from a saved config does not,
    so a .keras file written from the first cannot be loaded into the second
    ("expected 4 variables, but received 6"). Building the inner layer first
    gives both the same variable list. Used only to load; the class keeps
    tfmot's name because .keras files address variables by class name.
    """

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        super().build(input_shape)


def load_qat(folder):
    """(QAT model, meta) of a folder written by `save_qat` (meta as tinymoat.saving.load)."""
    # The inner scope wins over quantize_scope's own QuantizeWrapperV2 entry.
    with quantize_scope(), keras.utils.custom_object_scope(
            {"QuantizeWrapperV2": QuantizeWrapperV2}):
        model, meta = saving.load(folder)
    if meta.get("kind") != "qat":
        raise saving.SavedModelError(f"{folder} holds a {meta.get('kind')!r} model, not a QAT "
                                     "model")
    return link_shared_ranges(model), meta


def initialize_ranges(qat_model: keras.Model, images, batch_size: int = 8) -> keras.Model:
    """Runs `images` through the QAT model in training mode, updating only ranges.

    The deploy graph has no BatchNormalization or DropPath, so training mode
    changes nothing but the quantizers: the first batch sets each range, later
    ones move it by the EMA. No weight changes.
    """
    images = np.asarray(images, np.float32)
    link_shared_ranges(qat_model)
    for start in range(0, len(images), batch_size):
        qat_model(images[start:start + batch_size], training=True)
    return qat_model


def activation_ranges(qat_model: keras.Model) -> List[Tuple[str, float, float]]:
    """[(variable name without _min/_max, min, max)] of every learned range."""
    found = []
    for layer in qat_model.layers:
        weights = {w.name.split(":")[0]: w for w in layer.non_trainable_weights}
        for name, var in weights.items():
            if name.endswith("_min") and name[:-4] + "_max" in weights:
                hi = weights[name[:-4] + "_max"]
                found.append((name[:-4], float(var.numpy()), float(hi.numpy())))
    return found


def check_ranges(qat_model: keras.Model) -> None:
    """Raises if some activation range was never set (still [0, 0])."""
    empty = [name for name, lo, hi in activation_ranges(qat_model) if lo == 0.0 and hi == 0.0]
    if empty:
        raise ValueError(f"{len(empty)} quantization ranges were never set (train the QAT "
                         f"model or call initialize_ranges first): {', '.join(empty[:8])}"
                         + (" ..." if len(empty) > 8 else ""))


def qat_converter(qat_model: keras.Model, *, input_type=tf.int8,
                  output_type=tf.int8) -> tf.lite.TFLiteConverter:
    """The TFLite converter for a QAT model: int8 ops, ranges from the model.

    input_type/output_type: tf.int8 or tf.uint8 (quantized I/O with the
    parameters of the input/output fake quantizers) or tf.float32 (one
    QUANTIZE after the input and one DEQUANTIZE before the output).
    No representative dataset: every range comes from the fake quantizers.

    `target_spec.supported_ops` stays at its default: restricting it to
    TFLITE_BUILTINS_INT8 makes TF 2.21's converter demand a representative
    dataset before it has looked at the graph (it only detects the fake
    quantizers later). Whether every op came out integer is checked on the
    result instead (`tflite_ops.float_ops`).
    """
    converter = keras_converter(link_shared_ranges(qat_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = input_type
    converter.inference_output_type = output_type
    return converter


def qat_convert(qat_model: keras.Model, *, input_type=tf.int8, output_type=tf.int8) -> bytes:
    """Full-integer TFLite flatbuffer of a trained (or range-initialised) QAT model."""
    check_ranges(qat_model)
    return qat_converter(qat_model, input_type=input_type, output_type=output_type).convert()


def distill(qat_model: keras.Model, teacher: keras.Model, images, *, steps: int = 20,
            batch_size: int = 8, learning_rate: float = 1e-4, seed: int = 0,
            verbose: int = 0) -> keras.callbacks.History:
    """Short QAT by matching the float model's logits (no labels needed).

    A small mean-squared-error fit of the QAT model to `teacher(images)`; the
    first batch sets the ranges, the rest refine ranges and weights. Meant for
    smoke tests and for recovering PTQ loss without a dataset, not for
    reaching full accuracy.
    """
    images = np.asarray(images, np.float32)
    targets = teacher.predict(images, batch_size=batch_size, verbose=0)
    rng = np.random.RandomState(seed)
    index = rng.randint(0, len(images), size=(steps, batch_size))
    dataset = tf.data.Dataset.from_tensor_slices((images[index.reshape(-1)],
                                                  targets[index.reshape(-1)])).batch(batch_size)
    link_shared_ranges(qat_model)
    qat_model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return qat_model.fit(dataset, epochs=1, verbose=verbose)
