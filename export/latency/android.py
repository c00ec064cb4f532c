"""Android phones: TFLite's `benchmark_model` run over adb.

Sequence: `adb devices` (exactly one ready phone, or --serial), `getprop` for the
device description, a fresh directory under /data/local/tmp, `adb push` of the
binary and the artifacts, one `adb shell benchmark_model ...` per cell (its
console output parsed by `benchmark_output`), and `rm -rf` of the directory at
the end, whatever happened. The adb executable is `--adb PATH`, else
$TINYMOAT_ADB, else `adb` on PATH.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess

from . import artifacts, benchmark_output, board_runner
from .errors import BenchError, UsageError, one_line
from .grid import Cell
from .schema import build_result

ADB_ENV = "TINYMOAT_ADB"
REMOTE_ROOT = "/data/local/tmp"
DELEGATE_FLAGS = {"cpu": ["--use_xnnpack=false"], "xnnpack": ["--use_xnnpack=true"],
                  "gpu": ["--use_gpu=true"], "nnapi": ["--use_nnapi=true"]}
RUN_TIMEOUT_S = 900  # benchmark_model stops itself after max_secs (150 s) per phase


def find_adb(explicit=None) -> str:
    exe = explicit or os.environ.get(ADB_ENV) or shutil.which("adb")
    if not exe:
        raise UsageError("adb not found: install Android platform-tools (Debian: apt-get install adb) "
                         "or pass --adb PATH")
    return exe


def _last_line(*texts) -> str:
    for text in texts:
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "(no output)"


class Adb:
    """Runs adb commands, optionally against one serial; failures become BenchError."""

    def __init__(self, exe: str, serial: str | None = None):
        self.exe, self.serial = exe, serial

    def __call__(self, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
        cmd = [self.exe] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise BenchError(f"cannot run adb ({self.exe}): {exc}") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"adb {' '.join(args)[:80]} did not finish in {timeout} s") from None
        if check and proc.returncode != 0:
            raise BenchError(f"adb {' '.join(args)[:80]} failed (exit {proc.returncode}): "
                             f"{_last_line(proc.stderr, proc.stdout)}")
        return proc

    def shell(self, command: str, **kwargs) -> subprocess.CompletedProcess:
        return self("shell", command, **kwargs)


def parse_devices(text: str) -> list:
    """[(serial, state)] from `adb devices` output."""
    devices = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            devices.append((parts[0], parts[1]))
    return devices


def choose_device(exe: str, serial: str | None = None) -> str:
    """The serial to use: the one asked for, or the only phone in state 'device'."""
    proc = Adb(exe)("devices")
    returned = " | ".join(line.strip() for line in proc.stdout.splitlines() if line.strip())
    ready = [s for s, state in parse_devices(proc.stdout) if state == "device"]
    if serial is not None:
        if serial not in ready:
            raise BenchError(f"device {serial} is not attached and ready; "
                             f"adb devices returned: {returned!r}")
        return serial
    if not ready:
        raise BenchError(f"no Android device attached; adb devices returned: {returned!r}")
    if len(ready) > 1:
        raise UsageError(f"{len(ready)} devices attached ({', '.join(ready)}); choose one with --serial")
    return ready[0]


def parse_getprop(text: str) -> dict:
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.M))


def device_info(serial: str, props: dict) -> dict:
    def prop(name):
        return props.get(name, "").strip() or None

    model = " ".join(p for p in (prop("ro.product.manufacturer"), prop("ro.product.model")) if p)
    release, sdk = prop("ro.build.version.release"), prop("ro.build.version.sdk")
    soc = " ".join(p for p in (prop("ro.soc.manufacturer"), prop("ro.soc.model")) if p)
    return {
        "kind": "android",
        "name": serial,
        "model": model or None,
        "os": f"Android {release}" + (f" (API {sdk})" if sdk else "") if release else None,
        "cpu": prop("ro.product.cpu.abi"),
        "soc": (soc if prop("ro.soc.model") else None) or prop("ro.board.platform"),
    }


def benchmark_command(binary: str, graph: str, cell: Cell, runs: int, warmup: int,
                      op_profiling: bool) -> str:
    """The shell command line for one cell (paths quoted for the phone's shell)."""
    args = [binary, f"--graph={graph}", f"--num_threads={cell.threads}", f"--num_runs={runs}",
            f"--warmup_runs={warmup}", *DELEGATE_FLAGS[cell.delegate]]
    if op_profiling:
        args.append("--enable_op_profiling=true")
    return " ".join(shlex.quote(a) for a in args)


def _local_input_shape(path):
    """The model's first input shape, read locally (for input_size without a manifest)."""
    try:
        return board_runner.input_specs("litert", str(path))[0]["shape"]
    except Exception:  # unreadable here; benchmark_model will say more on the phone
        return None


class AndroidRunner:
    """A phone with benchmark_model and the artifacts pushed to a temporary directory."""

    def __init__(self, paths, binary, serial=None, adb=None, op_profiling=False):
        self.paths, self.binary, self.op_profiling = list(paths), str(binary), op_profiling
        self.exe, self.serial = find_adb(adb), serial
        self.adb = self.tmp = self.device = None

    def __enter__(self):
        serial = choose_device(self.exe, self.serial)
        self.adb = Adb(self.exe, serial)
        self.device = device_info(serial, parse_getprop(self.adb.shell("getprop").stdout))
        tmp = f"{REMOTE_ROOT}/tinymoat-{secrets.token_hex(6)}"
        self.adb.shell(f"mkdir -p {shlex.quote(tmp)}")
        self.tmp = tmp
        try:
            self.adb("push", self.binary, f"{tmp}/benchmark_model", timeout=600)
            self.adb.shell(f"chmod 755 {shlex.quote(tmp + '/benchmark_model')}")
            for path in self.paths:
                self.adb("push", str(path), f"{tmp}/{path.name}", timeout=600)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self._cleanup()
        return False

    def _cleanup(self):
        if self.tmp:
            self.adb.shell(f"rm -rf {shlex.quote(self.tmp)}", check=False)
            self.tmp = None

    def measure(self, cell: Cell, runs: int, warmup: int) -> dict:
        command = benchmark_command(f"{self.tmp}/benchmark_model", f"{self.tmp}/{cell.path.name}",
                                    cell, runs, warmup, self.op_profiling)
        proc = self.adb.shell(command, check=False, timeout=RUN_TIMEOUT_S)
        output = proc.stdout + "\n" + proc.stderr
        if proc.returncode != 0:
            raise BenchError(f"{cell.label()}: benchmark_model failed on {self.adb.serial} "
                             f"(exit {proc.returncode}): {_last_line(proc.stderr, proc.stdout)}")
        try:
            parsed = benchmark_output.parse(output, expect_op_profile=self.op_profiling)
        except benchmark_output.BenchmarkOutputError as exc:
            raise BenchError(f"{cell.label()} on {self.adb.serial}: {one_line(exc)}") from None
        measurement = benchmark_output.to_measurement(parsed)
        notes = measurement["notes"]
        if measurement["latency_ms"]["runs"] != runs:
            notes.append(f"benchmark_model made {measurement['latency_ms']['runs']} timed runs for "
                         f"--num_runs={runs} (it also keeps going for at least --min_secs)")
        info = artifacts.export_info(cell.path)
        return build_result(
            device=self.device,
            runtime={"name": "tflite_benchmark_model", "version": None, "delegate": cell.delegate,
                     "threads": cell.threads},
            artifact=artifacts.describe(cell.path, info, _local_input_shape(cell.path)),
            latency_ms=measurement["latency_ms"], init_ms=measurement["init_ms"],
            first_inference_ms=measurement["first_inference_ms"],
            peak_memory_mb=measurement["peak_memory_mb"], harness_overhead_ms=None,
            validation=artifacts.validation(info), notes=list(info.notes) + notes,
            op_profile=measurement["op_profile"])
