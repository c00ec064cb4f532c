"""The TFLite target for each precision and I/O type, run in the real LiteRT interpreter."""

import numpy as np
import pytest

import tinymoat
from tinymoat import data
from tinymoat.export import progress
from tinymoat.export.target import ExportError, ExportJob
from tinymoat.export.tflite import TFLiteTarget
from tinymoat.export.tflite_metadata import read_metadata
from tinymoat.export.validate import compare
from tinymoat.quantization import tflite_ops

from conftest import MICRO, build_micro

progress.ENABLED = False


@pytest.fixture(scope="module")
def job():
    model = build_micro(batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    crops = data.sample_photo_crops(64, count=24)
    return ExportJob(model=model, variant="micro", input_size=(64, 64),
                     labels=[f"c{i}" for i in range(10)], normalization="imagenet",
                     calibration=crops.pixels[:16])


@pytest.fixture(scope="module")
def held_out(job):
    pixels = data.sample_photo_crops(64, count=24, seed=1).pixels
    return pixels, job.model(job.normalized(pixels)).numpy()


@pytest.mark.parametrize("precision,least_sqnr,input_dtype", [
    ("float32", 100.0, np.float32), ("float16", 40.0, np.float32), ("dynamic", 20.0, np.float32)])
def test_float_precisions(job, held_out, tmp_path, precision, least_sqnr, input_dtype):
    target, path = TFLiteTarget(), str(tmp_path / "m.tflite")
    target.export(job, precision, path)
    pixels, reference = held_out
    figures = compare(reference, target.predict(path, pixels))
    assert figures["sqnr_db"] >= least_sqnr and figures["top1_agreement"] >= 0.9
    described = target.describe(path)
    assert described["input"]["dtype"] == np.dtype(input_dtype).name
    assert described["metadata"]["input"]["mean"] == pytest.approx(job.mean_std[0].tolist())
    # Converted from the exact deploy graph: LayerNorm's variance is a 1x1
    # convolution, not the converter's SQUARED_DIFFERENCE, and no FC projections.
    names = {op.name for op in tflite_ops(open(path, "rb").read())}
    assert "SQUARED_DIFFERENCE" not in names and "FULLY_CONNECTED" not in names, names


@pytest.mark.parametrize("input_type,output_type", [("uint8", "float32"), ("int8", "int8"),
                                                    ("float32", "uint8")])
def test_full_integer_with_each_io_type(job, held_out, tmp_path, input_type, output_type):
    job.input_type, job.output_type = input_type, output_type
    target, path = TFLiteTarget(), str(tmp_path / "m.tflite")
    notes = target.export(job, "int8", path)
    described = target.describe(path)
    assert notes["float_ops"] == [] and described["float_ops"] == []
    assert described["input"]["dtype"] == input_type
    assert described["output"]["dtype"] == output_type
    mean = read_metadata(open(path, "rb").read())["input"]["mean"]
    assert mean == ([0.0] * 3 if input_type == "uint8" else pytest.approx(job.mean_std[0].tolist()))
    pixels, reference = held_out
    figures = compare(reference, target.predict(path, pixels))
    assert figures["top1_agreement"] >= 0.8 and figures["sqnr_db"] >= 15.0


def test_relative_bias_is_stored_compactly(job, tmp_path):
    target, path = TFLiteTarget(), str(tmp_path / "m.tflite")
    job.input_type, job.output_type = "uint8", "float32"
    assert "compact_relative_bias" not in target.export(job, "float32", path)  # 64 px: tiny maps
    big = build_micro(batch_size=1, input_size=256)
    big_job = ExportJob(model=big, variant="micro", input_size=(256, 256), labels=job.labels,
                        normalization="imagenet", calibration=job.calibration)
    notes = target.export(big_job, "float32", str(tmp_path / "big.tflite"))
    assert notes["compact_relative_bias"]["constants"] == 3


def test_unknown_calibration_is_rejected_before_converting(job):
    job.calibration_statistic = "median"
    with pytest.raises(ExportError, match="calibration 'median'"):
        TFLiteTarget().check(job, "int8")
    job.calibration_statistic = "minmax"
