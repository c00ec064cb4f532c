"""Reads the console output of TFLite's `benchmark_model` into a latency measurement.

The format (tensorflow/lite/tools/benchmark, printed to the console; newer
builds prefix each log line with ``INFO: ``)::

    Initialized session in 52.687ms.
    Running benchmark for at least 1 iterations and at least 0.5 seconds ...
    count=35 first=19105 curr=13909 min=13585 max=19105 avg=14452.5 std=1240     <- warm-up, us
    Running benchmark for at least 50 iterations and at least 1 seconds ...
    count=70 first=14941 curr=14066 min=13728 max=16145 avg=14290.9 std=452      <- timed runs, us
    Inference timings in us: Init: 52687, First inference: 19105, Warmup (avg): 14452.5, Inference (avg): 14290.9
    Memory footprint delta from the start of the tool (MB): init=21.9492 overall=34.5234
    Overall peak memory footprint (MB) via periodic monitoring: 38.1   <- with --report_peak_memory_footprint

Older builds print ``Average inference timings in us: Warmup: .., Init: ..,
Inference: ..`` instead. A statistics line where every run took the same time
reads ``count=N curr=T`` (plus ``(all same)`` when N > 1). ``avg`` is a double
printed with 6 significant digits (``1.23457e+06``), ``std`` is the POPULATION
standard deviation truncated to whole microseconds. With
``--enable_op_profiling=true`` the tool also prints, after
``Operator-wise Profiling Info for Regular Benchmark Runs:``, a ``Run Order``
table with the columns ``[node type] ([start]) [first] [avg ms] [%] [cdf%]
[mem KB] [times called] [Name]``.

benchmark_model gives no median or percentiles: those stay null. Output that
stops before the summary line (a crash, a failed delegate) or whose numbers do
not add up is an error, never a partial result; so is a negative or
non-finite time.
"""

from __future__ import annotations

import dataclasses
import math
import re

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_VALUE = rf"(?:{NUMBER}|-?nan|-?inf)"
_PREFIX = re.compile(r"^\s*(?:(?:INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG)\s*:\s*)?")
_FAILURE = re.compile(r"^\s*(?:ERROR\b|Failed|Benchmarking failed|Segmentation fault|Aborted|"
                      r"terminating|F[0-9]{4} |Fatal|CANNOT LINK EXECUTABLE|.*not found)", re.I)
_SUMMARY = re.compile(r"(?:Average )?[Ii]nference timings in us:(.*)$")
_PAIR = re.compile(rf"\s*([A-Za-z][A-Za-z ()]*?)\s*:\s*({_VALUE})\s*(?:,|$)")
_PROFILE_HEADER = "Operator-wise Profiling Info for Regular Benchmark Runs:"
_PROFILE_FIELDS = {"first": "first_ms", "avg ms": "avg_ms", "%": "percent", "cdf%": "cdf_percent",
                   "mem KB": "mem_kb", "times called": "times_called"}


class BenchmarkOutputError(ValueError):
    """The output is not a complete, consistent benchmark_model run."""


@dataclasses.dataclass(frozen=True)
class RunStats:
    """One `count=... first=... min=... max=... avg=... std=...` line, in microseconds."""

    count: int
    first: float | None
    curr: float
    min: float
    max: float
    avg: float
    std: float


def _strip(line: str) -> str:
    return _PREFIX.sub("", line.rstrip("\r\n")).strip()


