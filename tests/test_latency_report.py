"""tinymoat-report: merging results from several devices into Markdown, CSV and PNG plots."""

import csv
import json
import pathlib

import pytest
from PIL import Image

from tinymoat.export.latency import benchmark_output, plots, report, schema, stats

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "benchmark_model"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HOST = {"kind": "host", "name": "ci-runner", "model": None, "os": "Linux 6.1",
        "cpu": "Intel Xeon (x86_64, 2 cores)", "soc": None}
PIXEL = {"kind": "android", "name": "2A1B3C", "model": "Google Pixel 7", "os": "Android 14 (API 34)",
         "cpu": "arm64-v8a", "soc": "Google GS201"}
PI = {"kind": "ssh", "name": "rpi5", "model": "Raspberry Pi 5 Model B Rev 1.0", "os": "Linux 6.6",
      "cpu": "Cortex-A76 (aarch64, 4 cores)", "soc": "brcm,bcm2712"}
ARTIFACTS = {
    "int8": ({"file": "tiny-moat-0_224_int8.tflite", "variant": "tiny-moat-0", "precision": "int8",
              "input_size": [224, 224], "size_bytes": 3_456_789, "sha256": "1" * 64},
             {"top1_agreement": 0.962, "accuracy": None}),
    "float": ({"file": "tiny-moat-0_224_float32.tflite", "variant": "tiny-moat-0",
               "precision": "float32", "input_size": [224, 224], "size_bytes": 13_541_200,
               "sha256": "2" * 64}, {"top1_agreement": 1.0, "accuracy": None}),
    "dynamic": ({"file": "tiny-moat-0_224_dynamic.tflite", "variant": "tiny-moat-0",
                 "precision": "dynamic", "input_size": [224, 224], "size_bytes": 3_900_000,
                 "sha256": "3" * 64}, {"top1_agreement": 0.991, "accuracy": None}),
}


def _host_like(device, kind, threads, scale, delegate="xnnpack"):
    artifact, validation = ARTIFACTS[kind]
    base = {"int8": 8.0, "float": 20.0, "dynamic": 14.0}[kind] * scale / threads
    samples = [base * (1 + 0.01 * ((i * 7) % 11)) for i in range(30)]
    return schema.build_result(
        device=device, runtime={"name": "litert", "version": "2.3.0", "delegate": delegate,
                                "threads": threads},
        artifact=artifact, latency_ms=stats.summarize(samples, 5), init_ms=3.0,
        first_inference_ms=base * 1.5, peak_memory_mb=12.0, harness_overhead_ms=0.0001,
        validation=validation, notes=[])


def _android(kind, fixture):
    artifact, validation = ARTIFACTS[kind]
    m = benchmark_output.to_measurement(benchmark_output.parse((FIXTURES / fixture).read_text()))
    return schema.build_result(
        device=PIXEL, runtime={"name": "tflite_benchmark_model", "version": None,
                               "delegate": "xnnpack", "threads": 4},
        artifact=artifact, latency_ms=m["latency_ms"], init_ms=m["init_ms"],
        first_inference_ms=m["first_inference_ms"], peak_memory_mb=m["peak_memory_mb"],
        validation=validation, notes=m["notes"])


@pytest.fixture
def results_dir(tmp_path):
    folder = tmp_path / "results"
    (folder / "pixel").mkdir(parents=True)
    docs = [_host_like(HOST, k, t, 1.0) for k in ARTIFACTS for t in (1, 2)]
    docs += [_host_like(PI, k, 4, 3.0) for k in ("int8", "float")]
    docs.append(_host_like(HOST, "int8", 1, 1.7, delegate="cpu"))
    for i, doc in enumerate(docs):
        (folder / f"r{i}.json").write_text(schema.dumps(doc))
    (folder / "pixel" / "int8.json").write_text(
        schema.dumps(_android("int8", "pixel7_xnnpack_int8.txt")))
    (folder / "pixel" / "float.json").write_text(
        schema.dumps(_android("float", "legacy_cpu_op_profiling.txt")))
    (folder / "broken.json").write_text("{ truncated")
    (folder / "manifest.json").write_text(json.dumps({"schema": "tinymoat.export/1"}))
    bad = json.loads(schema.dumps(docs[0]))
    bad["latency_ms"]["p90"] = "fast"
    (folder / "pixel" / "bad.json").write_text(json.dumps(bad))
    return folder, len(docs) + 2


