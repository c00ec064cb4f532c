"""The int8 attention runs in XNNPACK: BATCH_MATMULs without adjoint, zero-point-0 right operands.

XNNPACK (LiteRT 2.3) takes an int8 BATCH_MATMUL only with adj_x = adj_y =
False and a right-hand operand with zero point 0; otherwise TFLite's
single-threaded builtin kernel runs it (~20x slower). The float rewrites that
get there (explicit k^T, no key bias, value bias moved into the output
projection) must be exact.
"""

import numpy as np
import pytest

from tinymoat._keras import tf
from tinymoat.quantization.tflite.flatbuffer import fb, load
from tinymoat.layers import HeadProjection
from tinymoat.quantization import (deploy_model, initialize_ranges, ptq_convert,
                                   qat_convert, quantize_model,
                                   synthetic_images)
from tinymoat.quantization.layers import AttentionScores, SymmetricConv2D
from tinymoat.quantization.quantizers import ActivationQuantizer

from conftest import loaded_micro


@pytest.fixture(scope="module")
def micro():
    model = loaded_micro()
    # Large key/value/output biases, so that dropping or moving them would show.
    rng = np.random.RandomState(3)
    for layer in model.layers:
        if isinstance(layer, HeadProjection):
            layer.bias.assign(rng.randn(*layer.bias.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def calibration():
    return synthetic_images(16, 64, seed=1)


def batch_matmuls(tflite):
    """[(adj_x, adj_y, left zero point, right zero point, output tensor index)]."""
    model = load(tflite)
    sub = model.subgraphs[0]
    found = []
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != fb.BuiltinOperator.BATCH_MATMUL:
            continue
        left, right = (sub.tensors[int(i)].quantization for i in op.inputs[:2])
        found.append((bool(op.builtinOptions.adjX), bool(op.builtinOptions.adjY),
                      int(left.zeroPoint[0]), int(right.zeroPoint[0]), int(op.outputs[0])))
    return found


def xnnpack_outputs(tflite):
    """Tensor indices produced inside XNNPACK partitions (or by a DELEGATE node)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=tflite, num_threads=1)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    delegated = {int(t) for o in ops if o["op_name"] == "DELEGATE" for t in o["outputs"]}
    for op in ops:
        if op["op_name"] == "DELEGATE":
            continue
        try:  # a tensor internal to a partition has no TFLite buffer
            interpreter.get_tensor(int(op["outputs"][0]))
        except ValueError:
            delegated.add(int(op["outputs"][0]))
    return delegated


def check_attention_is_delegated(tflite):
    found = batch_matmuls(tflite)
    assert len(found) == 6  # micro: 3 attention blocks, q k^T and p v each
    assert all(not adj_x and not adj_y for adj_x, adj_y, *_ in found), found
    assert all(right == 0 for *_, right, _ in found), found
    delegated = xnnpack_outputs(tflite)
    assert all(out in delegated for *_, out in found), found


def test_ptq_attention_matmuls_run_in_xnnpack(micro, calibration):
    for statistic in ("minmax", "percentile"):
        check_attention_is_delegated(ptq_convert(micro, calibration, calibration=statistic))


def test_qat_attention_matmuls_run_in_xnnpack(micro, calibration):
    qat = quantize_model(micro)
    initialize_ranges(qat, calibration)
    check_attention_is_delegated(qat_convert(qat))


def test_key_and_value_biases_are_dropped_or_moved_exactly(micro):
    deployed = deploy_model(micro, gelu="erf")
    x = synthetic_images(4, 64, seed=5)
    expected = micro(x).numpy()
    np.testing.assert_allclose(deployed(x).numpy(), expected, atol=2e-5 * np.abs(expected).max())
    k = deployed.get_layer("block_02_00.attention.k")
    v = deployed.get_layer("block_02_00.attention.v")
    q = deployed.get_layer("block_02_00.attention.q")
    assert type(k) is SymmetricConv2D and type(v) is SymmetricConv2D
    assert not k.use_bias and not v.use_bias and q.use_bias
    # The output projection received W_o^T b_v (b_v incl. the LayerNorm shift).
    o = deployed.get_layer("block_02_00.attention.o")
    assert not np.allclose(o.bias.numpy(), micro.get_layer("block_02_00.attention.o")
                           .bias.numpy())


def test_attention_scores_equal_q_k_transposed():
    rng = np.random.RandomState(0)
    q = rng.randn(2, 3, 4, 64).astype(np.float32)
    k = rng.randn(2, 3, 4, 64).astype(np.float32)
    scores = AttentionScores(2, 32)([q, k]).numpy()
    qh = q.reshape(2, 12, 2, 32).transpose(0, 2, 1, 3)
    kh = k.reshape(2, 12, 2, 32).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(scores, qh @ kh.transpose(0, 1, 3, 2), rtol=1e-5, atol=1e-5)


def test_symmetric_activation_quantizer_has_zero_point_zero():
    quantizer = ActivationQuantizer(symmetric=True)
    lo, hi = tf.Variable(-1.0), tf.Variable(3.0)
    x = tf.constant([-3.0, -1.0, 0.0, 1e-3, 3.0 / 127 * 10.4, 3.0])
    out = quantizer(x, False, {"min_var": lo, "max_var": hi}).numpy()
    step = 3.0 / 127  # [-3, 3] in 254 steps: zero point 0
    np.testing.assert_allclose(out, [-3.0, -42 * step, 0.0, 0.0, 10 * step, 3.0], atol=1e-6)
    assert ActivationQuantizer.from_config(quantizer.get_config()).symmetric
