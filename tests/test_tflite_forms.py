"""Graph forms for older LiteRT: attention matmuls as float islands (tflite_islands.float_islands).

LiteRT 1.4's XNNPACK has no int8 BATCH_MATMUL; LiteRT 2.3's takes one only
with a zero-point-0 right operand. As a float island (DEQUANTIZE both
operands, BATCH_MATMUL in float32, QUANTIZE onto the op's own output grid)
XNNPACK takes the matmul whole, and the int8 tensors around it are unchanged.
"""

import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from tinymoat._keras import tf
from tinymoat.export.latency import runtimes
from tinymoat.quantization.tflite.graph import op_name
from tinymoat.quantization.tflite.islands import float_islands
from tinymoat.quantization.tflite.flatbuffer import load


@pytest.fixture(scope="module")
def int8_matmul():
    """q @ k^T of two activations, int8 (asymmetric zero points on both operands)."""
    rng = np.random.default_rng(0)
    shapes = [(1, 2, 16, 8), (1, 2, 16, 8)]
    fn = tf.function(lambda q, k: tf.matmul(q, k, transpose_b=True),
                     input_signature=[tf.TensorSpec(s, tf.float32) for s in shapes],
                     autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [rng.standard_normal(s).astype(np.float32) + 0.5 for s in shapes] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def _run(data, feeds):
    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), feeds):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_matmul_island_dequantizes_both_operands_and_keeps_the_output_grid(int8_matmul):
    notes = {}
    data = float_islands(int8_matmul, ops=("BATCH_MATMUL",), notes=notes)
    assert notes == {"float_islands": {"BATCH_MATMUL": 1}}
    model = load(data)
    sub = model.subgraphs[0]
    names = [op_name(model, op) for op in sub.operators]
    assert names == ["DEQUANTIZE", "DEQUANTIZE", "BATCH_MATMUL", "QUANTIZE"]
    matmul = sub.operators[2]
    assert all(sub.tensors[t].type == 0 for t in matmul.inputs)  # FLOAT32 operands
    before, after = Interpreter(model_content=int8_matmul), Interpreter(model_content=data)
    assert after.get_output_details()[0]["quantization"] == \
        before.get_output_details()[0]["quantization"]
    rng = np.random.default_rng(1)
    feeds = [rng.integers(-128, 127, d["shape"], endpoint=True, dtype=np.int8)
             for d in before.get_input_details()]
    # the int8 kernel and the float island differ by rounding only
    diff = np.abs(_run(data, feeds).astype(int) - _run(int8_matmul, feeds).astype(int))
    assert diff.max() <= 1


def test_matmul_island_runs_whole_in_xnnpack(int8_matmul):
    data = float_islands(int8_matmul, ops=("BATCH_MATMUL",))
    with __import__("tempfile").TemporaryDirectory() as tmp:
        paths = [f"{tmp}/int8.tflite", f"{tmp}/island.tflite"]
        for path, content in zip(paths, (int8_matmul, data)):
            with open(path, "wb") as f:
                f.write(content)
        feeds = [[np.zeros((1, 2, 16, 8), np.int8)] * 2] * 2
        pythons = [sys.executable] + ([runtimes.cached_python("litert-1.4")]
                                      if runtimes.cached_python("litert-1.4") else [])
        for python in pythons:
            result, _ = runtimes.run_models(python, paths, feeds, runs=1, warmup=0)
            plain, island = result["models"]
            # an asymmetric right operand keeps the int8 matmul out of XNNPACK (2.3 and 1.4)
            assert plain["ops_outside"] == {"BATCH_MATMUL": 1}
            assert island["partitions"] == 1 and island["ops_outside"] == {}


def test_ops_without_integer_activations_are_left_alone(int8_matmul):
    assert float_islands(int8_matmul, ops=("SOFTMAX",)) == int8_matmul
