"""The benchmark_model output parser, on the recorded fixtures (see fixtures/benchmark_model/README.md)."""

import math
import pathlib

import pytest

from tinymoat.export.latency import benchmark_output as bo
from tinymoat.export.latency import schema

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "benchmark_model"


def read(name):
    return (FIXTURES / name).read_text()


def measurement(name, **kwargs):
    return bo.to_measurement(bo.parse(read(name), **kwargs))


def test_xnnpack_run_with_log_prefixes():
    m = measurement("pixel7_xnnpack_int8.txt")
    assert m["latency_ms"] == {
        "warmup": 56, "runs": 111, "mean": pytest.approx(8.98561), "median": None, "p90": None,
        "p99": None, "min": 8.768, "max": 10.342,
        "stdev": pytest.approx(0.214 * math.sqrt(111 / 110))}
    assert m["init_ms"] == pytest.approx(61.234)
    assert m["first_inference_ms"] == pytest.approx(14.870)
    assert m["peak_memory_mb"] == pytest.approx(22.3594)
    assert m["harness_overhead_ms"] is None and m["op_profile"] is None
    notes = " ".join(m["notes"])
    assert "median, p90 and p99 are null" in notes
    assert "'overall' memory footprint delta" in notes
    assert "completely executed by the delegate" in notes


def test_op_profile_table_with_spaces_in_node_types():
    m = measurement("pixel7_xnnpack_op_profiling.txt", expect_op_profile=True)
    ops = m["op_profile"]
    assert len(ops) == 11  # the regular-run table, not the initialization one
    assert ops[0] == {"node_type": "QUANTIZE", "name": "[tfl.quantize]:0", "first_ms": 0.071,
                      "avg_ms": 0.069, "percent": 0.999, "cdf_percent": 0.999, "mem_kb": 0.0,
                      "times_called": 1}
    gemm = ops[6]
    assert gemm["node_type"] == "Fully Connected (NC, QS8) GEMM"
    assert gemm["name"] == "Delegate/Fully Connected (NC, QS8) GEMM:5"
    assert gemm["times_called"] == 12 and gemm["avg_ms"] == 0.196
    assert ops[-1]["cdf_percent"] == 100.0
    assert m["latency_ms"]["runs"] == 139 and m["latency_ms"]["mean"] == pytest.approx(7.1342)


def test_legacy_format_without_prefixes_and_with_start_column():
    m = measurement("legacy_cpu_op_profiling.txt", expect_op_profile=True)
    assert m["latency_ms"]["runs"] == 50 and m["latency_ms"]["warmup"] == 8
    assert m["latency_ms"]["mean"] == pytest.approx(66.7124)
    assert m["init_ms"] == pytest.approx(3.421)
    assert m["first_inference_ms"] == pytest.approx(71.240)  # the first warm-up run
    assert m["peak_memory_mb"] == pytest.approx(31.2031)
    assert [op["node_type"] for op in m["op_profile"]] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "BATCH_MATMUL", "SOFTMAX", "FULLY_CONNECTED"]
    assert m["op_profile"][3]["first_ms"] == 21.033  # [start] column skipped


def test_gpu_run_with_periodic_peak_memory():
    m = measurement("pixel7_gpu_peak_memory.txt")
    assert m["peak_memory_mb"] == pytest.approx(123.672)
    assert m["init_ms"] == pytest.approx(1432.87)
    assert any("partially executed by the delegate w/ 3 delegate kernels" in n for n in m["notes"])
    assert any("periodic-monitoring peak" in n for n in m["notes"])


def test_parsed_run_makes_a_valid_result():
    m = measurement("pixel7_xnnpack_op_profiling.txt", expect_op_profile=True)
    doc = schema.build_result(
        device={"kind": "android", "name": "2A1B3C", "model": "Google Pixel 7", "os": "Android 14",
                "cpu": "arm64-v8a", "soc": "Google GS201"},
        runtime={"name": "tflite_benchmark_model", "version": None, "delegate": "xnnpack",
                 "threads": 4},
        artifact={"file": "tiny-moat-0_224_int8.tflite", "variant": None, "precision": "int8",
                  "input_size": None, "size_bytes": 10, "sha256": "0" * 64},
        latency_ms=m["latency_ms"], init_ms=m["init_ms"], first_inference_ms=m["first_inference_ms"],
        peak_memory_mb=m["peak_memory_mb"], notes=m["notes"], op_profile=m["op_profile"])
    assert schema.validate(doc)["op_profile"][0]["node_type"] == "QUANTIZE"


def test_truncated_output_is_an_error():
    with pytest.raises(bo.BenchmarkOutputError, match="did not finish.*last line: 'INFO: Running"):
        bo.parse(read("truncated_crash.txt"))


