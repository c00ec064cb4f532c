import numpy as np
import pytest

import tinymoat
from tinymoat._keras import tf
from tinymoat.export import tflite_compact
from tinymoat.export.relative_bias import flat_index
from tinymoat.export.tflite_graph import op_name
from tinymoat.export.tflite_metadata.tflite_model import load

from ai_edge_litert.interpreter import Interpreter

from conftest import MICRO, build_micro


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
    # Each expansion sits right before the ADD that uses the bias (cache-hot).
    model_t = load(compact)
    ops = model_t.subgraphs[0].operators
    names = [op_name(model_t, op) for op in ops]
    for i, name in enumerate(names):
        if name == "GATHER" and names[i - 1] != "GATHER":  # no TRANSPOSE: final layout
            assert names[i:i + 4] == ["GATHER", "GATHER", "RESHAPE", "ADD"], names
            assert int(ops[i + 2].outputs[0]) in [int(t) for t in ops[i + 3].inputs]
    assert names.count("GATHER") == 4 and names[0] != "GATHER"
    # TFLite runs a GATHER of constants once, when the tensors are allocated: each bias is
    # in place before the first invoke (its per-inference cost is XNNPACK's RESHAPE copy).
    before = Interpreter(model_content=compact)
    before.allocate_tensors()
    constants = {d["name"]: d["index"] for d in Interpreter(model_content=dense)
                 .get_tensor_details()}
    reference = Interpreter(model_content=dense)
    reference.allocate_tensors()
    expanded = [d for d in before.get_tensor_details() if d["name"].endswith("/ijxy")]
    assert len(expanded) == 2
    for detail in expanded:
        want = reference.get_tensor(constants[detail["name"][:-len("/ijxy")]])
        np.testing.assert_array_equal(before.get_tensor(detail["index"]).reshape(want.shape), want)


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
