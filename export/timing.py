"""Latency of an export's artifacts on this machine: `tinymoat-export --bench`.

Every artifact just written and validated is timed with the host harness
(export/latency: LiteRT with XNNPACK, ONNX Runtime's CPU provider, Core ML on
macOS only) at each thread count, interleaving nothing: artifacts are timed
one after another, so compare them on a quiet machine. Each measurement is
written as a `tinymoat.latency/1` result into the export's `latency/` folder,
which tinymoat-report reads like any other. With --bench-runtimes the .tflite
files are also timed in the named TFLite runtimes (the virtualenvs of
`tinymoat-bench --runtimes`, created on first use).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Dict, List, Optional, Tuple

LATENCY_FOLDER = "latency"


@dataclasses.dataclass(frozen=True)
class Settings:
    threads: Tuple[int, ...] = (1, 2)
    runs: int = 30
    warmup: int = 5
    runtimes: Tuple[str, ...] = ()   # other TFLite runtimes (latency/runtimes.py) for .tflite


def settings(args) -> Optional[Settings]:
    """The Settings of tinymoat-export's --bench options, None without --bench; a bench
    option without --bench, or a bad value, is an ExportError."""
    from .target import ExportError
    given = [flag for flag, value in (("--bench-threads", args.bench_threads),
                                      ("--bench-runs", args.bench_runs),
                                      ("--bench-runtimes", args.bench_runtimes))
             if value is not None]
    if not args.bench:
        if given:
            raise ExportError(f"{', '.join(given)}: only with --bench")
        return None
    if args.bench_runs is not None and args.bench_runs < 1:
        raise ExportError(f"--bench-runs must be at least 1, got {args.bench_runs}")
    defaults = Settings()
    return Settings(parse_threads(args.bench_threads) if args.bench_threads else defaults.threads,
                    args.bench_runs or defaults.runs, defaults.warmup,
                    parse_runtimes(args.bench_runtimes))


def parse_runtimes(text: Optional[str]) -> Tuple[str, ...]:
    """--bench-runtimes: names of TFLite runtimes besides this environment's LiteRT."""
    from .latency.errors import UsageError
    from .latency.runtimes import parse
    from .target import ExportError
    if not text:
        return ()
    try:
        return tuple(parse(text))
    except UsageError as exc:
        raise ExportError(str(exc).replace("--runtimes", "--bench-runtimes", 1)) from None


def parse_threads(text: str) -> Tuple[int, ...]:
    from .target import ExportError
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ExportError(f"--bench-threads {text!r}: expected positive integers like 1,2")
    return values


def measure(folder: str, files: List[str], settings: Settings) -> Dict[str, Dict]:
    """{file: {"latency_ms": {threads: median}, "note": why not timed or None}}; results are
    written to folder/latency/."""
    from .latency import grid
    from .latency.host import HostRunner
    out = pathlib.Path(folder) / LATENCY_FOLDER
    timed: Dict[str, Dict] = {name: {"latency_ms": {}, "note": None} for name in files}
    cells = grid.local_cells([pathlib.Path(folder) / name for name in files],
                             list(settings.threads))
    tflite = [pathlib.Path(folder) / name for name in files if name.endswith(".tflite")]
    with HostRunner() as runner:
        for cell in cells:
            _time(runner, cell, settings, out, timed[cell.path.name])
        for cell in grid.runtime_cells(tflite, list(settings.threads), settings.runtimes):
            entry = timed[cell.path.name].setdefault("runtimes", {}).setdefault(
                cell.environment, {"latency_ms": {}, "note": None})
            result = _time(runner, cell, settings, out, entry)
            if result is not None:
                entry["xnnpack_partitions"] = result["xnnpack"]["partitions"]
    return timed


def _time(runner, cell, settings: Settings, out: pathlib.Path, entry: Dict) -> Optional[Dict]:
    """Measures one cell into `entry` (median and p90 per thread count, the runtime) and
    writes its result to `out`; an artifact that cannot run here gets a note instead."""
    from .latency import output
    from .latency.errors import BenchError
    from .latency.host import Skipped
    from .progress import step
    if entry["note"]:
        return None
    with step(f"time {cell.label()}"):
        try:
            result = runner.measure(cell, settings.runs, settings.warmup)
        except (Skipped, BenchError) as why:
            entry["note"] = f"not timed: {str(why).splitlines()[0]}"
            return None
    output.write_result(result, out)
    entry["latency_ms"][cell.threads] = {"median": result["latency_ms"]["median"],
                                         "p90": result["latency_ms"]["p90"]}
    entry["runtime"] = f"{result['runtime']['name']} {result['runtime']['version']}"
    return result
