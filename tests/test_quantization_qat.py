"""Quantization-aware training: every tensor of the int8 graph has a learned range."""

import numpy as np
import pytest

from tinymoat._keras import keras, tf
from tinymoat import quantization
from tinymoat.quantization import (agreement, distill, float_op_details, format_ops,
                                   op_details, qat_convert, quantize_model,
                                   run_tflite, synthetic_images,
                                   tflite_ops)
from tinymoat.quantization.quantizers import ActivationQuantizer, WeightQuantizer
from tinymoat.layers import Gelu

import tensorflow_model_optimization as tfmot

from conftest import loaded_micro


@pytest.fixture(scope="module")
def micro():
    return loaded_micro()


@pytest.fixture(scope="module")
def fresh(micro):
    """A QAT model straight from quantize_model (ranges not set yet)."""
    return quantize_model(micro)


@pytest.fixture(scope="module")
def trained(micro):
    """(QAT model after 20 steps of distillation on synthetic images, its int8 TFLite,
    its weights before training)."""
    qat = quantize_model(micro)
    before = [w.numpy().copy() for w in qat.trainable_weights]
    distill(qat, micro, synthetic_images(160, 64, seed=1), steps=20, learning_rate=1e-5)
    return qat, qat_convert(qat), before


def test_every_op_of_the_converted_qat_model_is_integer(trained):
    _, tflite, _ = trained
    leftover = float_op_details(tflite)
    assert not leftover, "float ops in the QAT graph:\n" + format_ops(leftover)
    ops = tflite_ops(tflite)
    names = {op.name for op in ops}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "SOFTMAX", "RSQRT", "MEAN",
            "LOGISTIC", "MUL"} <= names
    # The fast forms of the deploy graph: GELU as MUL/LOGISTIC/MUL, the shortcut
    # pool as a depthwise convolution (XNNPACK takes neither op in int8).
    assert not {"GELU", "AVERAGE_POOL_2D"} & names
    for op in ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            assert op.inputs == ("int8", "int8", "int32") and op.outputs == ("int8",), op
        else:
            assert set(op.inputs + op.outputs) <= {"int8", "int32"}, op
    # Ranges came from the model: nothing inside the graph requantizes.
    assert "QUANTIZE" not in {op.name for op in ops} and "DEQUANTIZE" not in {op.name for op in ops}


def test_float_io_adds_exactly_one_quantize_and_one_dequantize(trained):
    qat, _, _ = trained
    tflite = qat_convert(qat, input_type=tf.float32, output_type=tf.float32)
    ops = tflite_ops(tflite)
    assert ops[0].name == "QUANTIZE" and ops[-1].name == "DEQUANTIZE"
    assert [op.name for op in ops].count("QUANTIZE") == 1
    assert not float_op_details(tflite), format_ops(float_op_details(tflite))


def test_fixed_range_ops_get_tflites_int8_output_parameters(micro, trained):
    _, tflite, _ = trained
    fixed = [d for d in op_details(tflite) if d.name in ("SOFTMAX", "LOGISTIC")]
    gelus = sum(isinstance(layer, Gelu) for layer in micro.layers)
    # 3 attention blocks; 2 SE blocks with swish and sigmoid; one sigmoid per GELU.
    assert len(fixed) == 3 + 4 + gelus
    for d in fixed:
        assert d.outputs[0].scale[0] == pytest.approx(1 / 256, rel=1e-6), d.index
        assert d.outputs[0].zero_point[0] == -128, d.index


def test_pool_sums_and_layer_norm_means_stay_on_their_inputs_grid(trained):
    """The depthwise pool and LayerNorm's MEAN keep their input's scale (XNNPACK
    refused a SUB whose mean had a grid far finer than its input's)."""
    _, tflite, _ = trained
    details = op_details(tflite)
    pools = [d for d in details if d.name == "DEPTHWISE_CONV_2D"
             and "shortcut_pool" in d.outputs[0].name]
    means = [d for d in details if d.name == "MEAN" and "norm" in d.outputs[0].name
             and d.outputs[0].shape[-1] == 1]
    assert pools and means
    for d in pools + means:
        assert d.outputs[0].scale[0] == pytest.approx(d.inputs[0].scale[0], rel=1e-6), d
        assert d.outputs[0].zero_point[0] == d.inputs[0].zero_point[0], d


def test_weights_are_per_channel_int8_and_biases_int32(trained):
    _, tflite, _ = trained
    for d in op_details(tflite):
        if d.name == "DEPTHWISE_CONV_2D" and "shortcut_pool" not in d.outputs[0].name:
            weights, bias = d.inputs[1], d.inputs[2]
            assert len(weights.scale) == weights.shape[-1] > 1
            assert weights.quantized_dimension == 3 and bias.dtype == "int32"
            assert np.all(weights.zero_point == 0)  # symmetric