def test_failed_delegate_reports_its_error():
    with pytest.raises(bo.BenchmarkOutputError, match="Failed to apply GPU delegate"):
        bo.parse(read("gpu_delegate_failed.txt"))


def test_malformed_statistics_line_is_an_error():
    with pytest.raises(bo.BenchmarkOutputError, match="malformed statistics line.*1O342"):
        bo.parse(read("malformed_stats.txt"))


def test_summary_disagreeing_with_statistics_is_an_error():
    text = read("pixel7_xnnpack_int8.txt").replace("Inference (avg): 8985.61",
                                                   "Inference (avg): 7985.61")
    with pytest.raises(bo.BenchmarkOutputError, match="inconsistent output"):
        bo.parse(text)


def test_missing_timed_statistics_is_an_error():
    lines = [line for line in read("pixel7_xnnpack_int8.txt").splitlines() if "count=111" not in line]
    with pytest.raises(bo.BenchmarkOutputError, match="expected 2 statistics lines"):
        bo.parse("\n".join(lines))


def test_profile_asked_for_but_missing():
    with pytest.raises(bo.BenchmarkOutputError, match="op profiling was asked for"):
        bo.parse(read("pixel7_xnnpack_int8.txt"), expect_op_profile=True)


def test_truncated_profile_table_is_an_error():
    text = read("pixel7_xnnpack_op_profiling.txt")
    cut = text.index("[tfl.quantize]:0")
    cut = text.rindex("\n", 0, cut)  # the output stops right after the table header
    with pytest.raises(bo.BenchmarkOutputError, match="operator profile table is empty"):
        bo.parse(text[:cut])


def test_empty_output():
    with pytest.raises(bo.BenchmarkOutputError, match="the output is empty"):
        bo.parse("")


@pytest.mark.parametrize("line,expected", [
    ("count=1 curr=12000", bo.RunStats(1, 12000.0, 12000.0, 12000.0, 12000.0, 12000.0, 0.0)),
    ("count=5 curr=9000(all same)", bo.RunStats(5, None, 9000.0, 9000.0, 9000.0, 9000.0, 0.0)),
    ("count=3 first=1234567 curr=1234000 min=1233000 max=1234567 avg=1.23386e+06 std=640",
     bo.RunStats(3, 1234567.0, 1234000.0, 1233000.0, 1234567.0, 1233860.0, 640.0)),
])
def test_statistics_line_forms(line, expected):
    assert bo.parse_stat_line(line) == expected


@pytest.mark.parametrize("line", [
    "count=0", "count=5 curr=9000", "count=5 first=1 curr=2 min=1 max=2 avg=1.5",
    "count=5 first=1 curr=2 min=3 max=2 avg=2.5 std=1",
    "count=5 first=1 curr=2 min=1 max=2 avg=nan std=0",
])
def test_bad_statistics_lines(line):
    with pytest.raises(bo.BenchmarkOutputError):
        bo.parse_stat_line(line)


def test_single_timed_run_has_zero_stdev():
    text = read("pixel7_xnnpack_int8.txt").replace(
        "count=111 first=8954 curr=8890 min=8768 max=10342 avg=8985.61 std=214", "count=1 curr=8985")
    text = text.replace("Inference (avg): 8985.61", "Inference (avg): 8985")
    latency = bo.to_measurement(bo.parse(text))["latency_ms"]
    assert latency["runs"] == 1 and latency["stdev"] == 0.0 and latency["mean"] == 8.985


@pytest.mark.parametrize("old,new,message", [
    ("Init: 61234,", "Init: -61234,", "Init is negative"),
    ("Init: 61234,", "Init: nan,", "Init is nan"),
    ("First inference: 14870,", "First inference: -14870,", "First inference is negative"),
    ("First inference: 14870,", "First inference: inf,", "First inference is inf"),
])
def test_negative_or_non_finite_times_are_errors(old, new, message):
    text = read("pixel7_xnnpack_int8.txt")
    assert old in text
    with pytest.raises(bo.BenchmarkOutputError, match=message):
        bo.parse(text.replace(old, new))


def test_negative_session_initialisation_is_an_error():
    text = read("legacy_cpu_op_profiling.txt").replace(", Init: 3421", "")
    assert bo.parse(text)["init_us"] == pytest.approx(3421)  # from "Initialized session in"
    with pytest.raises(bo.BenchmarkOutputError, match="Initialized session in is negative"):
        bo.parse(text.replace("Initialized session in 3.421ms", "Initialized session in -3.421ms"))


def test_negative_first_run_in_a_statistics_line_is_an_error():
    with pytest.raises(bo.BenchmarkOutputError, match="inconsistent statistics line"):
        bo.parse_stat_line("count=3 first=-5 curr=10 min=9 max=11 avg=10 std=1")