def test_report_writes_markdown_csv_and_plots(results_dir, tmp_path, capsys):
    folder, count = results_dir
    out = tmp_path / "report"
    assert report.main([str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 3
    assert any("bad.json: latency_ms.p90: expected number or null" in line for line in skipped)
    assert f"{count} result(s) merged, 3 skipped" in captured.out

    md = (out / "latency.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(table) == count
    assert "| android: Google Pixel 7 / 2A1B3C | tiny-moat-0_224_int8.tflite | tiny-moat-0 | int8 | " \
           "tflite_benchmark_model / xnnpack | 4 | — | — | 8.986 | 3.46 | 96.2% | — |" in md
    assert any(line.startswith("| host: ci-runner | tiny-moat-0_224_float32.tflite | tiny-moat-0 | "
                               "float32 | litert / xnnpack | 2 |") for line in table)
    assert "ssh: Raspberry Pi 5 Model B Rev 1.0 / rpi5" in md
    assert "## Skipped files" in md and "broken.json" in md

    with open(out / "latency.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == count and list(rows[0]) == list(report.CSV_FIELDS)
    pixel = [r for r in rows if r["device_kind"] == "android"]
    assert {r["median_ms"] for r in pixel} == {""} and all(float(r["mean_ms"]) > 0 for r in pixel)

    for name in ("latency_per_device.png", "accuracy_vs_latency.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 400 and image.height > 300
    assert not list(out.glob(".*.tmp"))


def test_no_valid_results_is_an_error(tmp_path, capsys):
    (tmp_path / "junk.json").write_text("[]")
    assert report.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "tinymoat-report: error: no valid latency results among 1 file(s)"
    assert not (tmp_path / "out").exists()


def test_pathologically_nested_json_is_skipped_not_a_crash(results_dir, tmp_path, capsys):
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert report.main([str(deep), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tinymoat-report: skipped {deep / 'deep.json'}: not JSON a result can be: "
                   "nested too deeply",
                   "tinymoat-report: error: no valid latency results among 1 file(s)"]
    assert not (tmp_path / "out").exists()
    # Beside valid results it is listed as skipped; the others are merged.
    folder, _ = results_dir
    (folder / "deep.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert report.main([str(folder), "--out", str(tmp_path / "out")]) == 0
    assert "deep.json`: not JSON a result can be: nested too deeply" in \
        (tmp_path / "out" / "latency.md").read_text()


def test_missing_input_is_an_error(tmp_path, capsys):
    assert report.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == \
        f"tinymoat-report: error: {tmp_path / 'nothing'}: no such file or directory"


def test_results_without_validation_still_plot(tmp_path):
    doc = _host_like(HOST, "int8", 1, 1.0)
    doc["validation"] = None
    (tmp_path / "r.json").write_text(schema.dumps(doc))
    assert report.main([str(tmp_path / "r.json"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "accuracy_vs_latency.png").read_bytes().startswith(PNG_MAGIC)


def test_pareto_front():
    points = [(10.0, 96.0, "a"), (5.0, 90.0, "b"), (12.0, 95.0, "c"), (20.0, 99.0, "d"),
              (5.0, 91.0, "e")]
    assert [p[2] for p in plots.pareto_front(points)] == ["e", "a", "d"]


def test_quality_metric_prefers_accuracy_only_when_all_have_it():
    rows = [{"top1_agreement": 0.9, "accuracy": 0.7}, {"top1_agreement": 0.95, "accuracy": None}]
    assert plots.quality_metric(rows)[0] == "top1_agreement"
    assert plots.quality_metric(rows[:1])[0] == "accuracy"
