"""tinymoat-report: merge latency results from any devices into one report.

  tinymoat-report RESULTS... --out DIR

RESULTS are `tinymoat.latency/1` JSON files or directories of them (searched
recursively). Files that are not valid results are skipped and listed; at
least one must be valid. Writes, each atomically:

  DIR/latency.md                Markdown table, one row per result
  DIR/latency.csv               every field, one row per result
  DIR/latency_per_device.png    median latency (p90 whiskers) per artifact and device
  DIR/accuracy_vs_latency.png   top-1 agreement or accuracy vs latency, Pareto frontier
"""

from __future__ import annotations

import csv
import io
import pathlib
import sys

from tinymoat.fileio import write_text

from . import plots
from .errors import OneLineParser, UsageError, report
from .schema import SchemaError, load, utc_now

PROG = "tinymoat-report"
CSV_FIELDS = (
    "device", "device_kind", "device_name", "device_model", "device_os", "device_cpu", "device_soc",
    "runtime", "runtime_version", "runtime_environment", "delegate", "threads", "file", "variant", "precision",
    "input_size", "size_bytes", "sha256", "warmup", "runs", "mean_ms", "median_ms", "p90_ms",
    "p99_ms", "min_ms", "max_ms", "stdev_ms", "init_ms", "first_inference_ms", "peak_memory_mb",
    "harness_overhead_ms", "top1_agreement", "accuracy", "created", "tool", "source",
    "xnnpack_partitions", "ops_outside_xnnpack", "runtime_agreement_max_abs_diff",
    "runtime_agreement_sqnr_db", "runtime_agreement_same_top1")


def collect(paths):
    """(results, skipped): valid results as (path, doc), the rest as (path, reason)."""
    files = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.json")))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    results, skipped = [], []
    for path in dict.fromkeys(files):
        try:
            results.append((path, load(path)))
        except SchemaError as exc:
            skipped.append((path, str(exc)))
    return results, skipped


def device_label(device) -> str:
    who = " / ".join(dict.fromkeys(v for v in (device["model"], device["name"]) if v)) or "unknown"
    return f"{device['kind']}: {who}"


