"""TFLite runtimes side by side (tinymoat-bench --runtimes): the runner, the cache, the results.

The runner runs here with the project's own python and LiteRT (the same code
path a cached runtime virtualenv takes); a test with LiteRT 1.4.0 runs only
when its virtualenv is already cached (nothing is downloaded by the tests).
"""

import json
import sys

import numpy as np
import pytest

from tinymoat._keras import keras, tf
from tinymoat.export.latency import cli, report, runtimes, schema
from tinymoat.export.latency.errors import BenchError, UsageError


def _convert(model, int8):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(0)
        converter.representative_dataset = lambda: (
            [rng.standard_normal((1, 16, 16, 3), np.float32)] for _ in range(4))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime_models")
    keras.utils.set_random_seed(0)
    tiny = keras.Sequential([keras.layers.Input((16, 16, 3)),
                             keras.layers.Conv2D(8, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
    (root / "tiny_float32.tflite").write_bytes(_convert(tiny, False))
    (root / "tiny_int8.tflite").write_bytes(_convert(tiny, True))
    # CUMSUM has no XNNPACK kernel: the graph splits around it.
    inputs = keras.layers.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: tf.math.cumsum(t, axis=1))(x)
    x = keras.layers.Conv2D(4, 3)(x)
    (root / "split_float32.tflite").write_bytes(_convert(keras.Model(inputs, x), False))
    return root


def _feed(path, seed=0):
    from ai_edge_litert.interpreter import Interpreter
    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    rng = np.random.default_rng(seed)
    if np.dtype(detail["dtype"]) == np.int8:
        return [rng.integers(-128, 127, detail["shape"], endpoint=True, dtype=np.int8)]
    return [rng.standard_normal(detail["shape"]).astype(np.float32)]


def test_runner_in_project_python_times_counts_partitions_and_returns_outputs(models):
    paths = [models / "tiny_float32.tflite", models / "tiny_int8.tflite",
             models / "split_float32.tflite"]
    feeds = [_feed(p, k) for k, p in enumerate(paths)]
    result, outputs = runtimes.run_models(sys.executable, paths, feeds, runs=3, warmup=1)
    assert result["runtime"]["version"] == runtimes.reference_version()
    entries = result["models"]
    assert [e["model"] for e in entries] == [p.name for p in paths]
    for entry, path, feed, out in zip(entries, paths, feeds, outputs):
        assert entry["latency_ms"]["runs"] == 3 and entry["latency_ms"]["warmup"] == 1
        assert entry["latency_ms"]["median"] > 0
        reference, details = runtimes.reference_outputs(path, feed)
        np.testing.assert_array_equal(out[0], reference[0])  # same runtime, same input
    assert entries[0]["partitions"] == 1 and entries[0]["ops_outside"] == {}
    assert entries[1]["partitions"] == 1 and entries[1]["ops_outside"] == {}
    # the graph around CUMSUM: two partitions, CUMSUM run by the interpreter itself
    assert entries[2]["partitions"] == 2 and entries[2]["ops_outside"] == {"CUMSUM": 1}


def test_runner_without_xnnpack_reports_every_op_outside(models):
    path = models / "tiny_int8.tflite"
    result, _ = runtimes.run_models(sys.executable, [path], [_feed(path)], runs=2, warmup=0,
                                    delegate="cpu")
    entry = result["models"][0]
    assert entry["partitions"] == 0
    assert entry["ops_outside"].keys() >= {"CONV_2D", "FULLY_CONNECTED"}
    assert entry["init_ms"] > 0 and entry["peak_memory_mb"] is not None  # one model: full loop


def test_runner_failure_is_one_line(models, tmp_path):
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(BenchError, match=r"runtime runner failed \(exit 4\)"):
        runtimes.run_models(sys.executable, [bad], [[np.zeros((1, 16, 16, 3), np.float32)]],
                            runs=1, warmup=0)


def test_agreement_dequantizes_and_compares_top1():
    details = [{"quantization": (0.5, -10)}]
    same = runtimes.agreement([np.array([[0, 4, 2]], np.int8)], [np.array([[0, 4, 2]], np.int8)],
                              details)
    assert same == {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "sqnr_db": None, "same_top1": True}
    off = runtimes.agreement([np.array([[0, 4, 6]], np.int8)], [np.array([[0, 4, 2]], np.int8)],
                             details)
    assert off["max_abs_diff"] == pytest.approx(2.0)  # 4 steps of 0.5
    assert off["max_rel_diff"] == pytest.approx(2.0 / 7.0)  # largest reference: (4 + 10) * 0.5
    assert not off["same_top1"] and off["sqnr_db"] < 20


def test_cache_lookup_needs_a_complete_virtualenv(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYMOAT_RUNTIMES", str(tmp_path))
    assert runtimes.cache_root() == tmp_path
    # this environment's ai-edge-litert is 2.3: that runtime runs here, nothing is created
    assert runtimes.cached_python("litert-2.3") == __import__("pathlib").Path(sys.executable)
    assert runtimes.ensure("litert-2.3") == __import__("pathlib").Path(sys.executable)
    root = tmp_path / "litert-1.4"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    assert runtimes.cached_python("litert-1.4") is None  # no marker: pip never finished
    (root / runtimes.MARKER).write_text(json.dumps({"requirements": ["ai-edge-litert==1.3.0"]}))
    assert runtimes.cached_python("litert-1.4") is None  # made for other requirements
    (root / runtimes.MARKER).write_text(
        json.dumps({"requirements": runtimes.RUNTIMES["litert-1.4"].requirements}))
    assert runtimes.cached_python("litert-1.4") == root / "bin" / "python"
    assert runtimes.RUNTIMES["litert-1.4"].requirements == ["ai-edge-litert==1.4.0", "numpy<2"]
    assert runtimes.RUNTIMES["litert-2.3"].requirements == ["ai-edge-litert==2.3.*"]


def test_parse_names():
    assert runtimes.parse("litert-1.4, litert-2.3,litert-1.4") == ["litert-1.4", "litert-2.3"]
    with pytest.raises(UsageError, match="choose from litert-2.3, litert-1.4, tflite-2.14"):
        runtimes.parse("litert-9")


def test_bench_runtimes_writes_results_and_report_shows_runtimes(models, tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main([str(models / "tiny_int8.tflite"), str(models / "split_float32.tflite"),
                     "--runtimes", "litert-2.3", "--runs", "2", "--warmup", "0", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "split_float32.tflite [litert-2.3]: 2 XNNPACK partitions; outside XNNPACK: CUMSUM x1" \
        in printed
    docs = {p.name: schema.load(p) for p in out.glob("*.json")}
    assert len(docs) == 2
    doc = next(d for name, d in docs.items() if name.startswith("tiny_int8"))
    assert doc["runtime"]["environment"] == "litert-2.3"
    assert doc["runtime"]["version"] == runtimes.reference_version()
    assert doc["xnnpack"] == {"partitions": 1, "ops_outside": {}}
    assert doc["agreement"]["same_top1"] and doc["agreement"]["max_abs_diff"] == 0
    assert "litert-2.3" in next(iter(docs))  # the runtime is part of the file name
    assert report.main([str(out), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "latency.md").read_text()
    assert "## By TFLite runtime" in text and "| Device | Artifact | Threads | litert-2.3 |" in text
    assert "split_float32.tflite in litert" in text and "outside XNNPACK CUMSUMx1" in text
    csv_text = (tmp_path / "report" / "latency.csv").read_text()
    assert ",litert-2.3," in csv_text


@pytest.mark.parametrize("argv, message", [
    (["--runtimes", "litert-7"], "--runtimes 'litert-7': choose from"),
    (["--runtimes", "litert-1.4", "--runtime", "onnxruntime"], "leave out --runtime"),
    (["--runtimes", "litert-1.4", "--device", "ssh://pi@board"], "this machine only"),
])
def test_bench_runtimes_usage_errors_are_one_line(models, argv, message, capsys):
    assert cli.main([str(models / "tiny_int8.tflite"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_schema_accepts_runtime_facts_and_checks_them(models, tmp_path):
    out = tmp_path / "one.json"
    assert cli.main([str(models / "tiny_float32.tflite"), "--runtimes", "litert-2.3",
                     "--runs", "1", "--warmup", "0", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    doc["xnnpack"]["partitions"] = "one"
    with pytest.raises(schema.SchemaError, match="xnnpack.partitions: expected integer"):
        schema.validate(doc)
    doc["xnnpack"] = {"partitions": 1}
    with pytest.raises(schema.SchemaError, match="xnnpack.ops_outside: missing"):
        schema.validate(doc)
    del doc["xnnpack"], doc["agreement"], doc["runtime"]["environment"]
    schema.validate(doc)  # results without runtime facts stay valid


@pytest.mark.skipif(runtimes.cached_python("litert-1.4") is None,
                    reason="the litert-1.4 runtime is not cached (tinymoat-bench --runtimes "
                           "litert-1.4 creates it)")
def test_cached_litert_1_4_runs_and_agrees(models):
    paths = [models / "tiny_float32.tflite", models / "tiny_int8.tflite"]
    feeds = [_feed(p) for p in paths]
    result, outputs = runtimes.run_models(runtimes.cached_python("litert-1.4"), paths, feeds,
                                          runs=2, warmup=0)
    assert result["runtime"]["version"] == "1.4.0"
    for path, feed, out, entry in zip(paths, feeds, outputs, result["models"]):
        reference, details = runtimes.reference_outputs(path, feed)
        agreed = runtimes.agreement(out, reference, details)
        assert agreed["same_top1"] and agreed["max_rel_diff"] < 1e-5
        assert entry["partitions"] == 1