def _float(text: str, what: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BenchmarkOutputError(f"{what} is {text}")
    return value


def _time(text: str, what: str) -> float:
    """A duration: finite and not negative (a clock gone backwards is a broken run)."""
    value = _float(text, what)
    if value < 0:
        raise BenchmarkOutputError(f"{what} is negative ({text})")
    return value


def parse_stat_line(line: str) -> RunStats:
    """Parses a statistics line (after its log prefix)."""
    match = re.match(r"count=(\d+)\b(.*)$", line)
    if not match:
        raise BenchmarkOutputError(f"not a statistics line: {line[:120]!r}")
    count, rest = int(match.group(1)), match.group(2)
    fields = dict(re.findall(rf"\b(\w+)=({_VALUE})", rest))
    leftover = re.sub(rf"\b\w+={_VALUE}|\(all same\)|\s+", "", rest)
    if count < 1:
        raise BenchmarkOutputError("a statistics line counts no runs (count=0)")
    if leftover:
        raise BenchmarkOutputError(f"malformed statistics line: {line[:120]!r}")
    full = ("first", "curr", "min", "max", "avg", "std")
    if all(k in fields for k in full):
        v = {k: _float(fields[k], f"{k} in {line[:80]!r}") for k in full}
        stats = RunStats(count, v["first"], v["curr"], v["min"], v["max"], v["avg"], v["std"])
    elif set(fields) == {"curr"} and (count == 1 or "(all same)" in rest):
        t = _float(fields["curr"], "curr")
        stats = RunStats(count, t if count == 1 else None, t, t, t, t, 0.0)
    else:
        raise BenchmarkOutputError(f"incomplete statistics line: {line[:120]!r}")
    slack = 1e-5 * max(abs(stats.max), 1.0)  # avg is printed with 6 significant digits
    if not (0 <= stats.min <= stats.max and stats.min - slack <= stats.avg <= stats.max + slack
            and stats.std >= 0 and stats.curr >= 0 and (stats.first or 0) >= 0):
        raise BenchmarkOutputError(f"inconsistent statistics line: {line[:120]!r}")
    return stats


def _summary(lines) -> dict | None:
    for line in lines:
        match = _SUMMARY.search(line)
        if match:
            pairs = {k.strip(): v for k, v in _PAIR.findall(match.group(1))}
            if "Inference (avg)" not in pairs and "Inference" not in pairs:
                raise BenchmarkOutputError(f"malformed summary line: {line[:160]!r}")
            return pairs
    return None


def _failure_hint(raw_lines) -> str:
    failures = [line.strip() for line in raw_lines if _FAILURE.match(line.strip())]
    # The last specific complaint says most ("Failed to apply GPU delegate."), not the
    # generic "Benchmarking failed." that closes every failed run.
    specific = [f for f in failures if "Benchmarking failed" not in f] or failures
    if specific:
        return f"; it reported: {specific[-1][:200]!r}"
    tail = [line.strip() for line in raw_lines if line.strip()]
    return f"; last line: {tail[-1][:200]!r}" if tail else "; the output is empty"


def _memory(lines) -> dict:
    memory = {}
    for line in lines:
        # "Peak memory footprint (MB): init=.. overall=.." in builds before ~2.5.
        match = re.search(rf"(?:Memory footprint delta from the start of the tool|"
                          rf"^Peak memory footprint) \(MB\): init=({_VALUE}) overall=({_VALUE})", line)
        if match:
            memory["init_mb"], memory["overall_mb"] = float(match.group(1)), float(match.group(2))
        match = re.search(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_VALUE})",
                          line)
        if match:
            memory["peak_mb"] = float(match.group(1))
    return memory


def _op_profile(lines) -> list | None:
    """The `Run Order` table after the regular-runs profiling header; None when absent."""
    try:
        start = next(i for i, line in enumerate(lines) if _PROFILE_HEADER in line)
    except StopIteration:
        return None
    header_at = next((i for i in range(start + 1, min(start + 4, len(lines)))
                      if lines[i].startswith("[node type]")), None)
    if header_at is None:
        raise BenchmarkOutputError("the operator profile has no '[node type] ...' table header")
    columns = re.findall(r"\[([^\]]+)\]", lines[header_at])
    numeric = columns[1:-1]
    if columns[0] != "node type" or columns[-1] != "Name" or not set(_PROFILE_FIELDS) <= set(numeric):
        raise BenchmarkOutputError(f"unknown operator table header: {lines[header_at][:160]!r}")
    row = re.compile(r"^(.+?)\s+" + r"\s+".join([rf"({NUMBER})%?"] * len(numeric)) + r"\s+(\S.*)$")
    ops = []
    for line in lines[header_at + 1:]:
        if not line or line.startswith("="):
            break
        match = row.match(line)
        if not match:
            raise BenchmarkOutputError(f"malformed operator profile row: {line[:160]!r}")
        values = dict(zip(numeric, match.groups()[1:-1]))
        op = {"node_type": match.group(1).strip(), "name": match.group(len(numeric) + 2).strip()}
        for column, key in _PROFILE_FIELDS.items():
            op[key] = int(float(values[column])) if key == "times_called" else float(values[column])
        ops.append(op)
    if not ops:
        raise BenchmarkOutputError("the operator profile table is empty")
    return ops


