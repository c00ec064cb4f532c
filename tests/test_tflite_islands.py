"""--int8 --mixed: softmax, LayerNorm's 1/sqrt and GELU in float inside an int8 graph."""

import collections

import numpy as np
import pytest

import tinymoat
from tinymoat import data
from tinymoat.quantization.tflite import islands as tflite_islands
from tinymoat.quantization.tflite.graph import op_name
from tinymoat.quantization.tflite.flatbuffer import fb, load
from tinymoat.export.validate import compare
from tinymoat.quantization import float_op_details, ptq_convert

from conftest import MICRO, build_micro, delegated_partitions, int8_logits as logits


@pytest.fixture(scope="module")
def int8_model():
    model = build_micro(batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    images = tinymoat.preprocess(data.sample_photo_crops(64, count=24).pixels.astype(np.float32))
    return model, images, ptq_convert(model, images[:16])


@pytest.fixture(scope="module")
def int8_erf_model(int8_model):
    """The same model quantized from its exact (erf) GELU, as the --mixed export does."""
    model, images, _ = int8_model
    return model, images, ptq_convert(model, images[:16], gelu="erf")


def test_islands_wrap_softmax_rsqrt_and_gelu_and_keep_int8_between_ops(int8_model,
                                                                       int8_erf_model):
    model, images, sigmoid_int8 = int8_model
    _, _, int8 = int8_erf_model
    gelus = sum(isinstance(layer, tinymoat.layers.Gelu) for layer in model.layers)
    assert gelus > 0
    notes = {}
    mixed = tflite_islands.float_islands(int8, notes=notes)
    # micro: 3 attention blocks (softmax + LayerNorm), the head's LayerNorm, every GELU
    assert notes["float_islands"] == {"SOFTMAX": 3, "RSQRT": 4, "GELU": gelus}
    parsed = load(mixed)
    sub = parsed.subgraphs[0]
    ops = sub.operators
    names = [op_name(parsed, op) for op in ops]
    for i, name in enumerate(names):
        if name in ("SOFTMAX", "RSQRT", "GELU"):
            assert names[i - 1] == "DEQUANTIZE" and names[i + 1] == "QUANTIZE"
            assert sub.tensors[ops[i].inputs[0]].type == fb.TensorType.FLOAT32
            assert sub.tensors[ops[i + 1].outputs[0]].type == fb.TensorType.INT8
    kinds = collections.Counter(d.name for d in float_op_details(mixed))
    assert set(kinds) == {"DEQUANTIZE", "SOFTMAX", "RSQRT", "GELU", "QUANTIZE"}, kinds
    assert float_op_details(int8) == []
    # Everything runs in XNNPACK; the int8 graph leaves SOFTMAX, RSQRT and GELU to TFLite.
    assert delegated_partitions(mixed) == (1, [])
    assert set(delegated_partitions(int8)[1]) == {"SOFTMAX", "RSQRT", "GELU"}
    # The default (sigmoid) graph has no GELU op to make an island of.
    sigmoid_notes = {}
    tflite_islands.float_islands(sigmoid_int8, notes=sigmoid_notes)
    assert sigmoid_notes["float_islands"] == {"SOFTMAX": 3, "RSQRT": 4}
    # Same ranges, float instead of int8 kernels: the logits barely move.
    reference = model(images[16:]).numpy()
    before, after = compare(reference, logits(int8, images[16:])), \
        compare(reference, logits(mixed, images[16:]))
    assert after["sqnr_db"] > before["sqnr_db"] - 1.0, (before, after)
    assert tflite_islands.float_islands(mixed) == mixed  # nothing left to rewrite


def test_a_float_model_has_no_islands_to_make():
    model = build_micro(batch_size=1)
    from tinymoat._keras import tf
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    assert tflite_islands.float_islands(flat) == flat


def test_equal_vectors_are_written_once_and_read_back_the_same(int8_model, monkeypatch):
    """serialize() shares equal vectors, chiefly per-channel zero points (all 0)."""
    import flatbuffers
    from tinymoat.quantization.tflite import flatbuffer as tflite_model
    _, images, int8 = int8_model
    shared = tflite_model.serialize(load(int8))
    monkeypatch.setattr(tflite_model, "_SharingBuilder", flatbuffers.Builder)
    unshared = tflite_model.serialize(load(int8))
    zero_points = [t.quantization.zeroPoint for t in load(shared).subgraphs[0].tensors
                   if t.quantization is not None and t.quantization.zeroPoint is not None]
    channels = sum(len(z) for z in zero_points if len(z) > 1)
    assert channels > 100 and not any(z.any() for z in zero_points if len(z) > 1)
    # Each per-channel zero point (int64) is written once per distinct length, not per tensor.
    distinct = {len(z) for z in zero_points}
    assert len(unshared) - len(shared) >= 8 * channels - sum(8 * n + 8 for n in distinct)
    np.testing.assert_array_equal(logits(shared, images[16:]), logits(unshared, images[16:]))
    assert [len(z) for z in zero_points] == [
        len(t.quantization.zeroPoint) for t in load(unshared).subgraphs[0].tensors
        if t.quantization is not None and t.quantization.zeroPoint is not None]
