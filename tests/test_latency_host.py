"""Host harness (tinymoat-bench on this machine) with the real LiteRT interpreter and ONNX Runtime."""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from ai_edge_litert import __version__ as LITERT_VERSION
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from tinymoat._keras import keras, tf
from tinymoat.export.latency import artifacts, cli, host, schema
from tinymoat.export.latency.errors import UsageError


def _tiny_keras():
    return keras.Sequential([keras.layers.Input((16, 16, 3)),
                             keras.layers.Conv2D(8, 3, activation="relu"),
                             keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()])


def _int8_tflite(model):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.standard_normal((1, 16, 16, 3), np.float32)]
                                                for _ in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def _tiny_onnx():
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3))
                                     .astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 14, 14])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("latency_models")
    keras_model = _tiny_keras()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    (root / "tiny_float32.tflite").write_bytes(converter.convert())
    (root / "tiny.onnx").write_bytes(_tiny_onnx())
    (root / "corrupt.tflite").write_bytes(b"this is not a flatbuffer")
    export = root / "export"
    export.mkdir()
    name = "tiny-moat-0_16_int8.tflite"
    (export / name).write_bytes(_int8_tflite(keras_model))
    (export / "manifest.json").write_text(json.dumps({
        "schema": "tinymoat.export/1", "variant": "tiny-moat-0", "input_size": [16, 16],
        "normalization": {"name": "imagenet", "mean": [123.675, 116.28, 103.53],
                          "std": [58.395, 57.12, 57.375]},
        "artifacts": [{"file": name, "target": "tflite", "precision": "int8"}]}))
    (export / "report.json").write_text(json.dumps({
        "schema": "tinymoat.export-report/1", "artifacts": [
            {"file": name, "validation": {"top1_agreement": 0.94, "accuracy": None}, "passed": True}]}))
    return {"float": root / "tiny_float32.tflite", "onnx": root / "tiny.onnx",
            "corrupt": root / "corrupt.tflite", "int8": export / name, "export": export}


def _results(out):
    assert not list(out.glob(".*.tmp")), "half-written files left behind"
    return sorted((schema.load(p) for p in out.glob("*.json")),
                  key=lambda d: (d["artifact"]["file"], d["runtime"]["delegate"],
                                 d["runtime"]["threads"]))