def _delegate_lines(lines) -> list:
    pattern = re.compile(r"delegate", re.I)
    useful = re.compile(r"applied|created|partially|completely|fall", re.I)
    return [line for line in lines if pattern.search(line) and useful.search(line)][:5]


def parse(text: str, expect_op_profile: bool = False) -> dict:
    """Parses one benchmark_model run; raises BenchmarkOutputError if incomplete or inconsistent."""
    raw_lines = text.splitlines()
    lines = [_strip(line) for line in raw_lines]
    summary = _summary(lines)
    if summary is None:
        raise BenchmarkOutputError("incomplete benchmark_model output: no 'Inference timings in us' "
                                   "line, the run did not finish" + _failure_hint(raw_lines))
    stat_lines = [line for line in lines if line.startswith("count=")]
    if len(stat_lines) != 2:
        raise BenchmarkOutputError(f"expected 2 statistics lines (warm-up, timed runs), found "
                                   f"{len(stat_lines)}" + _failure_hint(raw_lines))
    warmup, inference = (parse_stat_line(line) for line in stat_lines)
    reported_avg = _time(summary.get("Inference (avg)", summary.get("Inference")), "Inference (avg)")
    if not math.isclose(reported_avg, inference.avg, rel_tol=1e-4, abs_tol=1.0):
        raise BenchmarkOutputError(f"inconsistent output: summary says Inference (avg) {reported_avg} "
                                   f"us, the statistics line {inference.avg} us")
    init_us = _time(summary["Init"], "Init") if "Init" in summary else None
    if init_us is None:
        match = next((re.search(rf"Initialized session in ({_VALUE})ms", line) for line in lines
                      if "Initialized session in" in line), None)
        init_us = _time(match.group(1), "Initialized session in") * 1000 if match else None
    first_us = (_time(summary["First inference"], "First inference")
                if "First inference" in summary else warmup.first)
    op_profile = _op_profile(lines)
    if expect_op_profile and op_profile is None:
        raise BenchmarkOutputError("op profiling was asked for but the output has no "
                                   f"{_PROFILE_HEADER!r} section")
    return {"init_us": init_us, "first_inference_us": first_us, "warmup": warmup,
            "inference": inference, "memory": _memory(lines), "op_profile": op_profile,
            "delegate_lines": _delegate_lines(lines)}


def _sample_stdev_us(stats: RunStats) -> float:
    """benchmark_model prints the population std; the schema wants the sample one."""
    if stats.count < 2:
        return 0.0
    return stats.std * math.sqrt(stats.count / (stats.count - 1))


def to_measurement(parsed: dict) -> dict:
    """The measurement fields of a result (latency_ms, init_ms, ..., notes, op_profile)."""
    inf = parsed["inference"]
    mean = min(max(inf.avg, inf.min), inf.max)  # undo 6-digit rounding past min/max
    latency = {"warmup": parsed["warmup"].count, "runs": inf.count, "mean": mean / 1000,
               "median": None, "p90": None, "p99": None, "min": inf.min / 1000,
               "max": inf.max / 1000, "stdev": _sample_stdev_us(inf) / 1000}
    notes = ["median, p90 and p99 are null: benchmark_model reports only count, min, max, avg "
             "and std of its runs",
             "stdev: benchmark_model's population std (whole microseconds) converted to the "
             "sample definition",
             "harness_overhead_ms is null: benchmark_model times Invoke() itself"]
    memory = parsed["memory"]
    peak = None
    if memory.get("peak_mb", -1) > 0:
        peak = memory["peak_mb"]
        notes.append("peak_memory_mb: benchmark_model's periodic-monitoring peak footprint "
                     "(whole process)")
    elif memory.get("overall_mb") is not None and memory["overall_mb"] >= 0:
        peak = memory["overall_mb"]
        notes.append("peak_memory_mb: benchmark_model's 'overall' memory footprint delta from the "
                     "start of the tool (at the end of the runs, not a peak)")
    else:
        notes.append("peak_memory_mb is null: benchmark_model printed no memory footprint")
    notes += [f"benchmark_model: {line}" for line in parsed["delegate_lines"]]
    return {
        "latency_ms": latency,
        "init_ms": None if parsed["init_us"] is None else parsed["init_us"] / 1000,
        "first_inference_ms": (None if parsed["first_inference_us"] is None
                               else parsed["first_inference_us"] / 1000),
        "peak_memory_mb": peak,
        "harness_overhead_ms": None,
        "notes": notes,
        "op_profile": parsed["op_profile"],
    }
