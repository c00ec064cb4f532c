"""ONNX target: tf2onnx float32 and ORT QDQ int8 artifacts, run with ONNX Runtime."""

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
from tinymoat.export.onnx import OnnxTarget, qdq
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
    assert meta["tinymoat.input_layout"] == "NHWC, RGB, (x - mean) / std"


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
import tinymoat
from conftest import MICRO, build_micro
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
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
