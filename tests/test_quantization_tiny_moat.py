"""Full-size tiny-moat-0 at 224: both INT8 paths give the same fully integer graph."""

import pytest

import tinymoat
from tinymoat.quantization import (float_op_details, format_ops, initialize_ranges,
                                   op_histogram, ptq_convert, qat_convert, quantize_model,
                                   synthetic_images)


@pytest.mark.slow
def test_tiny_moat_0_converts_fully_integer_by_ptq_and_by_qat():
    model = tinymoat.build_model("tiny-moat-0", 224)
    images = synthetic_images(4, 224, seed=0)
    ptq = ptq_convert(model, images)  # raises NotFullyIntegerError otherwise
    qat = quantize_model(model)
    initialize_ranges(qat, images[:2], batch_size=2)
    converted = qat_convert(qat)
    assert not float_op_details(converted), format_ops(float_op_details(converted))
    histogram = op_histogram(converted)
    assert histogram == op_histogram(ptq)
    # 9 attention blocks: one softmax each, and no requantization anywhere.
    assert histogram["SOFTMAX"] == 9 and "QUANTIZE" not in histogram
