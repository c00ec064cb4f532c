"""GELU's sigmoid form relabelled without its MUL by a constant (quantization/tflite/gelu.py), in real LiteRT."""

import numpy as np
import pytest

from tinymoat._keras import keras, tf
from tinymoat.quantization.tflite.gelu import fold_gelu_scale
from tinymoat.quantization.tflite.graph import op_name
from tinymoat.quantization.tflite.flatbuffer import load


def _gelu(t):
    return t * tf.sigmoid(1.702 * t)


@pytest.fixture(scope="module")
def int8_model():
    """conv -> GELU -> conv, and conv -> GELU -> squeeze-excitation (MEAN, gate MUL) -> conv,
    and a GELU read by an ADD (cannot be relabelled)."""
    keras.utils.set_random_seed(0)
    inputs = keras.layers.Input((12, 12, 8), batch_size=1)
    a = keras.layers.Lambda(_gelu)(keras.layers.Conv2D(16, 1)(inputs))
    a = keras.layers.Conv2D(8, 1)(a)
    b = keras.layers.Lambda(_gelu)(keras.layers.DepthwiseConv2D(3, padding="same")(a))
    gate = keras.layers.Lambda(lambda t: tf.reduce_mean(t, [1, 2], keepdims=True))(b)
    gate = keras.layers.Conv2D(8, 1, activation="sigmoid")(gate)
    b = keras.layers.Conv2D(8, 1)(keras.layers.Lambda(lambda t: t[0] * t[1])([b, gate]))
    c = keras.layers.Lambda(_gelu)(keras.layers.Conv2D(8, 1)(b))
    outputs = keras.layers.Conv2D(4, 1)(keras.layers.Add()([c, b]))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.standard_normal((1, 12, 12, 8), np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def _scalar_muls(data):
    model = load(data)
    sub = model.subgraphs[0]
    return sum(op_name(model, op) == "MUL" and any(
        len(sub.tensors[int(t)].shape) == 0 for t in op.inputs) for op in sub.operators)


def _logistics_reading_convolutions(data):
    model = load(data)
    sub = model.subgraphs[0]
    producers = {int(t): op_name(model, op) for op in sub.operators for t in op.outputs}
    return sum(op_name(model, op) == "LOGISTIC"
               and producers.get(int(op.inputs[0])) in ("CONV_2D", "DEPTHWISE_CONV_2D")
               for op in sub.operators)


def _run(data, x, delegate=True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    resolver = (OpResolverType.AUTO if delegate
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter = Interpreter(model_content=data, num_threads=1,
                              experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(np.int32)


def test_plain_chains_lose_the_constant_mul_and_keep_their_int8_codes(int8_model):
    assert _scalar_muls(int8_model) == 3
    notes = {}
    folded = fold_gelu_scale(int8_model, notes)
    assert notes == {"gelu_scale_folded": 2}  # the GELU read by ADD stays
    assert _scalar_muls(folded) == 1
    assert _logistics_reading_convolutions(folded) == _logistics_reading_convolutions(int8_model) + 2
    x = np.random.default_rng(1).integers(-128, 127, (1, 12, 12, 8), endpoint=True, dtype=np.int8)
    for delegate in (True, False):  # XNNPACK, and TFLite's own kernels
        before, after = _run(int8_model, x, delegate), _run(folded, x, delegate)
        # same function: only the rounding of sigmoid's input (c x) is gone
        assert np.max(np.abs(after - before)) <= 2
        assert np.mean(after == before) >= 0.9


def test_a_model_without_the_chain_comes_back_unchanged(int8_model):
    folded = fold_gelu_scale(int8_model)
    notes = {}
    assert fold_gelu_scale(folded, notes) == folded and notes == {}
