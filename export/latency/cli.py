"""tinymoat-bench: measure the latency of exported artifacts on this machine, a phone or a board.

  tinymoat-bench ARTIFACT_OR_DIR... [--runtime litert|onnxruntime|coreml] [--threads 1,2,4]
                 [--runs N] [--warmup N] [--no-xnnpack] [--val-data DIR] [--out FILE_OR_DIR]
  tinymoat-bench MODEL.tflite... --runtimes litert-2.3,litert-1.4,tflite-2.14 [...]
  tinymoat-bench ARTIFACT_OR_DIR... --android --benchmark-binary PATH [--serial S]
                 [--delegate cpu,xnnpack,gpu,nnapi] [--op-profiling] [--adb PATH] ...
  tinymoat-bench ARTIFACT_OR_DIR... --device ssh://user@host[:port] [--identity KEY]
                 [--python python3] ...

Each measurement is written as one `tinymoat.latency/1` JSON file (see
export/latency/schema.py) into --out (default runs/latency/), and a table is
printed. Merge results from several devices with tinymoat-report.
"""

from __future__ import annotations

import pathlib
import sys

from tqdm import tqdm

from . import artifacts, grid, output
from .errors import BenchError, OneLineParser, UsageError, report

PROG = "tinymoat-bench"


def _threads(text: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--threads {text!r}: expected positive integers like 1,2,4")
    return list(dict.fromkeys(values))


def _delegates(text: str) -> list:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in grid.ANDROID_DELEGATES]
    if not values or bad:
        raise UsageError(f"--delegate {text!r}: choose from {', '.join(grid.ANDROID_DELEGATES)}")
    return list(dict.fromkeys(values))


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="+", metavar="ARTIFACT_OR_DIR",
                        help=".tflite/.onnx/.mlpackage files, or directories holding them")
    parser.add_argument("--runtime", choices=("litert", "onnxruntime", "coreml"),
                        help="default: from the file type")
    parser.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs (default 5)")
    parser.add_argument("--no-xnnpack", action="store_true",
                        help="LiteRT: built-in CPU kernels instead of the XNNPACK delegate")
    parser.add_argument("--val-data", metavar="DIR",
                        help="host only: class-per-subfolder images to feed instead of random data")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--runtimes", metavar="NAMES",
                        help=".tflite in each named TFLite runtime (litert-2.3, litert-1.4, "
                             "tflite-2.14), each in a virtualenv cached under "
                             "~/.cache/tinymoat/runtimes and created on first use; adds XNNPACK "
                             "partitions, ops outside XNNPACK and agreement with this LiteRT")
    parser.add_argument("--out", metavar="FILE_OR_DIR",
                        help=f"result directory, or one .json file (default {output.DEFAULT_OUT}/)")
    phone = parser.add_argument_group("Android phones (TFLite benchmark_model over adb)")
    phone.add_argument("--android", action="store_true")
    phone.add_argument("--serial", help="adb serial of the phone (needed when several are attached)")
    phone.add_argument("--benchmark-binary", metavar="PATH",
                       help="benchmark_model built for the phone's ABI")
    phone.add_argument("--delegate", default="xnnpack",
                       help="comma-separated: cpu, xnnpack, gpu, nnapi (default xnnpack)")
    phone.add_argument("--op-profiling", action="store_true",
                       help="also record benchmark_model's per-operator profile")
    phone.add_argument("--adb", metavar="PATH", help="adb executable (default $TINYMOAT_ADB or adb)")
    board = parser.add_argument_group("Linux boards over ssh")
    board.add_argument("--device", metavar="ssh://user@host[:port]")
    board.add_argument("--identity", metavar="KEY", help="ssh private key")
    board.add_argument("--python", default="python3", help="python on the board (default python3)")
    return parser


