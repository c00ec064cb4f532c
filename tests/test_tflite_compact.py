import numpy as np
import pytest

import tinymoat
from tinymoat._keras import tf
from tinymoat.export.tflite import compact as tflite_compact
from tinymoat.export.relative_bias import flat_index
from tinymoat.quantization.tflite.graph import op_name
from tinymoat.quantization.tflite.flatbuffer import load

from ai_edge_litert.interpreter import Interpreter

from conftest import MICRO, build_micro, delegated_partitions


def run(model_bytes, x):
    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_compaction_is_exact_and_shrinks_the_file(micro_golden):
    # At 128 the stage-3 maps are 8x8 (two blocks, 4x4 windows in the first), stage 4 is 4x4.
    model = build_micro(batch_size=1, input_size=128, window_size=(None, None, (4, 4), None),
                        global_attention_at_end_of_moat_stage=True)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    dense = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    notes = {}
    compact = tflite_compact.compact_relative_bias(dense, notes)
    # [4, 16, 16] (windows), [4, 64, 64] and [8, 16, 16]: all but the smallest pay off
    assert notes["compact_relative_bias"]["constants"] == 2
    assert len(compact) < len(dense) - notes["compact_relative_bias"]["bytes_saved"] // 2
    x = np.random.default_rng(0).normal(size=(1, 128, 128, 3)).astype(np.float32)
    np.testing.assert_array_equal(run(compact, x), run(dense, x))
    assert tflite_compact.compact_relative_bias(compact) == compact  # nothing left to do
    # One GATHER per bias from its table by a flat index; the index of each window size
    # comes from GATHER, GATHER, RESHAPE of int32 positions. All of it sits at the start.
    model_t = load(compact)
    names = [op_name(model_t, op) for op in model_t.subgraphs[0].operators]
    index_ops = ["GATHER", "GATHER", "RESHAPE"]
    assert names[:8] == index_ops + ["GATHER"] + index_ops + ["GATHER"], names[:8]
    assert names.count("GATHER") == 6
    # TFLite runs an op of constants once, when the tensors are allocated (XNNPACK takes
    # none of these: int32, or no delegate has GATHER): each bias is in place before the
    # first invoke and costs nothing per inference.
    before = Interpreter(model_content=compact)
    before.allocate_tensors()
    reference = Interpreter(model_content=dense)
    reference.allocate_tensors()
    biases = {d["name"]: d["index"] for d in reference.get_tensor_details()}
    tables = [d for d in before.get_tensor_details() if d["name"].endswith("/table")]
    assert len(tables) == 2
    details = {d["name"]: d["index"] for d in before.get_tensor_details()}
    for table in tables:
        name = table["name"][:-len("/table")]
        np.testing.assert_array_equal(before.get_tensor(details[name]),
                                      reference.get_tensor(biases[name]))
    for size in (4, 8):
        np.testing.assert_array_equal(
            before.get_tensor(details[f"relative_index_{size}x{size}"]), flat_index(size, size))
    assert delegated_partitions(compact) == (1, names[:8])  # one XNNPACK partition


def test_fused_tensor_names_keep_their_first_op_and_numbers_stay_identical(micro_golden):
    model = build_micro(batch_size=1)
    dense = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    notes = {}
    short = tflite_compact.shorten_tensor_names(dense, notes)
    assert notes["tensor_name_bytes_saved"] > 0 and len(short) < len(dense)
    names = [d["name"] for d in Interpreter(model_content=short).get_tensor_details()]
    assert not any(";" in n for n in names)
    x = micro_golden["inputs"][:1]
    np.testing.assert_array_equal(run(short, x), run(dense, x))


@pytest.mark.parametrize("height,width", [(4, 4), (2, 3), (7, 7), (1, 5)])
def test_the_two_gathers_land_on_the_flat_table_positions(height, width):
    table = np.arange((2 * height - 1) * (2 * width - 1))
    stacked = table[tflite_compact.stack_index(height, width)]         # [(2H-1) W, W]
    both = stacked[tflite_compact.row_index(height, width)]            # [H, W, H, W]
    np.testing.assert_array_equal(both.reshape(height * width, -1), flat_index(height, width))
