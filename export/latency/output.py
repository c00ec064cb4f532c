"""Where results go: one JSON file per result (written atomically) and a compact table."""

from __future__ import annotations

import pathlib
import re

from tinymoat.fileio import write_text

from .errors import UsageError
from .schema import dumps

DEFAULT_OUT = pathlib.Path("runs") / "latency"


def _slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "unknown"


def result_filename(result) -> str:
    """`<artifact stem>__<kind>-<device>__<runtime>-<delegate>__t<threads>.json`: unique per cell."""
    device, runtime = result["device"], result["runtime"]
    stem = result["artifact"]["file"].rsplit(".", 1)[0]
    who = device["name"] or device["model"] or "unknown"
    name = runtime["name"] + (f"-{runtime['environment']}" if runtime.get("environment") else "")
    return (f"{_slug(stem)}__{device['kind']}-{_slug(who)}__"
            f"{_slug(name)}-{_slug(runtime['delegate'])}__t{runtime['threads']}.json")


def check_out(out, cells: int) -> pathlib.Path:
    """A `.json` --out names one result file, so it only fits a single measurement."""
    out = pathlib.Path(out) if out else DEFAULT_OUT
    if out.suffix == ".json" and cells != 1:
        raise UsageError(f"--out {out} is one file but {cells} measurements were asked for; "
                         "give a directory")
    if out.suffix != ".json" and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    return out


def write_result(result, out: pathlib.Path) -> pathlib.Path:
    """Writes one validated result; a reader never sees half a file."""
    path = out if out.suffix == ".json" else out / result_filename(result)
    write_text(path, dumps(result))
    return path


def _ms(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _runtime(runtime) -> str:
    """'litert/xnnpack', or 'litert 1.4.0 [litert-1.4]/xnnpack' for a named TFLite runtime."""
    if runtime.get("environment"):
        return f"{runtime['name']} {runtime['version']} [{runtime['environment']}]/{runtime['delegate']}"
    return f"{runtime['name']}/{runtime['delegate']}"


def format_table(results) -> str:
    """One line per result: the numbers someone scanning a terminal wants."""
    header = ("artifact", "device", "runtime/delegate", "thr", "median ms", "p90 ms", "mean ms",
              "init ms", "first ms", "overhead us")
    rows = [header]
    for r in results:
        lat = r["latency_ms"]
        overhead = r["harness_overhead_ms"]
        rows.append((r["artifact"]["file"], f"{r['device']['kind']}:{r['device']['name'] or '?'}",
                     _runtime(r["runtime"]), str(r["runtime"]["threads"]),
                     _ms(lat["median"]), _ms(lat["p90"]), _ms(lat["mean"]), _ms(r["init_ms"], 1),
                     _ms(r["first_inference_ms"]),
                     "-" if overhead is None else f"{overhead * 1000:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_runtime_facts(results) -> str:
    """One line per result measured in a named TFLite runtime: XNNPACK partitions, the ops
    left outside it, and agreement with the project's LiteRT ('' when there are none)."""
    lines = []
    for r in results:
        if r.get("xnnpack") is None:
            continue
        x, a = r["xnnpack"], r.get("agreement")
        outside = ", ".join(f"{op} x{n}" for op, n in x["ops_outside"].items()) or "none"
        line = (f"{r['artifact']['file']} [{r['runtime'].get('environment')}]: "
                f"{x['partitions']} XNNPACK partition{'s' if x['partitions'] != 1 else ''}; "
                f"outside XNNPACK: {outside}")
        if a is not None:
            sqnr = "identical" if a["sqnr_db"] is None else f"SQNR {a['sqnr_db']:.1f} dB"
            line += (f"; vs {a['reference']}: max |diff| {a['max_abs_diff']:.3g}, {sqnr}, "
                     f"top-1 {'same' if a['same_top1'] else 'DIFFERENT'}")
        lines.append(line)
    return "\n".join(lines)