def test_litert_and_onnxruntime_one_and_two_threads(models, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main([str(models["float"]), str(models["onnx"]), "--threads", "1,2", "--runs", "6",
                     "--warmup", "2", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    docs = _results(out)
    assert [(d["artifact"]["file"], d["runtime"]["name"], d["runtime"]["delegate"],
             d["runtime"]["threads"]) for d in docs] == [
        ("tiny.onnx", "onnxruntime", "CPUExecutionProvider", 1),
        ("tiny.onnx", "onnxruntime", "CPUExecutionProvider", 2),
        ("tiny_float32.tflite", "litert", "xnnpack", 1),
        ("tiny_float32.tflite", "litert", "xnnpack", 2)]
    for doc in docs:
        assert doc["device"]["kind"] == "host"
        assert doc["runtime"]["version"] == (onnxruntime.__version__ if doc["runtime"]["name"] ==
                                             "onnxruntime" else LITERT_VERSION)
        assert doc["latency_ms"]["runs"] == 6 and doc["latency_ms"]["warmup"] == 2
        assert 0 < doc["harness_overhead_ms"] < doc["latency_ms"]["min"]
        assert doc["init_ms"] > 0 and doc["first_inference_ms"] > 0
        assert doc["peak_memory_mb"] >= 0
        assert doc["artifact"]["input_size"] == [16, 16]
        assert doc["artifact"]["sha256"] == artifacts.sha256(
            models["onnx"] if doc["artifact"]["file"] == "tiny.onnx" else models["float"])
    assert docs[2]["artifact"]["precision"] is None  # no manifest: names are not guessed from
    assert "tiny_float32.tflite" in stdout and "tiny.onnx" in stdout
    assert "harness overhead:" in stdout and "4 results written" in stdout


def test_ort_format_files_run_in_onnxruntime(models, tmp_path, capsys):
    ort_path = tmp_path / "tiny.ort"  # ONNX Runtime Mobile's format (tinymoat-export --ort)
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(ort_path)
    options.add_session_config_entry("session.save_model_format", "ORT")
    onnxruntime.InferenceSession(str(models["onnx"]), options, providers=["CPUExecutionProvider"])
    out = tmp_path / "out"
    assert cli.main([str(tmp_path), "--threads", "1", "--runs", "3", "--warmup", "1",
                     "--out", str(out)]) == 0, capsys.readouterr().err
    docs = _results(out)
    assert [(d["artifact"]["file"], d["runtime"]["name"]) for d in docs] == [
        ("tiny.ort", "onnxruntime")]
    assert docs[0]["latency_ms"]["runs"] == 3


def test_xnnpack_off(models, tmp_path):
    out = tmp_path / "out"
    assert cli.main([str(models["float"]), "--no-xnnpack", "--threads", "1,2", "--runs", "4",
                     "--out", str(out)]) == 0
    docs = _results(out)
    settings = [(d["runtime"]["delegate"], d["runtime"]["threads"]) for d in docs]
    assert settings == [("cpu", 1), ("cpu", 2)]


def test_export_files_label_the_result(models, tmp_path):
    out = tmp_path / "one.json"
    assert cli.main([str(models["export"]), "--runs", "3", "--out", str(out)]) == 0
    doc = schema.load(out)
    assert doc["artifact"] == {"file": models["int8"].name, "variant": "tiny-moat-0",
                               "precision": "int8", "input_size": [16, 16],
                               "size_bytes": models["int8"].stat().st_size,
                               "sha256": artifacts.sha256(models["int8"])}
    assert doc["validation"] == {"top1_agreement": 0.94, "accuracy": None}


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(1)
    for label, size in (("cat", (40, 30)), ("dog", (20, 24))):
        (tmp_path / "val" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
                tmp_path / "val" / label / f"{i}.png")
    return tmp_path / "val"


def test_validation_images_as_inputs(models, image_folder, tmp_path):
    out = tmp_path / "out"
    assert cli.main([str(models["int8"]), "--val-data", str(image_folder), "--runs", "4",
                     "--out", str(out)]) == 0
    [doc] = _results(out)
    assert "inputs: 4 validation images" in doc["notes"]


def test_images_are_resized_normalised_and_quantized(models, image_folder):
    images = host.list_images(image_folder)
    assert [p.parent.name for p in images] == ["cat", "dog", "cat", "dog"]  # round robin
    info = artifacts.export_info(models["int8"])
    mean, std, note = host.normalization(info)
    assert note is None and mean[0] == pytest.approx(123.675)
    spec = {"name": "x", "shape": [1, 16, 16, 3], "dtype": "int8", "scale": 0.05, "zero_point": -3}
    [feed] = host.image_feeds(images[:1], [spec], mean, std)[0:1]
    x = feed[0]
    assert x.dtype == np.int8 and x.shape == (1, 16, 16, 3)
    with Image.open(images[0]) as image:
        rgb = np.asarray(image.convert("RGB").resize((16, 16), Image.BILINEAR), np.float32)
    expected = np.clip(np.round((rgb - mean) / std / 0.05) - 3, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(x[0], expected)
    nchw = dict(spec, shape=[1, 3, 16, 16], dtype="float32", scale=None, zero_point=None)
    assert host.image_feeds(images[:1], [nchw], mean, std)[0][0].shape == (1, 3, 16, 16)


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_core_ml_is_skipped_off_macos(tmp_path, capsys):
    package = tmp_path / "model.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    assert cli.main([str(package), "--out", str(tmp_path / "out")]) == 0
    stdout = capsys.readouterr().out
    assert "skipped: model.mlpackage: Core ML predictions need macOS" in stdout
    assert "no results written" in stdout
    assert not (tmp_path / "out").exists()


def test_corrupt_model_is_one_line_and_no_file(models, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main([str(models["corrupt"]), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinymoat-bench: error: corrupt.tflite: litert failed")
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("argv,message", [
    (["nowhere.tflite"], "nowhere.tflite: no such file or directory"),
    (["{float}", "{onnx}", "--out", "x.json"], "is one file but 2 measurements"),
    (["{float}", "--runs", "0"], "--runs must be at least 1"),
    (["{float}", "--threads", "0,two"], "--threads"),
    (["{float}", "--val-data", "/nonexistent"], "--val-data /nonexistent: not a directory"),
    (["{float}", "--runtime", "onnxruntime"], "--runtime onnxruntime cannot run a .tflite file"),
    (["{float}", "--bogus"], "unrecognized arguments: --bogus"),
    (["{float}", "--android", "--device", "ssh://a@b"], "exclusive"),
])
def test_usage_errors_are_one_line(models, argv, message, capsys):
    argv = [a.format(**{k: str(v) for k, v in models.items()}) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinymoat-bench: error: ") and message in err[0], err


def test_directory_with_nothing_to_run(models, capsys):
    assert cli.main([str(models["export"]), "--runtime", "onnxruntime"]) == 2
    assert "no .onnx, .ort artifacts in this directory" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_validation_images_follow_the_shared_image_rule(models, tmp_path):
    from test_data import bomb_png, without_blocking
    info = artifacts.export_info(models["int8"])
    mean, std, _ = host.normalization(info)
    spec = {"name": "x", "shape": [1, 16, 16, 3], "dtype": "float32", "scale": None,
            "zero_point": None}
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, message in ((fifo, "not a regular file"), (bomb_png(tmp_path / "bomb.png"),
                                                           "its header claims more than 134217728 pixels")):
        with pytest.raises(UsageError, match=f"--val-data: cannot read {path}: .*{message}"):
            without_blocking(host.image_feeds, [path], [spec], mean, std, fifo=fifo)


def test_deeply_nested_manifest_is_ignored_with_a_note(tmp_path):
    model = tmp_path / "tiny-moat-0_16_int8.tflite"
    model.write_bytes(b"")
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    info = artifacts.export_info(model)
    assert any("ignored unreadable manifest.json" in note for note in info.notes)
