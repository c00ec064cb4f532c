"""Post-training full-integer quantization, its calibration statistics, and op listing."""

import numpy as np
import pytest

import tinymoat
from tinymoat._keras import keras, tf
from tinymoat.preprocess import mean_std
from tinymoat.quantization import (CALIBRATIONS, NotFullyIntegerError, agreement, float_ops,
                                   initialize_ranges, io_details, op_histogram, ptq_convert,
                                   qat_convert, quantize_model,
                                   run_tflite, synthetic_images, tflite_ops)
from tinymoat.quantization.converter import keras_converter
from tinymoat.quantization.ptq import entropy_range, mse_range, percentile_range

from conftest import loaded_micro


@pytest.fixture(scope="module")
def micro():
    return loaded_micro()


@pytest.fixture(scope="module")
def calibration():
    return synthetic_images(24, 64, seed=1)


@pytest.fixture(scope="module")
def held_out(micro):
    images = synthetic_images(40, 64, seed=2)
    return images, micro(images).numpy()


@pytest.mark.parametrize("statistic", CALIBRATIONS)
def test_every_calibration_gives_a_fully_integer_graph_close_to_float(micro, calibration,
                                                                       held_out, statistic):
    tflite = ptq_convert(micro, calibration, calibration=statistic)
    assert float_ops(tflite) == []
    images, reference = held_out
    result = agreement(reference, run_tflite(tflite, images))
    assert result.top1_agreement >= 0.75 and result.sqnr_db > 14, (statistic, result)


def test_ptq_and_qat_produce_the_same_graph(micro, calibration):
    ptq = ptq_convert(micro, calibration)
    qat = quantize_model(micro)
    initialize_ranges(qat, calibration)
    assert [op.name for op in tflite_ops(ptq)] == [op.name for op in tflite_ops(qat_convert(qat))]


def test_the_float_model_is_not_integer_and_float_ops_says_so(micro):
    found = float_ops(keras_converter(micro).convert())
    assert {"CONV_2D", "SOFTMAX"} <= {op.name for op in found}
    assert all("float32" in op.inputs + op.outputs for op in found)


def test_raw_pixel_input_as_uint8(micro, calibration, held_out):
    mean, std = mean_std("imagenet")
    pixels = tinymoat.with_pixel_input(micro)
    tflite = ptq_convert(pixels, calibration * std + mean, input_type=tf.uint8,
                         output_type=tf.float32, calibration="percentile")
    (inp,), (out,) = io_details(tflite)
    assert (inp.dtype, out.dtype) == ("uint8", "float32")
    assert float_ops(tflite) == []
    images, reference = held_out
    result = agreement(reference, run_tflite(tflite, images * std + mean))
    assert result.sqnr_db > 14, result


def _with_sine():
    """A model with an op that has no int8 kernel (SIN)."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Lambda(tf.math.sin, name="sine")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def test_a_float_only_op_is_refused_unless_mixed():
    model = _with_sine()
    images = np.random.RandomState(0).randn(8, 8, 8, 3).astype(np.float32)
    with pytest.raises(NotFullyIntegerError, match="SIN"):
        ptq_convert(model, images)
    mixed = ptq_convert(model, images, mixed=True)
    # The float island and the conversions around it; the convolution stays int8.
    assert [op.name for op in float_ops(mixed)] == ["DEQUANTIZE", "SIN", "QUANTIZE"]
    assert "CONV_2D" in op_histogram(mixed)


def test_percentile_range_clips_rare_outliers():
    counts = np.zeros(2048)
    counts[1000:1100] = 1000  # the bulk, around the middle of [-10, 10]
    counts[-1] = 1  # one outlier at the top
    lo, hi = percentile_range(-10.0, 10.0, counts, percentile=99.9)
    assert lo <= 0.0 - 0.2 and hi < 1.0  # the outlier is clipped, zero stays inside
    assert percentile_range(-10.0, 10.0, counts, percentile=100.0)[1] == 10.0


def test_mse_and_entropy_clip_a_long_tail_but_keep_the_bulk():
    values = np.random.RandomState(0).laplace(0, 0.1, 200_000)
    lo, hi = values.min(), values.max()  # about +-1.2: 12 scales of the distribution
    counts, _ = np.histogram(values, bins=2048, range=(lo, hi))
    for choose in (mse_range, entropy_range):
        a, b = choose(lo, hi, counts)
        assert lo < a < -0.3 and 0.3 < b < hi, (choose.__name__, a, b)
