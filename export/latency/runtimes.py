"""TFLite runtimes side by side: one cached virtualenv per runtime an app may embed.

    tinymoat-bench MODEL.tflite --runtimes litert-2.3,litert-1.4,tflite-2.14

Apps do not embed the LiteRT of this environment: Android apps ship the
LiteRT Maven artifacts (the 1.4 line today), Linux devices often the old
tflite-runtime. Each named runtime gets its own virtualenv, created on first
use with ``python -m venv`` and pip under ``~/.cache/tinymoat/runtimes/<name>``
($TINYMOAT_RUNTIMES overrides the folder) and reused afterwards; a runtime this
python already has (ai-edge-litert 2.3 in the project's environment) runs here.
Every runtime times a model with the same script, ``runtime_runner.py``, in a
subprocess: 1 interpreter, XNNPACK unless --no-xnnpack, the board runner's
timing loop. Per model it reports latency, the XNNPACK partitions, the ops
left outside XNNPACK, and its outputs, which are compared with the project's
LiteRT on the same input (`agreement`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from tinymoat.quantization.metrics import sqnr_db
from tinymoat.quantization.tensors import dequantize

from .errors import BenchError, UsageError, one_line

HERE = pathlib.Path(__file__).parent
RUNNER = HERE / "runtime_runner.py"
RUN_TIMEOUT_S = 1800
PIP_TIMEOUT_S = 900
MARKER = "tinymoat-runtime.json"


@dataclasses.dataclass(frozen=True)
class Runtime:
    """A TFLite runtime: the pip requirements of its virtualenv and how to recognise it here."""

    name: str
    distribution: str  # the pip distribution that provides the interpreter
    version: str  # its exact version, or a prefix ending in '.' (any 2.3.x)
    extra: tuple = ()  # further requirements (numpy<2 for wheels built against numpy 1)

    @property
    def requirements(self) -> list:
        pin = f"=={self.version}*" if self.version.endswith(".") else f"=={self.version}"
        return [self.distribution + pin, *self.extra]

    def matches(self, installed) -> bool:
        if installed is None:
            return False
        return installed.startswith(self.version) if self.version.endswith(".") \
            else installed == self.version


RUNTIMES = {r.name: r for r in (
    Runtime("litert-2.3", "ai-edge-litert", "2.3."),
    Runtime("litert-1.4", "ai-edge-litert", "1.4.0", ("numpy<2",)),
    Runtime("tflite-2.14", "tflite-runtime", "2.14.0", ("numpy<2",)),
)}


def parse(text: str) -> list:
    """'litert-2.3,litert-1.4' -> runtime names (UsageError for unknown ones)."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in RUNTIMES]
    if not names or bad:
        raise UsageError(f"--runtimes {text!r}: choose from {', '.join(RUNTIMES)}")
    return list(dict.fromkeys(names))


