"""The TFLite target for each precision and I/O type, run in the real LiteRT interpreter."""

import numpy as np
import pytest

import tinymoat
from tinymoat import data
from tinymoat.export import progress
from tinymoat.export.target import ExportError, ExportJob
from tinymoat.export.tflite import TFLiteTarget
from tinymoat.export.tflite.metadata import read_metadata
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
    assert_image_to_logits(path, pixels[:1], target.predict(path, pixels[:1]))


def assert_image_to_logits(path, pixels, expected):
    """Every precision: tensors `image` -> `logits` and a serving_default signature that
    runs the model like the plain interpreter (same outputs)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path)
    assert [d["name"] for d in interpreter.get_input_details()] == ["image"]
    assert [d["name"] for d in interpreter.get_output_details()] == ["logits"]
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["logits"]}}
    (inp,) = interpreter.get_input_details()
    x = pixels if inp["dtype"] == np.uint8 else None
    if x is None:  # the float or int8 input: what predict() fed, by the metadata's convention
        meta = read_metadata(open(path, "rb").read())["input"]
        x = (pixels.astype(np.float32) - meta["mean"]) / meta["std"]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            x = np.clip(np.round(x / scale) + zero, -128, 127).astype(inp["dtype"])
    runner = interpreter.get_signature_runner("serving_default")
    got = runner(image=x.astype(inp["dtype"]))["logits"]
    if got.dtype != np.float32:
        scale, zero = interpreter.get_output_details()[0]["quantization"]
        got = (got.astype(np.float32) - zero) * scale
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


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
    assert_image_to_logits(path, pixels[:1], target.predict(path, pixels[:1]))


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


def test_report_notes_and_metadata_name_the_runtime_the_artifact_was_validated_in(job, tmp_path):
    import importlib.metadata
    path = str(tmp_path / "m.tflite")
    notes = TFLiteTarget().export(job, "float32", path)
    runtime = f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"
    assert notes["validated_runtime"] == runtime
    assert read_metadata(open(path, "rb").read())["description"].endswith(f"validated in {runtime}")


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_probabilities_output_for_apps_that_read_scores(job, held_out, tmp_path, precision):
    import dataclasses

    from ai_edge_litert.interpreter import Interpreter

    from tinymoat.export.validate import logits_of
    pixels, reference = held_out
    target, figures = TFLiteTarget(), {}
    for outputs in ("logits", "probabilities"):
        path = str(tmp_path / f"{outputs}.tflite")
        notes = target.export(dataclasses.replace(job, outputs=outputs), precision, path)
        out = target.predict(path, pixels)
        if outputs == "probabilities":
            np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
            assert np.all(out >= 0)
            out = logits_of(out, reference)
        figures[outputs] = compare(reference, out)
    # the same graph, a softmax after it: the same agreement (float32: both at float
    # rounding, where log(softmax) adds its own)
    with_softmax, without = figures["probabilities"]["sqnr_db"], figures["logits"]["sqnr_db"]
    assert min(with_softmax, without) > 100 or abs(with_softmax - without) <= 1.5
    assert figures["probabilities"]["top1_agreement"] == figures["logits"]["top1_agreement"]
    interpreter = Interpreter(model_path=path, num_threads=1)
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    assert [d["op_name"] for d in interpreter._get_ops_details()][-1] == "SOFTMAX"
    meta = read_metadata(open(path, "rb").read())
    assert meta["output"]["name"] == "probability"  # Task Library / MediaPipe: probabilities
    described = target.describe(path)
    assert described["output"]["dtype"] == "float32"
    if precision == "int8":  # the softmax is the output edge, not a float op of the graph
        assert notes["float_ops"] == [] and described["float_ops"] == []