def test_litert_int8_model_agrees_with_the_float_model(micro, trained):
    qat, tflite, _ = trained
    images = synthetic_images(48, 64, seed=2)
    reference = micro(images).numpy()
    assert len(set(reference.argmax(1))) >= 3  # the logits depend on the input
    int8 = run_tflite(tflite, images)
    vs_float = agreement(reference, int8)
    assert vs_float.top1_agreement >= 0.8 and vs_float.sqnr_db > 14, vs_float
    # The fake-quantized Keras model predicts what LiteRT computes: its logits
    # are clearly closer to LiteRT's than the float model's are.
    vs_qat = agreement(qat(images, training=False).numpy(), int8)
    assert vs_qat.sqnr_db > vs_float.sqnr_db + 2, (vs_qat, vs_float)
    assert vs_qat.top1_agreement >= 0.85 and vs_qat.sqnr_db > 20, vs_qat


def test_training_set_every_range_and_moved_the_weights(fresh, trained):
    assert all(lo == hi == 0.0 for _, lo, hi in quantization.activation_ranges(fresh))
    qat, _, before = trained
    ranges = quantization.activation_ranges(qat)
    assert len(ranges) == len(quantization.activation_ranges(fresh))
    assert all(lo < hi for _, lo, hi in ranges), [r for r in ranges if r[1] >= r[2]]
    assert any(np.abs(a - w.numpy()).max() > 0 for a, w in zip(before, qat.trainable_weights))


def test_every_layer_is_wrapped_and_the_input_quantized(fresh):
    qat = fresh
    wrapped = [l for l in qat.layers if not isinstance(l, keras.layers.InputLayer)]
    assert all(isinstance(l, tfmot.quantization.keras.QuantizeWrapper) for l in wrapped)
    assert wrapped[0].layer.__class__.__name__ == "InputQuantize"
    # LayerNorm: centered, squared, variance (+eps), 1/std, output (gamma/beta
    # folded); the mean shares the input's range and the 1/C kernel has a fixed
    # one: no variables.
    norm = qat.get_layer("quant_final_layer_norm")
    points = [w.name for w in norm.non_trainable_weights if w.name.endswith("_min:0")]
    assert len(points) == 5, points


def test_an_unranged_model_is_refused(fresh):
    with pytest.raises(ValueError, match="never set"):
        qat_convert(fresh)


def test_an_unregistered_layer_is_named():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2DTranspose(4, 3, name="upsample")(inputs)
    with pytest.raises(quantization.UnsupportedLayerError, match="upsample"):
        quantize_model(keras.Model(inputs, outputs))


def test_saved_qat_model_loads_and_converts_identically(trained, tmp_path):
    qat, tflite, _ = trained
    quantization.save_qat(qat, tmp_path / "qat", labels=[str(i) for i in range(10)])
    loaded, meta = quantization.load_qat(tmp_path / "qat")
    assert meta["kind"] == "qat" and meta["input_size"] == [64, 64]
    x = synthetic_images(2, 64, seed=4)
    np.testing.assert_array_equal(loaded(x).numpy(), qat(x).numpy())
    assert qat_convert(loaded) == tflite


def test_activation_ranges_start_at_the_first_batch_then_follow_an_ema():
    layer = keras.layers.Layer()
    quantizer = ActivationQuantizer(ema_decay=0.5)
    weights = quantizer.build((), "x", layer)
    quantizer(tf.constant([-1.0, 3.0]), True, weights)
    assert (weights["min_var"].numpy(), weights["max_var"].numpy()) == (-1.0, 3.0)
    quantizer(tf.constant([1.0, 5.0]), True, weights)  # batch range [0, 5]: 0 is kept in
    assert (weights["min_var"].numpy(), weights["max_var"].numpy()) == (-0.5, 4.0)
    out = quantizer(tf.constant([10.0]), False, weights)  # inference: clamps, no update
    assert out.numpy()[0] == pytest.approx(4.0, abs=4.5 / 255)
    assert weights["max_var"].numpy() == 4.0


def test_weight_ranges_follow_the_weights_per_channel():
    w = tf.constant(np.array([[1.0, -0.01], [-2.0, 0.02]], np.float32))  # [in, out]
    q = WeightQuantizer(axis=-1)(w, False, {}).numpy()
    # channel 1 keeps its small values: its own scale is 0.02 / 127
    np.testing.assert_allclose(q[:, 1], [-0.01, 0.02], rtol=1e-2)
    np.testing.assert_allclose(q[:, 0], [1.0, -2.0], rtol=1e-2)
