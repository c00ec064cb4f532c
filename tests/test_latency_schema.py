"""The tinymoat.latency/1 result format: good documents pass, bad ones name the bad field."""

import copy
import json

import pytest

from tinymoat.export.latency import schema, stats


def good_result(**overrides):
    fields = dict(
        device={"kind": "android", "name": "2A1B3C", "model": "Google Pixel 7", "os": "Android 14",
                "cpu": "arm64-v8a", "soc": "Google GS201"},
        runtime={"name": "litert", "version": "2.3.0", "delegate": "xnnpack", "threads": 4},
        artifact={"file": "tiny-moat-0_224_int8.tflite", "variant": "tiny-moat-0",
                  "precision": "int8", "input_size": [224, 224], "size_bytes": 3456789,
                  "sha256": "ab" * 32},
        latency_ms=stats.summarize([9.1, 9.3, 8.9, 9.0, 12.5], warmup=5),
        init_ms=61.2, first_inference_ms=14.9, peak_memory_mb=22.4, harness_overhead_ms=0.0001,
        validation={"top1_agreement": 0.97, "accuracy": None},
        notes=["inputs: random data"])
    fields.update(overrides)
    return schema.build_result(**fields)


def test_good_document_round_trips(tmp_path):
    doc = good_result()
    assert doc["schema"] == "tinymoat.latency/1"
    assert doc["tool"].startswith("tinymoat ")
    assert doc["created"].endswith("Z")
    path = tmp_path / "r.json"
    path.write_text(schema.dumps(doc))
    assert schema.load(path) == doc


def test_nulls_where_a_source_does_not_measure():
    latency = {"warmup": 56, "runs": 111, "mean": 8.98, "median": None, "p90": None, "p99": None,
               "min": 8.77, "max": 10.34, "stdev": 0.21}
    doc = good_result(latency_ms=latency, harness_overhead_ms=None, init_ms=None,
                      runtime={"name": "tflite_benchmark_model", "version": None,
                               "delegate": "gpu", "threads": 1},
                      op_profile=[{"node_type": "CONV_2D", "name": "[conv]:0", "first_ms": 1.0,
                                   "avg_ms": 0.9, "percent": 100.0, "cdf_percent": 100.0,
                                   "mem_kb": 0.0, "times_called": 1}])
    assert doc["latency_ms"]["median"] is None and len(doc["op_profile"]) == 1


def test_json_schema_file_is_draft_2020_12_and_lists_every_field():
    doc = schema.json_schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["properties"]["schema"]["const"] == schema.SCHEMA
    assert set(doc["required"]) | {"op_profile", "xnnpack", "agreement"} == set(doc["properties"])
    assert doc["properties"]["device"]["properties"]["kind"]["enum"] == list(schema.DEVICE_KINDS)
    assert doc["properties"]["runtime"]["properties"]["name"]["enum"] == list(schema.RUNTIMES)


def _broken(mutate):
    doc = copy.deepcopy(good_result())
    mutate(doc)
    return doc


BAD = [
    ("latency_ms.p90", lambda d: d["latency_ms"].update(p90="fast")),
    ("device: missing", lambda d: d.pop("device")),
    ("device.kind", lambda d: d["device"].update(kind="phone")),
    ("device.soc", lambda d: d["device"].update(soc=7)),
    ("runtime.threads", lambda d: d["runtime"].update(threads=-1)),
    ("runtime.threads", lambda d: d["runtime"].update(threads=1.5)),
    ("runtime.name", lambda d: d["runtime"].update(name="tensorflow")),
    ("artifact.sha256", lambda d: d["artifact"].update(sha256="xyz")),
    ("artifact.input_size", lambda d: d["artifact"].update(input_size=[1, 224, 224])),
    ("artifact.input_size[1]", lambda d: d["artifact"].update(input_size=[224, 0])),
    ("artifact.size_bytes", lambda d: d["artifact"].update(size_bytes=True)),
    ("latency_ms.runs", lambda d: d["latency_ms"].update(runs=0)),
    ("latency_ms.median", lambda d: d["latency_ms"].update(median=-1.0)),
    ("latency_ms.p90", lambda d: d["latency_ms"].update(p90=d["latency_ms"]["median"] / 2)),
    ("latency_ms.mean", lambda d: d["latency_ms"].update(mean=1000.0)),
    ("latency_ms.stdev", lambda d: d["latency_ms"].update(stdev=float("nan"))),
    ("peak_memory_mb", lambda d: d.update(peak_memory_mb="12 MB")),
    ("validation", lambda d: d.update(validation=[0.97])),
    ("notes[0]", lambda d: d.update(notes=[3])),
    ("created", lambda d: d.update(created="2025-01-01 12:00:00")),
    ("tool", lambda d: d.update(tool="someone else 1.0")),
    ("colour: unexpected field", lambda d: d.update(colour="red")),
    ("device.serial: unexpected field", lambda d: d["device"].update(serial="x")),
    ("schema", lambda d: d.update(schema="tinymoat.latency/2")),
    ("op_profile[0].times_called", lambda d: d.update(op_profile=[{
        "node_type": "CONV_2D", "name": "c", "first_ms": 1.0, "avg_ms": 1.0, "percent": 1.0,
        "cdf_percent": 1.0, "mem_kb": 0.0, "times_called": "once"}])),
]


@pytest.mark.parametrize("field,mutate", BAD, ids=[b[0] for b in BAD])
def test_bad_documents_name_the_field(field, mutate):
    with pytest.raises(schema.SchemaError) as info:
        schema.validate(_broken(mutate))
    assert str(info.value).startswith(field), str(info.value)


def test_not_an_object():
    with pytest.raises(schema.SchemaError, match="document: expected a JSON object"):
        schema.validate([1, 2])


def test_load_reports_unreadable_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(schema.SchemaError, match="not JSON"):
        schema.load(tmp_path / "bad.json")
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "tinymoat.export/1"}))
    with pytest.raises(schema.SchemaError, match="not a tinymoat latency result"):
        schema.load(tmp_path / "manifest.json")


def test_dumps_refuses_invalid_documents():
    doc = _broken(lambda d: d["latency_ms"].update(min=-3))
    with pytest.raises(schema.SchemaError, match="latency_ms.min"):
        schema.dumps(doc)