def cache_root() -> pathlib.Path:
    if os.environ.get("TINYMOAT_RUNTIMES"):
        return pathlib.Path(os.environ["TINYMOAT_RUNTIMES"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "tinymoat" / "runtimes"


def _installed_here(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _venv_python(root: pathlib.Path) -> pathlib.Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def cached_python(name: str):
    """The python of `name`'s runtime without creating anything: this python when it has
    the runtime, the cached virtualenv's when it is complete, else None."""
    runtime = RUNTIMES[name]
    if runtime.matches(_installed_here(runtime.distribution)):
        return pathlib.Path(sys.executable)
    root = cache_root() / name
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    python = _venv_python(root)
    if marker.get("requirements") != runtime.requirements or not python.exists():
        return None
    return python


def _last_line(text) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _run(cmd, what, timeout):
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise BenchError(f"{what}: cannot run {cmd[0]}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} did not finish in {timeout} s") from None
    return proc


def ensure(name: str, log=None) -> pathlib.Path:
    """The python of `name`'s runtime, creating its virtualenv first if needed.

    Built in a temporary folder beside the cache entry and renamed into place
    when pip succeeded, under a lock, so a failed or concurrent creation never
    leaves a half-made runtime that looks usable.
    """
    python = cached_python(name)
    if python is not None:
        return python
    runtime = RUNTIMES[name]
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f"{name}.lock", "w")
    except OSError as exc:
        raise BenchError(f"cannot create the {name} runtime under {root}: {exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = cached_python(name)  # made by another process meanwhile
        if python is not None:
            return python
        if log:
            log(f"creating the {name} runtime in {root / name} (pip install "
                f"{' '.join(runtime.requirements)}; once)")
        scratch = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            proc = _run([sys.executable, "-m", "venv", scratch / "venv"], f"python -m venv for {name}",
                        PIP_TIMEOUT_S)
            if proc.returncode != 0:
                raise BenchError(f"cannot create the {name} runtime: python -m venv failed: "
                                 f"{_last_line(proc.stderr)}")
            proc = _run([_venv_python(scratch / "venv"), "-m", "pip", "install", "--quiet",
                         "--disable-pip-version-check", *runtime.requirements],
                        f"pip install for {name}", PIP_TIMEOUT_S)
            if proc.returncode != 0:
                raise BenchError(f"cannot create the {name} runtime: pip install "
                                 f"{' '.join(runtime.requirements)} failed: "
                                 f"{_last_line(proc.stderr or proc.stdout)}")
            (scratch / "venv" / MARKER).write_text(
                json.dumps({"requirements": runtime.requirements}) + "\n", encoding="utf-8")
            final = root / name
            if final.exists():
                shutil.rmtree(final)
            os.replace(scratch / "venv", final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    python = cached_python(name)
    if python is None:
        raise BenchError(f"the {name} runtime in {root / name} is unusable; delete that folder")
    return python


# --- running ------------------------------------------------------------------

def run_models(python, models, feeds, threads=1, runs=50, warmup=5, delegate="xnnpack",
               what="runtime runner"):
    """Runs runtime_runner.py with `python` on `models` (paths), `feeds` (one list of input
    arrays per model). Returns (runner result, [outputs of each model])."""
    with tempfile.TemporaryDirectory(prefix="tinymoat-runtime-") as tmp:
        inputs = pathlib.Path(tmp) / "inputs.npz"
        np.savez(inputs, **{f"m{k}_{i}": np.asarray(a) for k, feed in enumerate(feeds)
                            for i, a in enumerate(feed)})
        cmd = [python, RUNNER, *map(str, models), "--inputs", inputs, "--outputs", tmp,
               "--threads", threads, "--runs", runs, "--warmup", warmup, "--delegate", delegate]
        proc = _run(cmd, what, RUN_TIMEOUT_S)
        if proc.returncode != 0:
            raise BenchError(f"{what} failed (exit {proc.returncode}): {_last_line(proc.stderr)}")
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        try:
            result = json.loads(lines[-1])
        except (IndexError, ValueError, RecursionError):
            raise BenchError(f"{what} printed no JSON result: "
                             f"{one_line(_last_line(proc.stdout))[:160]}") from None
        outputs = []
        for k in range(len(models)):
            with np.load(pathlib.Path(tmp) / f"m{k}.npz", allow_pickle=False) as data:
                outputs.append([data[f"o{j}"] for j in range(len(data.files))])
    return result, outputs


def reference_outputs(model_path, feed):
    """(outputs, output details) of one inference in the project's LiteRT (XNNPACK, 1 thread)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(model_path), num_threads=1)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), feed):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    details = interpreter.get_output_details()
    return [interpreter.get_tensor(d["index"]).copy() for d in details], details


def agreement(outputs, reference, details) -> dict:
    """How `outputs` match `reference` (dequantized, over all outputs): max |difference|,
    max relative difference (to the reference's largest magnitude), SQNR in dB, and whether
    the first output's argmax (top-1) is the same."""
    def values(arrays):
        return np.concatenate([dequantize(a, d, np.float64).ravel()
                               for a, d in zip(arrays, details)])

    got, want = values(outputs), values(reference)
    if got.shape != want.shape:
        raise BenchError(f"outputs differ in size: {got.size} values vs {want.size}")
    diff = got - want
    sqnr = None if not diff.any() or not want.any() else sqnr_db(want, got)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    return {"max_abs_diff": max_abs,
            "max_rel_diff": max_abs / scale if scale > 0 else None,
            "sqnr_db": None if sqnr is None else float(sqnr),
            "same_top1": bool(np.argmax(outputs[0]) == np.argmax(reference[0]))}


def describe(name, runner_result) -> dict:
    """The `runtime` object of a result measured by the runner in runtime `name`."""
    runtime = runner_result["runtime"]
    return {"name": "litert", "version": runtime["version"], "delegate": runtime["delegate"],
            "threads": runtime["threads"], "environment": name}


def reference_version() -> str:
    return _installed_here("ai-edge-litert") or "unknown"
