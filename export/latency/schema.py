"""The latency result format, ``tinymoat.latency/1``: build and validate results.

Every harness (host, Linux boards, Android phones, the Android demo) writes
the same JSON object, so one report can merge them. The documented form is
``result.schema.json`` beside this file (JSON Schema draft 2020-12); this
module validates against that very file, so the two cannot drift apart, and
adds the checks JSON Schema cannot express (min <= median <= p90 <= p99 <= max,
min <= mean <= max). Errors name the offending field, e.g.
``latency_ms.p90: expected number or null, got 'fast'``.

Which source fills which field (null means "not measured", never a guess):

=====================  =========================  ============================
field                  host / ssh board           Android (benchmark_model)
=====================  =========================  ============================
latency_ms.mean/min/   yes                        yes
max/stdev                                         (std converted to sample)
latency_ms.median/     yes                        null (not reported)
p90/p99
init_ms                creation + allocation      its "Init"
first_inference_ms     yes                        its "First inference"
peak_memory_mb         max-RSS growth (process)   its peak or overall delta
harness_overhead_ms    no-op loop                 null
op_profile             absent                     with --op-profiling
=====================  =========================  ============================

``tinymoat-bench --runtimes`` (export/latency/runtimes.py) adds
``runtime.environment`` (which cached TFLite runtime ran it), ``xnnpack``
(partitions, ops left outside) and ``agreement`` (outputs against the
project's LiteRT); results without them stay valid.
"""

from __future__ import annotations

import datetime
import json
import math
import pathlib
import re

SCHEMA = "tinymoat.latency/1"
SCHEMA_FILE = pathlib.Path(__file__).with_name("result.schema.json")

DEVICE_KINDS = ("host", "android", "ssh")
RUNTIMES = ("litert", "onnxruntime", "coreml", "tflite_benchmark_model")

# The JSON Schema keywords this validator understands; the schema file may use
# no others (annotations aside), so nothing in it is silently ignored.
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_KEYWORDS = {"type", "const", "enum", "required", "additionalProperties", "properties", "items",
             "minItems", "maxItems", "minimum", "minLength", "pattern"}


class SchemaError(ValueError):
    """A document is not a valid ``tinymoat.latency/1`` result."""


_loaded = None


def json_schema() -> dict:
    """The JSON Schema document (parsed once)."""
    global _loaded
    if _loaded is None:
        doc = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        _check_keywords(doc, "#")
        _loaded = doc
    return _loaded


def _check_keywords(node, where):
    unknown = set(node) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise RuntimeError(f"{SCHEMA_FILE.name} {where}: unsupported keywords {sorted(unknown)}")
    for name, sub in node.get("properties", {}).items():
        _check_keywords(sub, f"{where}/properties/{name}")
    if "items" in node:
        _check_keywords(node["items"], f"{where}/items")


def _type_ok(value, name) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if name == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise RuntimeError(f"unknown JSON type {name!r} in {SCHEMA_FILE.name}")


def _show(value) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False


def _validate(value, node, path):
    where = path or "document"
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_type_ok(value, t) for t in types):
            raise SchemaError(f"{where}: expected {' or '.join(types)}, got {_show(value)}")
    if "const" in node and value != node["const"]:
        raise SchemaError(f"{where}: expected {_show(node['const'])}, got {_show(value)}")
    if "enum" in node and value not in node["enum"]:
        raise SchemaError(f"{where}: {_show(value)} is not one of {', '.join(node['enum'])}")
    if value is None:
        return
    if isinstance(value, dict):
        _validate_object(value, node, path)
    elif isinstance(value, list):
        _validate_array(value, node, where)
    elif isinstance(value, str):
        if len(value) < node.get("minLength", 0):
            raise SchemaError(f"{where}: must not be empty")
        if "pattern" in node and not re.search(node["pattern"], value):
            raise SchemaError(f"{where}: {_show(value)} does not match {node['pattern']}")
    elif "minimum" in node and _type_ok(value, "number") and value < node["minimum"]:
        raise SchemaError(f"{where}: {_show(value)} is below the minimum {node['minimum']}")


