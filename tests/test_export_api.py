"""tinymoat.export.export(): the exporter as a Python call, on the micro model."""

import json
import os

import numpy as np
import pytest

import tinymoat
from tinymoat.export import Export, ExportError, export

from conftest import MICRO, build_micro


@pytest.fixture(scope="module")
def trained():
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    return model


def test_a_keras_model_exports_to_validated_artifacts(trained, tmp_path):
    out = tmp_path / "artifacts"
    result = export(trained, target="tflite", int8=True, out=out, calib_limit=16, val_limit=8,
                    verbose=False)
    assert isinstance(result, Export) and result.out == str(out) and not result.replaced
    (artifact,) = result.artifacts
    assert artifact.path == str(out / "tiny-moat-0_64_int8.tflite")
    assert os.path.getsize(artifact.path) == artifact.size_bytes
    assert artifact.precision == "int8" and artifact.reference == "float"
    assert (artifact.weights, artifact.activations) == ("int8", "int8")
    assert artifact.passed and result.passed and artifact.thresholds["sqnr_db"] == 15
    row = result.report["artifacts"][0]
    assert row["validation"]["sqnr_db"] == pytest.approx(artifact.validation["sqnr_db"])
    assert result["tflite"] is artifact and result["tiny-moat-0_64_int8.tflite"] is artifact
    # the file computes what the Keras model does (the weights went in)
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=artifact.path)
    interpreter.allocate_tensors()
    (inp,), (outp,) = interpreter.get_input_details(), interpreter.get_output_details()
    pixels = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    interpreter.set_tensor(inp["index"], pixels.astype(inp["dtype"]))
    interpreter.invoke()
    got = interpreter.get_tensor(outp["index"])
    want = np.asarray(trained(tinymoat.preprocess(pixels.astype(np.float32))))
    assert np.argmax(got) == np.argmax(want)


def test_thresholds_and_the_second_export_replacing_the_first(trained, tmp_path):
    out = tmp_path / "artifacts"
    export(trained, target="tflite", out=out, calib_limit=4, val_limit=4, verbose=False)
    result = export(trained, target="tflite", out=out, calib_limit=4, val_limit=4,
                    threshold={"sqnr_db": 200}, verbose=False)
    assert result.replaced and not result.passed
    assert result.artifacts[0].failed and "sqnr_db" in result.artifacts[0].failed[0]
    assert json.loads((out / "report.json").read_text())["artifacts"][0]["passed"] is False


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_sise=64), "unknown option 'input_sise' (did you mean input_size?)"),
    (dict(val_limit=0), "--val-limit must be at least 1, got 0"),
    (dict(val_limit="many"), "argument --val-limit: invalid int value: 'many'"),
    (dict(target="tflight"), "unknown target"),
    (dict(calibration="median"), "argument --calibration: invalid choice: 'median'"),
    (dict(threshold={"top1_agrement": 0.9}), "did you mean top1_agreement"),
    (dict(fp16=True, int8=True), "not allowed with argument"),
    (dict(model="no/such/checkpoint"), "weights not found: no/such/checkpoint"),
    (dict(model=object()), "model: a Keras model from tinymoat.build_model"),
    (dict(mixed=True), "--mixed only applies to --int8"),
])
def test_bad_options_are_one_line_export_errors_and_nothing_written(kwargs, message, tmp_path):
    args = dict(model="tiny-moat-0", target="tflite", out=tmp_path / "out", verbose=False)
    args.update(kwargs)
    with pytest.raises(ExportError) as raised:
        export(args.pop("model"), **args)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert os.listdir(tmp_path) == []


def test_a_model_of_another_size_or_variant_is_refused_or_rebuilt(tmp_path):
    model = build_micro()
    with pytest.raises(ExportError, match="the model is a tiny-moat-0, not tiny-moat-1"):
        export(model, variant="tiny-moat-1", out=tmp_path / "a", verbose=False)
    with pytest.raises(ExportError, match="the model has 10 classes, not num_classes=5"):
        export(model, num_classes=5, out=tmp_path / "b", verbose=False)