def _number(validation, key):
    value = (validation or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def row(path, doc) -> dict:
    """One result flattened to the CSV columns."""
    d, rt, a, lat, v = doc["device"], doc["runtime"], doc["artifact"], doc["latency_ms"], \
        doc["validation"]
    xnnpack, agreed = doc.get("xnnpack") or {}, doc.get("agreement") or {}
    outside = xnnpack.get("ops_outside")
    return {
        "device": device_label(d), "device_kind": d["kind"], "device_name": d["name"],
        "device_model": d["model"], "device_os": d["os"], "device_cpu": d["cpu"],
        "device_soc": d["soc"], "runtime": rt["name"], "runtime_version": rt["version"],
        "runtime_environment": rt.get("environment"),
        "delegate": rt["delegate"], "threads": rt["threads"], "file": a["file"],
        "variant": a["variant"], "precision": a["precision"],
        "input_size": "x".join(map(str, a["input_size"])) if a["input_size"] else None,
        "size_bytes": a["size_bytes"], "sha256": a["sha256"], "warmup": lat["warmup"],
        "runs": lat["runs"], "mean_ms": lat["mean"], "median_ms": lat["median"], "p90_ms": lat["p90"],
        "p99_ms": lat["p99"], "min_ms": lat["min"], "max_ms": lat["max"], "stdev_ms": lat["stdev"],
        "init_ms": doc["init_ms"], "first_inference_ms": doc["first_inference_ms"],
        "peak_memory_mb": doc["peak_memory_mb"], "harness_overhead_ms": doc["harness_overhead_ms"],
        "top1_agreement": _number(v, "top1_agreement"), "accuracy": _number(v, "accuracy"),
        "created": doc["created"], "tool": doc["tool"], "source": str(path),
        "xnnpack_partitions": xnnpack.get("partitions"),
        "ops_outside_xnnpack": None if outside is None else
        " ".join(f"{op}x{n}" for op, n in outside.items()),
        "runtime_agreement_max_abs_diff": agreed.get("max_abs_diff"),
        "runtime_agreement_sqnr_db": agreed.get("sqnr_db"),
        "runtime_agreement_same_top1": agreed.get("same_top1"),
    }


def _sort_key(r):
    return (r["device"], r["variant"] or r["file"], r["precision"] or "", r["runtime"],
            r["runtime_environment"] or "", r["delegate"], r["threads"], r["file"])


def runtime_label(r) -> str:
    """'litert', or 'litert 1.4.0 [litert-1.4]' for a named TFLite runtime (--runtimes)."""
    if r["runtime_environment"]:
        return f"{r['runtime']} {r['runtime_version']} [{r['runtime_environment']}]"
    return r["runtime"]


def _ms(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _runtime_section(rows) -> list:
    """Artifacts by TFLite runtime (tinymoat-bench --runtimes): median, XNNPACK partitions,
    ops outside XNNPACK and agreement with the project's LiteRT; nothing without such rows."""
    measured = [r for r in rows if r["runtime_environment"]]
    if not measured:
        return []
    names = list(dict.fromkeys(r["runtime_environment"] for r in sorted(
        measured, key=lambda r: r["runtime_environment"])))
    lines = ["", "## By TFLite runtime", "",
             "Median ms / XNNPACK partitions, per artifact, device and threads; then the ops "
             "each runtime left outside XNNPACK and its agreement (max |difference|, SQNR) with "
             "the project's LiteRT on the same input.", "",
             "| Device | Artifact | Threads | " + " | ".join(names) + " |",
             "|---|---|--:|" + "--:|" * len(names)]
    table = {}
    for r in measured:
        table.setdefault((r["device"], r["file"], r["threads"]), {})[r["runtime_environment"]] = r
    for (device, file, threads), by_name in table.items():
        cells = [f"{_ms(by_name[n]['median_ms'])} / {by_name[n]['xnnpack_partitions']}"
                 if n in by_name else "—" for n in names]
        lines.append("| " + " | ".join([device, file, str(threads)] + cells) + " |")
    lines += [""]
    for r in measured:
        sqnr = r["runtime_agreement_sqnr_db"]
        agreed = "—" if r["runtime_agreement_max_abs_diff"] is None else (
            f"max |diff| {r['runtime_agreement_max_abs_diff']:.3g}, "
            + ("identical" if sqnr is None else f"SQNR {sqnr:.1f} dB")
            + ("" if r["runtime_agreement_same_top1"] else ", top-1 DIFFERENT"))
        lines.append(f"- {r['file']} in {runtime_label(r)}, {r['threads']} thread(s): outside "
                     f"XNNPACK {r['ops_outside_xnnpack'] or 'none'}; {agreed}")
    return lines


def markdown(rows, skipped=()) -> str:
    """The Markdown report: what was measured where, one table row per result."""
    lines = ["# Latency report", "",
             f"{len(rows)} measurement{'s' if len(rows) != 1 else ''} from "
             f"{len({r['device'] for r in rows})} device(s), merged {utc_now()}. "
             "Times are milliseconds per inference; size is in MB (10^6 bytes). "
             "A dash means the source did not measure it (TFLite's benchmark_model reports no "
             "median or percentiles). Agreement is top-1 agreement with the float model, from "
             "the export report.", "",
             "| Device | Artifact | Variant | Precision | Runtime / delegate | Threads | Median | p90 "
             "| Mean | Size (MB) | Top-1 agreement | Accuracy |",
             "|---|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        cells = [r["device"], r["file"], r["variant"] or "—", r["precision"] or "—",
                 f"{runtime_label(r)} / {r['delegate']}", str(r["threads"]), _ms(r["median_ms"]),
                 _ms(r["p90_ms"]), _ms(r["mean_ms"]), f"{r['size_bytes'] / 1e6:.2f}",
                 _percent(r["top1_agreement"]), _percent(r["accuracy"])]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += _runtime_section(rows)
    lines += ["", "## Devices", ""]
    devices = {}
    for r in rows:
        devices.setdefault(r["device"], r)
    for label, r in devices.items():
        details = ", ".join(f"{k} {r['device_' + k]}" for k in ("os", "cpu", "soc") if r["device_" + k])
        lines.append(f"- **{label}**" + (f": {details}" if details else ""))
    if skipped:
        lines += ["", "## Skipped files", ""]
        lines += [f"- `{path}`: {reason}" for path, reason in skipped]
    return "\n".join(lines) + "\n"


def csv_text(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r[k] is None else r[k] for k in CSV_FIELDS})
    return buffer.getvalue()


def write_report(results, out, skipped=()) -> list:
    """Writes the four report files; returns their paths."""
    rows = sorted((row(path, doc) for path, doc in results), key=_sort_key)
    out = pathlib.Path(out)
    paths = [out / "latency.md", out / "latency.csv", out / "latency_per_device.png",
             out / "accuracy_vs_latency.png"]
    write_text(paths[0], markdown(rows, skipped))
    write_text(paths[1], csv_text(rows))
    plots.latency_per_device(rows, paths[2])
    plots.accuracy_vs_latency(rows, paths[3])
    return paths


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="result JSON files or directories of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="report directory")
    try:
        args = parser.parse_args(argv)
        out = pathlib.Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        results, skipped = collect(args.results)
        for path, reason in skipped:
            print(f"{PROG}: skipped {path}: {reason}", file=sys.stderr)
        if not results:
            raise UsageError(f"no valid latency results among {len(skipped)} file(s)"
                             if skipped else "no .json files found")
        paths = write_report(results, out, skipped)
    except UsageError as exc:
        return report(PROG, exc)
    print(f"{len(results)} result(s) merged"
          + (f", {len(skipped)} skipped" if skipped else "") + ":")
    for path in paths:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