def _validate_object(value, node, path):
    prefix = f"{path}." if path else ""
    for name in node.get("required", []):
        if name not in value:
            raise SchemaError(f"{prefix}{name}: missing")
    properties = node.get("properties", {})
    if node.get("additionalProperties", True) is False:
        extra = sorted(set(value) - set(properties))
        if extra:
            raise SchemaError(f"{prefix}{extra[0]}: unexpected field")
    for name, sub in properties.items():
        if name in value:
            _validate(value[name], sub, f"{prefix}{name}")


def _validate_array(value, node, where):
    if len(value) < node.get("minItems", 0) or len(value) > node.get("maxItems", len(value)):
        wanted = node.get("minItems") if node.get("minItems") == node.get("maxItems") else \
            f"{node.get('minItems', 0)} to {node.get('maxItems', 'any')}"
        raise SchemaError(f"{where}: expected {wanted} items, got {len(value)}")
    if "items" in node:
        for i, item in enumerate(value):
            _validate(item, node["items"], f"{where}[{i}]")


def _check_order(latency):
    """min <= median <= p90 <= p99 <= max and min <= mean <= max (nulls skipped)."""
    chain = [(k, latency[k]) for k in ("min", "median", "p90", "p99", "max") if latency[k] is not None]
    for (lo_name, lo), (hi_name, hi) in zip(chain, chain[1:]):
        if lo > hi:
            raise SchemaError(f"latency_ms.{hi_name}: {hi} is below latency_ms.{lo_name} {lo}")
    if not latency["min"] <= latency["mean"] <= latency["max"]:
        raise SchemaError(f"latency_ms.mean: {latency['mean']} is outside "
                          f"[{latency['min']}, {latency['max']}]")


def validate(doc) -> dict:
    """Returns `doc` if it is a valid result, else raises SchemaError naming the field."""
    if not isinstance(doc, dict):
        raise SchemaError(f"document: expected a JSON object, got {_show(doc)}")
    if "schema" in doc and doc["schema"] != SCHEMA:
        raise SchemaError(f"schema: expected {SCHEMA!r}, got {_show(doc['schema'])} "
                          "(not a tinymoat latency result, or another version)")
    _validate(doc, json_schema(), "")
    _check_order(doc["latency_ms"])
    return doc


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tool_name() -> str:
    from tinymoat import __version__
    return f"tinymoat {__version__}"


def build_result(*, device, runtime, artifact, latency_ms, init_ms=None, first_inference_ms=None,
                 peak_memory_mb=None, harness_overhead_ms=None, validation=None, notes=(),
                 op_profile=None, created=None, tool=None, xnnpack=None,
                 agreement=None) -> dict:
    """Assembles a result in the documented field order and validates it."""
    doc = {
        "schema": SCHEMA,
        "device": dict(device),
        "runtime": dict(runtime),
        "artifact": dict(artifact),
        "latency_ms": dict(latency_ms),
        "init_ms": init_ms,
        "first_inference_ms": first_inference_ms,
        "peak_memory_mb": peak_memory_mb,
        "harness_overhead_ms": harness_overhead_ms,
        "validation": validation,
        "notes": list(notes),
        "created": created or utc_now(),
        "tool": tool or tool_name(),
    }
    if op_profile is not None:
        doc["op_profile"] = list(op_profile)
    if xnnpack is not None:
        doc["xnnpack"] = dict(xnnpack)
    if agreement is not None:
        doc["agreement"] = dict(agreement)
    return validate(doc)


def dumps(doc) -> str:
    """The JSON text of a result as written to disk (validated first)."""
    return json.dumps(validate(doc), indent=2, allow_nan=False) + "\n"


def load(path) -> dict:
    """Reads and validates one result file; errors say which file and field.

    Nesting deeper than Python's recursion limit (no result comes close) is
    "not JSON" too, rather than a RecursionError out of the parser.
    """
    path = pathlib.Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc}") from None
    except RecursionError:
        raise SchemaError("not JSON a result can be: nested too deeply") from None
    try:
        return validate(doc)
    except RecursionError:
        raise SchemaError("document: nested too deeply") from None