def test_bench_times_every_artifact_and_tinymoat_report_reads_the_results(trained, tmp_path,
                                                                          capsys):
    from tinymoat.export import cli
    from tinymoat.export.latency import report, schema
    out = tmp_path / "artifacts"
    result = export(trained, target=["tflite", "onnx"], int8=True, out=out, calib_limit=4,
                    val_limit=4, bench=True, bench_threads=[1, 2], bench_runs=3, verbose=False)
    timed = {a.target: a.latency_ms for a in result.artifacts}
    assert set(timed["tflite"]) == {1, 2} and set(timed["onnx"]) == {1, 2}
    assert all(v > 0 for v in timed["tflite"].values())
    files = sorted(os.listdir(out / "latency"))
    assert len(files) == 4  # tflite and onnx at 1 and 2 threads
    for name in files:
        doc = json.loads((out / "latency" / name).read_text())
        schema.validate(doc)
        assert doc["artifact"]["file"] in {os.path.basename(a.path) for a in result.artifacts}
    rows = {row["target"]: row for row in result.report["artifacts"]}
    assert rows["onnx"]["latency"]["latency_ms"]["1"]["median"] == timed["onnx"][1]
    assert rows["onnx"]["weights"] == "int8" and rows["onnx"]["activations"].startswith("uint8")
    assert rows["tflite"]["activations"] == "int8"
    assert "| int8 / int8 |" in (out / "report.md").read_text()
    assert "Latency on this machine" in (out / "report.md").read_text()
    # the table the command line prints has the latency columns
    table = cli.summary_table(result.artifacts)
    assert "ms 1 thr" in table.splitlines()[0] and "ms 2 thr" in table.splitlines()[0]
    assert report.main([str(out / "latency"), "--out", str(tmp_path / "report")]) == 0
    assert "4 result(s) merged" in capsys.readouterr().out
    assert "tiny-moat-0_64_int8.tflite" in (tmp_path / "report" / "latency.md").read_text()


def test_bench_options_need_bench(tmp_path):
    with pytest.raises(ExportError, match="--bench-runs: only with --bench"):
        export("tiny-moat-0", bench_runs=5, out=tmp_path / "a", verbose=False)
    with pytest.raises(ExportError, match="--bench-runs must be at least 1, got 0"):
        export("tiny-moat-0", bench=True, bench_runs=0, out=tmp_path / "a", verbose=False)
    with pytest.raises(ExportError, match="--bench-threads '0': expected positive integers"):
        export("tiny-moat-0", bench=True, bench_threads="0", out=tmp_path / "a", verbose=False)
    with pytest.raises(ExportError, match="--bench-runtimes 'litert-9': choose from"):
        export("tiny-moat-0", bench=True, bench_runtimes="litert-9", out=tmp_path / "a",
               verbose=False)


def test_bench_runtimes_time_the_tflite_file_in_litert_1_4_too(trained, tmp_path):
    from tinymoat.export.latency import runtimes
    if runtimes.cached_python("litert-1.4") is None:
        pytest.skip("the litert-1.4 virtualenv is not cached here (tinymoat-bench --runtimes "
                    "litert-1.4 creates it)")
    out = tmp_path / "artifacts"
    result = export(trained, target="tflite", int8=True, out=out, calib_limit=4, val_limit=4,
                    bench=True, bench_threads="1", bench_runs=3, bench_runtimes="litert-1.4",
                    verbose=False)
    (artifact,) = result.artifacts
    assert set(artifact.latency_ms) == {1} and set(artifact.runtime_latency_ms) == {"litert-1.4"}
    assert artifact.runtime_latency_ms["litert-1.4"][1] > 0
    docs = [json.loads((out / "latency" / n).read_text()) for n in os.listdir(out / "latency")]
    assert sorted(d["runtime"].get("environment") or "" for d in docs) == ["", "litert-1.4"]
    assert "[litert-1.4] | litert 1.4.0" in (out / "report.md").read_text()
