"""ONNX target: tf2onnx float32 and ORT QDQ int8 artifacts, run with ONNX Runtime."""

import collections
import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import tinymoat
from conftest import MICRO, build_micro
from tinymoat.export import onnx as onnx_target
from tinymoat.export.onnx import OnnxTarget, OrtTarget, qdq
from tinymoat.export.target import ExportError, ExportJob
from tinymoat.layers import dense_bias

LABELS = [f"class {i}" for i in range(9)] + ["ünïcode"]
TARGET = OnnxTarget()


def _job(model, size=64, statistic="minmax", seed=0):
    rng = np.random.default_rng(seed)
    return ExportJob(model=model, variant="tiny-moat-0", input_size=(size, size), labels=LABELS,
                     normalization="imagenet", calibration_statistic=statistic,
                     calibration=rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8))


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _keras_logits(job, pixels):
    x = job.normalized(pixels)
    return np.concatenate([job.model(x[i:i + 1]).numpy() for i in range(len(x))])


def _sqnr(ref, out):
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - out) ** 2))


@pytest.fixture(scope="module")
def job():
    model = build_micro(batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    return _job(model)


@pytest.fixture(scope="module")
def artifacts(job, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for precision in ("float32", "int8"):
        paths[precision] = str(folder / TARGET.file_name(job, precision))
        TARGET.export(job, precision, paths[precision])
    return paths


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(7).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)


def test_float32_has_named_nhwc_io_opset_17_and_passes_the_checker(artifacts):
    info = TARGET.describe(artifacts["float32"])
    assert info["checker"] == "passed"
    assert info["opset"]["ai.onnx"] == 17
    assert info["inputs"] == [{"name": "image", "type": "float", "shape": [1, 64, 64, 3]}]
    assert info["outputs"] == [{"name": "logits", "type": "float", "shape": [1, 10]}]
    assert info["quantize_linear"] == info["dequantize_linear"] == 0
    assert info["op_types"]["Erf"] == 11  # the exact GELU, one per activation
    assert all(info["checks"].values()), info["checks"]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_metadata_carries_what_an_app_needs(artifacts, precision):
    meta = TARGET.describe(artifacts[precision])["metadata"]
    assert meta["tinymoat.labels"] == LABELS
    assert meta["tinymoat.mean"] == pytest.approx([123.675, 116.28, 103.53])
    assert meta["tinymoat.std"] == pytest.approx([58.395, 57.12, 57.375])
    assert meta["tinymoat.normalization"] == "imagenet"
    assert meta["tinymoat.variant"] == "tiny-moat-0"
    assert meta["tinymoat.input_size"] == [64, 64]
    assert meta["tinymoat.precision"] == precision
    assert meta["tinymoat.input_layout"] == {  # INT8 takes uint8 pixels, as the INT8 TFLite
        "float32": "NHWC, RGB, (x - mean) / std",
        "int8": "NHWC, RGB, uint8 pixels 0..255, (x - mean) / std inside the graph"}[precision]


def test_float32_predictions_equal_the_keras_model(job, artifacts, pixels):
    out = TARGET.predict(artifacts["float32"], pixels)
    np.testing.assert_allclose(out, _keras_logits(job, pixels), atol=2e-5, rtol=0)


def test_predict_normalises_with_the_metadata_of_the_file(job, artifacts, pixels, tmp_path):
    model = onnx.load(artifacts["float32"])
    for prop in model.metadata_props:
        if prop.key == "tinymoat.mean":
            prop.value = json.dumps([127.5] * 3)
        if prop.key == "tinymoat.std":
            prop.value = json.dumps([127.5] * 3)
    onnx.save(model, tmp_path / "inception.onnx")
    out = TARGET.predict(str(tmp_path / "inception.onnx"), pixels)
    expected = job.model((pixels[:1].astype(np.float32) - 127.5) / 127.5).numpy()
    np.testing.assert_allclose(out[:1], expected, atol=2e-5, rtol=0)


def test_int8_is_qdq_with_per_channel_int8_weights(artifacts):
    info = TARGET.describe(artifacts["int8"])
    assert info["checker"] == "passed"
    assert info["quantize_linear"] > 50 and info["dequantize_linear"] > info["quantize_linear"]
    assert info["initializer_dtypes"]["int8"] > 20
    assert all(info["checks"].values()), info["checks"]
    model = onnx.load(artifacts["int8"])
    inits = {i.name: i for i in model.graph.initializer}
    dequantized = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    conv_weights = [dequantized[n.input[1]] for n in model.graph.node if n.op_type == "Conv"]
    assert len(conv_weights) == 45  # the deploy graph's, attention projections included
    for node in conv_weights:
        weight, scale = inits[node.input[0]], inits[node.input[1]]
        assert weight.data_type == onnx.TensorProto.INT8
        if weight.dims[0] > 1:                            # one scale per output channel
            assert list(scale.dims) == [weight.dims[0]]
        zero = numpy_helper.to_array(inits[node.input[2]])
        assert zero.dtype == np.int8 and not zero.any()  # symmetric
    activations = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert all(numpy_helper.to_array(inits[n.input[2]]).dtype == np.uint8 for n in activations)


def test_int8_attention_weights_keep_the_whole_softmax_range(artifacts):
    # Calibrated min/max of a softmax output clips other images' sharper attention peaks.
    model = onnx.load(artifacts["int8"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    softmax = {n.output[0] for n in model.graph.node if n.op_type == "Softmax"}
    quantized = [n for n in model.graph.node if n.op_type == "QuantizeLinear"
                 and n.input[0] in softmax]
    assert len(quantized) == len(softmax) > 0
    for node in quantized:
        assert inits[node.input[1]] == np.float32(1 / 255) and inits[node.input[2]] == 0


def test_onnx_runtime_runs_the_int8_graph_in_integer_kernels(artifacts, tmp_path):
    """From ORT's optimized graph: every Conv and MatMul became QLinearConv/QLinearMatMul
    (a Conv left in float between DequantizeLinear nodes is the slow path)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(artifacts["int8"], options, providers=["CPUExecutionProvider"])
    ops = {}
    for node in onnx.load(options.optimized_model_filepath).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    assert ops.get("QLinearConv") == 45 and ops.get("QLinearMatMul") == 6, ops
    assert "Conv" not in ops and "MatMul" not in ops and "Erf" not in ops, ops
    assert ops.get("QLinearSigmoid", 0) >= 11  # GELU's sigmoid form as a table lookup


def test_float32_gelu_is_fused_by_onnx_runtime(artifacts, tmp_path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(artifacts["float32"], options, providers=["CPUExecutionProvider"])
    ops = [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]
    assert ops.count("Gelu") == 11 and "Erf" not in ops


def test_int8_activation_type_is_a_choice(job, tmp_path):
    import dataclasses
    path = str(tmp_path / "s8.onnx")
    notes = TARGET.export(dataclasses.replace(job, onnx_activations="int8"), "int8", path)
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    activations = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert all(numpy_helper.to_array(inits[n.input[2]]).dtype == np.int8 for n in activations)
    assert notes["activations"] == "int8 (S8S8)"


def test_int8_agrees_with_float32(artifacts, pixels):
    ref = TARGET.predict(artifacts["float32"], pixels)
    out = TARGET.predict(artifacts["int8"], pixels)
    assert np.mean(ref.argmax(1) == out.argmax(1)) >= 0.9
    assert _sqnr(ref, out) > 25


def test_exports_are_byte_identical(job, artifacts, tmp_path):
    for precision in ("float32", "int8"):
        again = str(tmp_path / f"again_{precision}.onnx")
        TARGET.export(job, precision, again)
        assert _sha(again) == _sha(artifacts[precision]), precision


_EXPORT_IN_A_NEW_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from conftest import MICRO, build_micro  # first: it checks tinymoat is not imported yet
import tinymoat
from test_export_onnx import TARGET, _job
model = build_micro(batch_size=1)
tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
TARGET.export(_job(model), "float32", sys.argv[1])
"""


def test_float32_is_the_same_bytes_under_other_hash_seeds(artifacts, tmp_path):
    # tf2onnx's optimizer keeps a different number of identity Reshapes per hash seed
    script = _EXPORT_IN_A_NEW_PROCESS.format(tests=os.path.dirname(os.path.abspath(__file__)))
    for seed in ("1", "2"):
        path = str(tmp_path / f"seed{seed}.onnx")
        subprocess.run([sys.executable, "-c", script, path], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        assert _sha(path) == _sha(artifacts["float32"]), seed


def test_identity_reshapes_are_dropped_and_others_kept():
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8])
    same = numpy_helper.from_array(np.array([1, 4, 4, 1], np.int64), "same")
    flat = numpy_helper.from_array(np.array([1, 16, 8], np.int64), "flat")
    graph = helper.make_graph([
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[3], keepdims=1),
        helper.make_node("Reshape", ["mean", "same"], ["mean_again"]),
        helper.make_node("Sub", ["x", "mean_again"], ["centred"]),
        helper.make_node("Reshape", ["centred", "flat"], ["y"])], "g", [x], [y], [same, flat])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert onnx_target.drop_identity_reshapes(model) == 1
    assert [n.op_type for n in model.graph.node] == ["ReduceMean", "Sub", "Reshape"]
    assert list(model.graph.node[1].input) == ["x", "mean"]
    assert [i.name for i in model.graph.initializer] == ["flat"]
    onnx.checker.check_model(model, full_check=True)


def test_relative_bias_is_stored_as_tables_and_stays_exact(tmp_path):
    # At 128x128 the micro model attends over 8x8 and 4x4 maps: bias constants worth compacting.
    model = build_micro(input_size=128, batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    job = _job(model, size=128)
    path = str(tmp_path / "micro_128.onnx")
    notes = TARGET.export(job, "float32", path)
    info = TARGET.describe(path)
    assert info["relative_bias_tables"] == 3 and "3 dense bias constants" in notes["relative_bias"]
    graph = onnx.load(path).graph
    index = {i.name: numpy_helper.to_array(i) for i in graph.initializer
             if i.name.startswith("relative_position_index_")}
    assert sorted(index) == ["relative_position_index_4x4", "relative_position_index_8x8"]
    assert index["relative_position_index_8x8"].shape == (64, 64)
    pixels = np.random.default_rng(3).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    np.testing.assert_allclose(TARGET.predict(path, pixels), _keras_logits(job, pixels),
                               atol=2e-5, rtol=0)


@pytest.mark.parametrize("separable", [False, True])
def test_compact_relative_bias_forms_give_the_dense_bias_bit_for_bit(separable):
    # A 4x6 window (not square, so rows and columns cannot be swapped unnoticed), 4 heads.
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tinymoat.export.onnx.convert import compact_relative_bias
    height, width, heads = 4, 6, 4
    table = np.random.default_rng(7).normal(size=(1, heads, 2 * height - 1, 2 * width - 1))
    i, j, x, y = np.meshgrid(*(np.arange(n) for n in (height, width, height, width)),
                             indexing="ij")
    dense = table[:, :, x - i + height - 1, y - j + width - 1].astype(np.float32)
    dense = dense.reshape(1, heads, height * width, height * width)
    shape = list(dense.shape)
    graph = helper.make_graph(
        [helper.make_node("Add", ["scores", "bias"], ["out"])], "g",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(dense, "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    replaced, saved = compact_relative_bias(model, separable=separable)
    assert replaced == 1 and saved > 0
    assert not any(list(i.dims) == shape for i in model.graph.initializer)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    out = session.run(None, {"scores": np.zeros(shape, np.float32)})[0]
    np.testing.assert_array_equal(out, dense)


# Entropy (KL) clips harder; on the micro model with noise images it costs ~15 dB.
@pytest.mark.parametrize("statistic,min_sqnr", [("percentile", 25), ("entropy", 15)])
def test_histogram_statistics_clip_ranges_inside_min_max(job, artifacts, pixels, statistic,
                                                         min_sqnr, tmp_path):
    source = str(tmp_path / "float.onnx")
    onnx.save(onnx.load(artifacts["float32"]), source)
    minmax = onnx_target.calibrate(source, job, str(tmp_path))
    ranges = onnx_target.calibrate(source, _job(job.model, statistic=statistic), str(tmp_path))
    assert set(ranges.data) == set(minmax.data)
    narrower = 0
    for name, data in ranges.items():
        low, high = data.range_value
        mlow, mhigh = minmax[name].range_value
        assert mlow <= low <= high <= mhigh, name
        narrower += bool(high - low < mhigh - mlow)
    assert narrower > 0
    path = str(tmp_path / f"{statistic}.onnx")
    TARGET.export(_job(job.model, statistic=statistic), "int8", path)
    ref, out = TARGET.predict(artifacts["float32"], pixels), TARGET.predict(path, pixels)
    assert _sqnr(ref, out) > min_sqnr and np.mean(ref.argmax(1) == out.argmax(1)) >= 0.75


def test_calibration_runs_on_one_thread(job, artifacts, tmp_path, monkeypatch):
    sessions = []

    def spy(path):
        sessions.append(one_thread(path))
        return sessions[-1]

    one_thread = qdq._one_thread_session
    monkeypatch.setattr(qdq, "_one_thread_session", spy)
    source = str(tmp_path / "float.onnx")
    onnx.save(onnx.load(artifacts["float32"]), source)
    onnx_target.calibrate(source, job, str(tmp_path))
    assert len(sessions) == 1  # min/max: one calibrator
    options = sessions[0].get_session_options()
    assert options.intra_op_num_threads == options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.set_denormal_as_zero") == "1"


def test_percentile_keeps_min_max_for_tensors_a_histogram_cannot_bin():
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorData, TensorsData

    def data(low, high):
        return TensorData(lowest=np.float32(low), highest=np.float32(high))

    ranges = TensorsData(CalibrationMethod.MinMax, {
        "variance": data(0.0057976, 0.00579765), "spread": data(-1.0, 3.0),
        "constant": data(2.0, 2.0), "positive": data(0.5, 0.9)})
    assert qdq._degenerate(ranges) == {"variance", "constant"}


def test_unknown_statistic_and_precision_are_export_errors(job, tmp_path):
    with pytest.raises(ExportError, match="calibration statistic"):
        TARGET.export(_job(job.model, statistic="mse"), "int8", str(tmp_path / "x.onnx"))
    with pytest.raises(ExportError, match="precision"):
        TARGET.export(job, "float16", str(tmp_path / "y.onnx"))


# ------------------------------------------------- uint8 pixel input, ORT Mobile

def test_int8_takes_uint8_pixels_and_computes_what_the_float_input_file_does(
        job, artifacts, pixels, tmp_path):
    import dataclasses

    import onnxruntime as ort
    info = TARGET.describe(artifacts["int8"])
    assert info["inputs"] == [{"name": "image", "type": "uint8", "shape": [1, 64, 64, 3]}]
    assert all(info["checks"].values()), info["checks"]
    float_input = str(tmp_path / "float_input.onnx")
    notes = TARGET.export(dataclasses.replace(job, input_type="float32"), "int8", float_input)
    assert notes["input"] == "float32, normalised"
    assert TARGET.describe(float_input)["inputs"][0]["type"] == "float"
    session = ort.InferenceSession(artifacts["int8"], providers=["CPUExecutionProvider"])
    raw = np.concatenate([session.run(None, {"image": p[None]})[0] for p in pixels])
    normalised = job.normalized(pixels)
    session = ort.InferenceSession(float_input, providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"image": x[None]})[0] for x in normalised])
    np.testing.assert_allclose(raw, expected, atol=1e-6, rtol=0)  # same values quantized
    np.testing.assert_allclose(TARGET.predict(artifacts["int8"], pixels), raw, atol=0, rtol=0)


def test_int8_input_type_int8_is_tflite_only_and_onnx_takes_pixels(job, tmp_path):
    import dataclasses
    path = str(tmp_path / "int8_input.onnx")
    notes = TARGET.export(dataclasses.replace(job, input_type="int8"), "int8", path)
    assert notes["input"] == "uint8 pixels, normalised in the graph (int8 input is TFLite only)"
    assert TARGET.describe(path)["inputs"][0]["type"] == "uint8"


@pytest.fixture(scope="module")
def ort_files(job, artifacts):
    ort_target = OrtTarget(TARGET)
    paths, notes = {}, {}
    for precision, onnx_path in artifacts.items():
        paths[precision] = os.path.splitext(onnx_path)[0] + ".ort"
        assert os.path.basename(paths[precision]) == ort_target.file_name(job, precision)
        notes[precision] = ort_target.export(job, precision, paths[precision])
    return paths, notes


FLOAT, INT32 = 1, 6  # ONNX TensorProto data types, as the ORT format stores them


def _ort_graph(path):
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs import InferenceSession
    with open(path, "rb") as f:
        data = f.read()
    return InferenceSession.InferenceSession.GetRootAsInferenceSession(data, 0).Model().Graph()


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_ort_file_loads_in_onnx_runtime_and_agrees_with_the_onnx(artifacts, ort_files, pixels,
                                                                  precision):
    paths, notes = ort_files
    assert notes[precision]["source"] == os.path.basename(artifacts[precision])  # no re-export
    out = OrtTarget(TARGET).predict(paths[precision], pixels)  # ORT loading the .ort
    np.testing.assert_allclose(out, TARGET.predict(artifacts[precision], pixels),
                               atol=1e-5, rtol=0)
    info = OrtTarget(TARGET).describe(paths[precision])
    assert info["format"] == "ort" and info["inputs"] == TARGET.describe(
        artifacts[precision])["inputs"]
    assert info["metadata"] == TARGET.describe(artifacts[precision])["metadata"]
    assert {k: v for k, v in info["checks"].items() if k != "size"} == {
        "input": True, "output": True, "normalization": True}


def test_ort_int8_holds_the_integer_kernels(ort_files):
    """The .ort is the graph ORT runs: QDQ fused into integer kernels when it was written."""
    graph = _ort_graph(ort_files[0]["int8"])
    ops = collections.Counter(graph.Nodes(i).OpType().decode() for i in range(graph.NodesLength()))
    assert ops["QLinearConv"] == 45 and ops["QLinearMatMul"] == 6, ops
    assert "Conv" not in ops and "MatMul" not in ops, ops


def test_ort_of_tiny_moat_0_is_within_5_percent_of_the_onnx(tmp_path):
    # The micro model's weights are too few for the format's per-value records to vanish
    # beside them; tiny-moat-0 is the smallest released variant (10 classes: fewer weights).
    model = tinymoat.build_model("tiny-moat-0", 64, num_classes=10, batch_size=1)
    job = dataclasses.replace(_job(model), labels=[str(i) for i in range(10)])
    target = OnnxTarget()
    onnx_path, ort_path = str(tmp_path / "m.onnx"), str(tmp_path / "m.ort")
    target.export(job, "int8", onnx_path)
    notes = OrtTarget(target).export(job, "int8", ort_path)
    assert os.path.getsize(ort_path) <= onnx_target.ORT_SIZE_LIMIT * os.path.getsize(onnx_path)
    assert notes["size_vs_onnx"] == pytest.approx(
        os.path.getsize(ort_path) / os.path.getsize(onnx_path), abs=1e-4)
    assert OrtTarget(target).describe(ort_path)["checks"]["size"]


def test_ort_of_a_job_without_an_onnx_exports_one(job, tmp_path):
    path = str(tmp_path / "alone.ort")
    notes = OrtTarget(OnnxTarget()).export(job, "float32", path)
    assert notes["source"] == "an .onnx exported for it" and "mobile" in notes
    pixels = np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(OrtTarget(TARGET).predict(path, pixels),
                               _keras_logits(job, pixels), atol=2e-5, rtol=0)


def test_mobile_verdict_is_onnx_runtimes_partitioning(ort_files):
    paths, notes = ort_files
    verdict = notes["float32"]["mobile"]
    assert set(verdict) == {"nnapi", "coreml_neuralnetwork", "coreml_mlprogram",
                            "recommendation"}
    # NNAPI has no Erf (the exact GELU); Core ML's ML Program takes the whole float graph
    assert "Erf" in verdict["nnapi"]["unsupported_ops"] and verdict["nnapi"]["partitions"] > 2
    assert verdict["nnapi"]["verdict"] == "NO"
    assert verdict["coreml_mlprogram"] == {"partitions": 1, "nodes": verdict[
        "coreml_mlprogram"]["nodes"], "verdict": "YES", "unsupported_ops": []}
    assert "CoreML MLProgram" in verdict["recommendation"]
    int8 = notes["int8"]["mobile"]
    assert "QuantizeLinear" in int8["coreml_mlprogram"]["unsupported_ops"]
    assert int8["recommendation"].startswith("CPU execution provider")


def test_export_report_rows_carry_the_mobile_verdict(job, tmp_path):
    from tinymoat.export import pipeline
    from tinymoat.export.onnx import with_ort
    plan = with_ort([(OnnxTarget(), "float32")])
    assert [(t.name, p) for t, p in plan] == [("onnx", "float32"), ("ort", "float32")]
    pixels = np.random.default_rng(5).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    pipeline.write_export(job, plan, str(tmp_path), pixels, None, {}, {})
    report = json.loads((tmp_path / "report.json").read_text())
    rows = {row["file"]: row for row in report["artifacts"]}
    assert sorted(rows) == ["tiny-moat-0_64_float32.onnx", "tiny-moat-0_64_float32.ort"]
    for row in rows.values():
        mobile = row["notes"]["mobile"]
        assert mobile["nnapi"]["partitions"] > 0 and mobile["recommendation"]
        assert row["validation"]["sqnr_db"] > 60  # the .ort validated against Keras too
    ort_row = rows["tiny-moat-0_64_float32.ort"]
    assert ort_row["checks"]["onnx_bytes"] == os.path.getsize(
        tmp_path / "tiny-moat-0_64_float32.onnx")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [a["target"] for a in manifest["artifacts"]] == ["onnx", "ort"]


def test_ort_needs_an_onnx_target():
    from tinymoat.export.options import check_args, parser
    with pytest.raises(ExportError, match="--ort"):
        check_args(parser().parse_args(["--target", "tflite", "--ort"]))
    plan, _ = check_args(parser().parse_args(["--target", "all", "--int8", "--ort"]))
    assert [t.name for t, _ in plan] == ["tflite", "onnx", "ort", "coreml"]


def test_latency_harness_feeds_raw_pixels_to_a_uint8_input(tmp_path):
    from PIL import Image

    from tinymoat.export.latency import host
    rgb = np.random.default_rng(4).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    mean, std = np.float32([100, 100, 100]), np.float32([50, 50, 50])
    onnx_spec = {"name": "image", "shape": [1, 8, 8, 3], "dtype": "uint8", "scale": None,
                 "zero_point": None}
    tflite_spec = dict(onnx_spec, scale=1.0, zero_point=0)
    for spec in (onnx_spec, tflite_spec):
        [[fed]] = host.image_feeds([tmp_path / "a.png"], [spec], mean, std)
        np.testing.assert_array_equal(fed, rgb[None])
    float_spec = dict(onnx_spec, dtype="float32")
    [[fed]] = host.image_feeds([tmp_path / "a.png"], [float_spec], mean, std)
    np.testing.assert_allclose(fed, (rgb[None] - mean) / std)


def test_ort_keeps_the_relative_bias_tables(tmp_path):
    # At 128 the micro model has 3 bias tables (see test_relative_bias_is_stored_as_tables...);
    # constant folding would turn each Gather(table, index) back into a dense [.., S, S] tensor.
    # The .ort expands each table in two Gathers (by columns, then rows of W values).
    model = build_micro(input_size=128, batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    job = _job(model, size=128)
    target = OnnxTarget()
    target.export(job, "float32", str(tmp_path / "m.onnx"))
    OrtTarget(target).export(job, "float32", str(tmp_path / "m.ort"))
    graph = _ort_graph(str(tmp_path / "m.ort"))
    gathers = [graph.Nodes(i) for i in range(graph.NodesLength())
               if graph.Nodes(i).OpType() == b"Gather"]
    assert len(gathers) == 6
    tensors = [graph.Initializers(i) for i in range(graph.InitializersLength())]
    dims = [(list(t.DimsAsNumpy()), t.DataType()) for t in tensors]
    for size in (8, 4):  # the index tables: [W, W] by column, [H, W, H] by row
        assert ([size, size], INT32) in dims and ([size] * 3, INT32) in dims, dims
    assert not any(d[-2:] == [64, 64] for d, kind in dims if kind == FLOAT)  # no dense 8x8 bias
    pixels = np.random.default_rng(5).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    np.testing.assert_allclose(OrtTarget(target).predict(str(tmp_path / "m.ort"), pixels),
                               target.predict(str(tmp_path / "m.onnx"), pixels), atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_probabilities_output_ends_in_a_float_softmax(job, artifacts, tmp_path, precision):
    import dataclasses

    from tinymoat.export.validate import compare, logits_of
    path = str(tmp_path / f"probabilities_{precision}.onnx")
    notes = TARGET.export(dataclasses.replace(job, outputs="probabilities"), precision, path)
    assert notes["output"].startswith("probabilities")
    pixels = np.random.default_rng(5).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    reference = _keras_logits(job, pixels)
    probabilities = TARGET.predict(path, pixels)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    logits = TARGET.predict(artifacts[precision], pixels)
    # the same graph with a softmax after it: log-probabilities on the reference's scale
    # are the logits' agreement
    with_softmax = compare(reference, logits_of(probabilities, reference))["sqnr_db"]
    without = compare(reference, logits)["sqnr_db"]
    assert min(with_softmax, without) > 100 or abs(with_softmax - without) <= 1.5
    info = TARGET.describe(path)
    assert info["outputs"] == [{"name": "probabilities", "type": "float", "shape": [1, 10]}]
    assert all(info["checks"].values()), info["checks"]
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert meta["tinymoat.output"].startswith("probabilities")
