"""The default INT8 graph: SOFTMAX and RSQRT rewritten into int8 ops XNNPACK runs."""

import numpy as np
import pytest

import tinymoat
from tinymoat._keras import tf
from tinymoat.quantization.tflite import integer as tflite_integer
from tinymoat.quantization.tflite.graph import op_name
from tinymoat.quantization.tflite.flatbuffer import load
from tinymoat.export.validate import compare
from tinymoat.quantization import float_op_details

from ai_edge_litert.interpreter import Interpreter

from test_tflite_islands import delegated_partitions, int8_model, logits  # noqa: F401


def convert(function, shape, low, high):
    """An int8 TFLite model of `function` with input range [low, high]."""
    def quantized(x):
        x = tf.quantization.fake_quant_with_min_max_vars(x, low, high)
        return function(x)

    traced = tf.function(quantized, input_signature=[tf.TensorSpec(shape, tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [traced.get_concrete_function()], traced)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def run_codes(model_bytes, codes):
    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], codes.astype(np.int8))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]), inp["quantization"], out["quantization"]


def op_names(model_bytes):
    parsed = load(model_bytes)
    return [op_name(parsed, op) for op in parsed.subgraphs[0].operators]


@pytest.mark.parametrize("low,high", [(1e-3, 4.0), (0.05, 60.0), (0.5, 1.5)])
def test_rsqrt_gives_the_builtin_kernels_code_for_every_input_code(low, high):
    def rsqrt(x):
        return tf.quantization.fake_quant_with_min_max_vars(tf.math.rsqrt(x), 0.0,
                                                            1.01 / np.sqrt(low))
    builtin = convert(rsqrt, (1, 16, 16, 1), low, high)
    assert "RSQRT" in op_names(builtin)
    notes = {}
    rewritten = tflite_integer.integer_kernels(builtin, notes)
    assert notes["integer_kernels"] == {"RSQRT": 1}
    assert "RSQRT" not in op_names(rewritten) and "CONV_2D" in op_names(rewritten)
    assert delegated_partitions(rewritten) == (1, [])
    codes = np.arange(-128, 128).reshape(1, 16, 16, 1)
    want, (s_in, z_in), _ = run_codes(builtin, codes)
    got, _, _ = run_codes(rewritten, codes)
    positive = codes > z_in  # the builtin kernel rejects inputs <= 0
    np.testing.assert_array_equal(got[positive], want[positive])


@pytest.mark.parametrize("shape,spread", [((1, 2, 49, 49), 3.0), ((1, 4, 196, 196), 12.0),
                                          ((2, 16, 16), 40.0), ((1, 3, 4, 1), 5.0),
                                          ((1, 1, 4, 2), 5.0)])
def test_softmax_matches_the_float_softmax_and_runs_in_xnnpack(shape, spread):
    low, high = -spread / 2, spread / 2
    builtin = convert(lambda x: tf.nn.softmax(x), shape, low, high)
    notes = {}
    rewritten = tflite_integer.integer_kernels(builtin, notes)
    assert notes["integer_kernels"] == {"SOFTMAX": 1}
    names = op_names(rewritten)
    assert "SOFTMAX" not in names and names.count("ELU") == 2
    assert delegated_partitions(rewritten) == (1, [])
    assert float_op_details(rewritten) == []
    rng = np.random.default_rng(0)
    # rows from flat to peaked: row sums of exp(x - max) from ~tokens down to ~1
    sharpness = rng.uniform(0.02, 1.0, shape[:-1] + (1,))
    codes = np.clip(np.round(rng.normal(0, 60, shape) * sharpness), -128, 127)
    got, _, (s_out, z_out) = run_codes(rewritten, codes)
    _, (s_in, z_in), _ = run_codes(builtin, codes)
    x = (codes - z_in) * s_in
    want = np.exp(x - x.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    probs = (got.astype(np.float64) - z_out) * s_out
    assert np.abs(probs - want).max() < 0.03
    if shape[-1] < 16:  # a handful of probabilities: no statistics to compare
        return
    built, _, (s_b, z_b) = run_codes(builtin, codes)
    reference = (built.astype(np.float64) - z_b) * s_b
    # about as close to the float softmax as TFLite's own int8 kernel, and rows
    # lose about as much mass to 8-bit rounding
    assert np.abs(probs - want).mean() < 1.5 * np.abs(reference - want).mean() + 1e-4
    mass = np.abs(probs.sum(-1) - 1).mean()
    assert mass < 1.5 * np.abs(reference.sum(-1) - 1).mean() + 0.005


def test_model_graph_runs_in_xnnpack_and_keeps_its_agreement(int8_model):  # noqa: F811
    model, images, int8 = int8_model
    notes = {}
    rewritten = tflite_integer.integer_kernels(int8, notes)
    assert notes["integer_kernels"] == {"SOFTMAX": 3, "RSQRT": 4}
    assert delegated_partitions(int8)[1] and delegated_partitions(rewritten) == (1, [])
    assert float_op_details(rewritten) == []
    reference = model(images[16:]).numpy()
    before = compare(reference, logits(int8, images[16:]))
    after = compare(reference, logits(rewritten, images[16:]))
    assert after["sqnr_db"] > before["sqnr_db"] - 1.0, (before, after)
    assert tflite_integer.integer_kernels(rewritten) == rewritten  # nothing left to rewrite


def test_breakpoints_cover_every_row_sum():
    for tokens in (2, 49, 196, 1024):
        t = tflite_integer.breakpoints(tokens)
        assert t[0] == 1.0 and t[-1] >= tokens and t[-2] < tokens
    assert len(tflite_integer.breakpoints(1)) == 3  # a 1x1 map: still two halves of log


def test_grids_keep_the_first_sub_exact_and_spread_the_rounding_of_y():
    for x_step in (0.02, 0.0353, 0.1696, 0.513, 0.905):
        z_step, y_step = tflite_integer.grids(x_step)
        ratio = x_step / z_step
        assert abs(ratio - round(ratio)) < 1e-9  # z's step divides x's: x - max is exact
        assert 255 * z_step >= tflite_integer.Y - 1e-9 or z_step == x_step
        assert 255 * y_step >= tflite_integer.Y - 1e-9
        # distinct logits of a row round differently when y is computed from them
        offsets = {round((k * z_step / y_step) % 1.0, 6) for k in range(1, 40)}
        assert len(offsets) > 4  # a common grid would give one