def _check_args(args):
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    if args.warmup < 0:
        raise UsageError("--warmup must not be negative")
    if args.android and args.device:
        raise UsageError("--android and --device are exclusive: one target per run")
    if args.runtimes is not None:
        from . import runtimes
        runtimes.parse(args.runtimes)
        if args.android or args.device:
            raise UsageError("--runtimes runs on this machine only, not with --android/--device")
        if args.runtime not in (None, "litert"):
            raise UsageError("--runtimes times .tflite artifacts: leave out --runtime")
    if args.android:
        if not args.benchmark_binary:
            raise UsageError("--android needs --benchmark-binary PATH (TFLite's benchmark_model)")
        if not pathlib.Path(args.benchmark_binary).is_file():
            raise UsageError(f"--benchmark-binary {args.benchmark_binary}: no such file")
        if args.runtime not in (None, "litert") or args.no_xnnpack:
            raise UsageError("--android runs .tflite with benchmark_model; choose delegates "
                             "with --delegate instead of --runtime/--no-xnnpack")
    else:
        for flag, value in (("--serial", args.serial), ("--benchmark-binary", args.benchmark_binary),
                            ("--adb", args.adb), ("--op-profiling", args.op_profiling or None)):
            if value is not None:
                raise UsageError(f"{flag} only applies with --android")
        if args.delegate != "xnnpack":
            raise UsageError("--delegate only applies with --android (on the host: --no-xnnpack)")
    if args.device and args.runtime == "coreml":
        raise UsageError("boards run .tflite and .onnx only, not Core ML")
    if not args.device and args.identity:
        raise UsageError("--identity only applies with --device")
    if args.val_data and (args.android or args.device):
        raise UsageError("--val-data only applies on the host")


def _plan(args):
    """(cells, runner) for the chosen target; checks everything before touching a device."""
    threads = _threads(args.threads)
    if args.android:
        from .android import AndroidRunner
        paths = artifacts.discover(args.artifacts, "litert", "benchmark_model (--android)")
        cells = grid.android_cells(paths, threads, _delegates(args.delegate))
        return cells, lambda: AndroidRunner(paths, args.benchmark_binary, args.serial, args.adb,
                                            args.op_profiling)
    runtime = args.runtime
    paths = artifacts.discover(args.artifacts, runtime)
    if args.device:
        from .remote import SshRunner
        for path in (p for p in paths if p.suffix == ".mlpackage"):
            print(f"skipped: {path.name}: boards run .tflite and .onnx only")
        paths = [p for p in paths if p.suffix != ".mlpackage"]
        if not paths:
            raise UsageError("nothing to run on a board: it runs .tflite and .onnx artifacts")
        cells = grid.local_cells(paths, threads, runtime, xnnpack=not args.no_xnnpack)
        return cells, lambda: SshRunner(paths, args.device, args.identity, args.python)
    from .host import HostRunner, list_images
    images = list_images(args.val_data) if args.val_data else None
    if args.runtimes is not None:
        from . import runtimes
        paths = artifacts.discover(args.artifacts, "litert", "--runtimes")
        cells = grid.runtime_cells(paths, threads, runtimes.parse(args.runtimes),
                                   xnnpack=not args.no_xnnpack)
        return cells, lambda: HostRunner(images, args.seed)
    cells = grid.local_cells(paths, threads, runtime, xnnpack=not args.no_xnnpack)
    return cells, lambda: HostRunner(images, args.seed)


def _run(args) -> int:
    _check_args(args)
    cells, make_runner = _plan(args)
    out = output.check_out(args.out, len(cells))
    from .host import Skipped
    results = []
    # The bar shows on a terminal only and vanishes when done, leaving the table (or the error).
    with make_runner() as runner, tqdm(cells, desc="latency", unit="cell", file=sys.stderr,
                                       disable=None, leave=False, dynamic_ncols=True) as bar:
        for cell in bar:
            bar.set_postfix_str(cell.label(), refresh=False)
            try:
                result = runner.measure(cell, args.runs, args.warmup)
            except Skipped as why:
                tqdm.write(f"skipped: {cell.path.name}: {why}", file=sys.stdout)
                continue
            results.append((result, output.write_result(result, out)))
    if results:
        print(output.format_table([r for r, _ in results]))
        facts = output.format_runtime_facts([r for r, _ in results])
        if facts:
            print(facts)
        overheads = [r["harness_overhead_ms"] for r, _ in results
                     if r["harness_overhead_ms"] is not None]
        if overheads:
            print(f"harness overhead: {max(overheads) * 1000:.2f} us per run at most "
                  "(timing loop around a no-op; not subtracted)")
        where = out if out.suffix == ".json" else str(out).rstrip("/") + "/"
        print(f"{len(results)} result{'s' if len(results) != 1 else ''} written to {where}")
    else:
        print("no results written")
    return 0


def main(argv=None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except (UsageError, BenchError) as exc:
        return report(PROG, exc)
    except KeyboardInterrupt:
        return report(PROG, BenchError("interrupted"))


if __name__ == "__main__":
    sys.exit(main())
