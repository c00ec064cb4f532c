"""Times one model on this machine and prints ONE JSON line with the measurement.

`tinymoat-bench --device ssh://...` copies this file, ``stats.py`` and the
artifact into a temporary directory on a Linux board, runs it there with the
board's python and deletes the directory again. So it needs nothing but the
standard library, numpy and one runtime (``ai_edge_litert``, ``tflite_runtime``
or ``onnxruntime``) and must never import tinymoat. The host harness imports
the same functions, so a board and the host time a model the same way.

    python3 board_runner.py MODEL [--threads N] [--runs N] [--warmup N]
                            [--delegate xnnpack|cpu|CPUExecutionProvider] [--seed N]

Exit status: 0 and one JSON line on stdout; 2 bad arguments; 3 no suitable
runtime on this machine; 4 the model could not be loaded or run. Errors are
one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

try:  # part of tinymoat.export.latency on the host
    from . import stats
except ImportError:  # copied beside stats.py onto a board
    import stats

EXIT_USAGE, EXIT_NO_RUNTIME, EXIT_MODEL = 2, 3, 4
LITERT_DELEGATES = ("xnnpack", "cpu")

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


class RunnerError(Exception):
    """A failure with its exit status; the message is the one line printed."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def runtime_for(path: str) -> str:
    if path.endswith(".tflite"):
        return "litert"
    if path.endswith((".onnx", ".ort")):
        return "onnxruntime"
    raise RunnerError(EXIT_USAGE, f"{os.path.basename(path)}: only .tflite, .onnx and .ort models "
                                  "run here")


# --- runtimes ---------------------------------------------------------------

def _litert_module():
    """(interpreter module, version): ai_edge_litert, else tflite_runtime."""
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter
        return interpreter, getattr(ai_edge_litert, "__version__", None)
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime import interpreter
        return interpreter, f"tflite_runtime {getattr(tflite_runtime, '__version__', '?')}"
    except ImportError:
        raise RunnerError(EXIT_NO_RUNTIME, "no TFLite runtime in this python: "
                                           "pip install ai-edge-litert (or tflite-runtime)") from None


def _onnxruntime_module():
    try:
        import onnxruntime
        return onnxruntime
    except ImportError:
        raise RunnerError(EXIT_NO_RUNTIME, "onnxruntime is not installed in this python: "
                                           "pip install onnxruntime") from None


def _litert_interpreter(path, threads=None, delegate="xnnpack"):
    module, version = _litert_module()
    kwargs = {"model_path": path}
    if threads is not None:
        kwargs["num_threads"] = threads
    if delegate == "cpu":
        # The default resolver applies XNNPACK; this one leaves the built-in kernels.
        resolver = getattr(module, "OpResolverType", None)
        if resolver is None:
            raise RunnerError(EXIT_NO_RUNTIME, f"this LiteRT ({version}) cannot switch XNNPACK off")
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif delegate != "xnnpack":
        raise RunnerError(EXIT_USAGE, f"LiteRT delegate must be xnnpack or cpu, not {delegate!r}")
    return module.Interpreter(**kwargs), version


class LiteRTSession:
    """A LiteRT interpreter with its tensors allocated."""

    def __init__(self, path, threads, delegate):
        self.interpreter, self.version = _litert_interpreter(path, threads, delegate)
        self.interpreter.allocate_tensors()
        self._indexes = [d["index"] for d in self.interpreter.get_input_details()]

    def feed(self, arrays):
        for index, array in zip(self._indexes, arrays):
            self.interpreter.set_tensor(index, array)

    def invoke(self):
        self.interpreter.invoke()


class OnnxSession:
    """An ONNX Runtime session on one execution provider with `threads` intra-op threads."""

    def __init__(self, path, threads, delegate):
        ort = _onnxruntime_module()
        self.version = ort.__version__
        if delegate not in ort.get_available_providers():
            raise RunnerError(EXIT_NO_RUNTIME, f"execution provider {delegate} is not available "
                                               f"(have {', '.join(ort.get_available_providers())})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, sess_options=options, providers=[delegate])
        self._names = [i.name for i in self.session.get_inputs()]
        self._feed = {}

    def feed(self, arrays):
        self._feed = dict(zip(self._names, arrays))

    def invoke(self):
        self.session.run(None, self._feed)


def open_session(runtime, path, threads, delegate):
    if runtime == "litert":
        return LiteRTSession(path, threads, delegate)
    if runtime == "onnxruntime":
        return OnnxSession(path, threads, delegate)
    raise RunnerError(EXIT_USAGE, f"unknown runtime {runtime!r}")


def input_specs(runtime, path) -> list:
    """Name, static shape, dtype and quantization (scale, zero point) of each input.

    Read without allocating, so making inputs costs no measured memory.
    """
    if runtime == "litert":
        module, _ = _litert_module()
        probe = "cpu" if hasattr(module, "OpResolverType") else "xnnpack"  # no delegate to build
        interpreter, _ = _litert_interpreter(path, delegate=probe)
        specs = []
        for d in interpreter.get_input_details():
            scale, zero_point = d.get("quantization", (0.0, 0))
            specs.append({"name": d["name"], "shape": [int(v) for v in d["shape"]],
                          "dtype": _dtype_name(d["dtype"]),
                          "scale": float(scale) if scale else None,
                          "zero_point": int(zero_point) if scale else None})
        return specs
    ort = _onnxruntime_module()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    specs = []
    for i in session.get_inputs():
        shape = []
        for axis, dim in enumerate(i.shape):
            if isinstance(dim, int) and dim > 0:
                shape.append(dim)
            elif axis == 0:
                shape.append(1)  # a symbolic batch dimension: measure batch 1
            else:
                raise RunnerError(EXIT_MODEL, f"input {i.name!r} has a dynamic dimension {dim!r} "
                                              f"at axis {axis}; export with a fixed input size")
        if i.type not in _ORT_DTYPES:
            raise RunnerError(EXIT_MODEL, f"input {i.name!r} has unsupported type {i.type}")
        specs.append({"name": i.name, "shape": shape, "dtype": _ORT_DTYPES[i.type],
                      "scale": None, "zero_point": None})
    return specs


def _dtype_name(dtype) -> str:
    import numpy as np
    return np.dtype(dtype).name


def random_inputs(specs, seed=0) -> list:
    """One set of random inputs of the right dtype and shape (full range for integers)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        dtype = np.dtype(spec["dtype"])
        if dtype == np.bool_:
            arrays.append(rng.integers(0, 2, spec["shape"]).astype(bool))
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            low, high = (info.min, info.max) if dtype.itemsize == 1 else (0, 100)
            arrays.append(rng.integers(low, high, spec["shape"], endpoint=True, dtype=dtype))
        else:
            arrays.append(rng.standard_normal(spec["shape"]).astype(dtype))
    return arrays


# --- memory -----------------------------------------------------------------

def _reset_peak_rss() -> bool:
    """Resets this process's peak RSS (Linux >= 4.0) so it measures only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _max_rss_mb():
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# --- timing -----------------------------------------------------------------

def _noop():
    return None


def timing_overhead_ms(runs: int) -> float:
    """Mean cost of one iteration of the timing loop with a no-op in place of the inference."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(max(runs, 1)):
        start = clock()
        _noop()
        samples.append(clock() - start)
    return stats.mean(samples) / 1e6


def measure(open_fn, feeds, runs: int, warmup: int) -> dict:
    """Initialises with `open_fn()`, then runs `warmup` untimed and `runs` timed inferences.

    `feeds` is a list of input sets, used round robin and set outside the timed
    region. The first inference after initialisation is reported on its own
    (it is the first warm-up run, or the first timed run without warm-up).
    """
    if runs < 1 or warmup < 0:
        raise RunnerError(EXIT_USAGE, "need runs >= 1 and warmup >= 0")
    notes = []
    reset = _reset_peak_rss()
    baseline = _current_rss_mb() if reset else _max_rss_mb()
    if not reset:
        notes.append("peak_memory_mb: the process peak RSS could not be reset; "
                     "an earlier, larger peak in this process hides this one")
    clock = time.perf_counter_ns
    start = clock()
    session = open_fn()
    init_ms = (clock() - start) / 1e6
    times = []
    for k in range(warmup + runs):
        session.feed(feeds[k % len(feeds)])
        start = clock()
        session.invoke()
        times.append(clock() - start)
    samples_ms = [t / 1e6 for t in times[warmup:]]
    overhead_ms = timing_overhead_ms(runs)
    peak = _max_rss_mb()
    peak_mb = max(0.0, peak - baseline) if peak is not None and baseline is not None else None
    return {
        "latency_ms": stats.summarize(samples_ms, warmup),
        "init_ms": init_ms,
        "first_inference_ms": times[0] / 1e6,
        "peak_memory_mb": peak_mb,
        "harness_overhead_ms": overhead_ms,
        "notes": notes,
    }


# --- this machine -----------------------------------------------------------

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _cpu_name():
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def device_info() -> dict:
    """name/model/os/cpu/soc of this machine (the caller adds `kind`)."""
    model = (_read("/proc/device-tree/model") or "").strip("\x00 \n")
    # e.g. "raspberrypi,4-model-b\0brcm,bcm2711\0": the SoC comes last.
    compatible = [c for c in (_read("/proc/device-tree/compatible") or "").split("\x00") if c.strip()]
    cpu = _cpu_name()
    arch = f"{platform.machine()}, {os.cpu_count()} cores"
    return {
        "name": platform.node() or None,
        "model": model or None,
        "os": f"{platform.system()} {platform.release()}".strip() or None,
        "cpu": f"{cpu} ({arch})" if cpu else arch,
        "soc": compatible[-1] if compatible else None,
    }


def run(path, threads=1, delegate=None, runs=50, warmup=5, seed=0, feeds=None) -> dict:
    """Measures `path` and returns device, runtime, input shapes and the measurement."""
    runtime = runtime_for(path)
    delegate = delegate or ("xnnpack" if runtime == "litert" else "CPUExecutionProvider")
    specs = input_specs(runtime, path)
    feeds = feeds or [random_inputs(specs, seed)]
    holder = {}

    def open_fn():
        holder["session"] = open_session(runtime, path, threads, delegate)
        return holder["session"]

    measurement = measure(open_fn, feeds, runs, warmup)
    measurement["device"] = device_info()
    measurement["runtime"] = {"name": runtime, "version": holder["session"].version,
                              "delegate": delegate, "threads": threads}
    measurement["input_shapes"] = [spec["shape"] for spec in specs]
    return measurement


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise RunnerError(EXIT_USAGE, message)


def main(argv=None) -> int:
    parser = _Parser(prog="board_runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--delegate", default=None)
    parser.add_argument("--seed", type=int, default=0)
    def measure():
        args = parser.parse_args(argv)
        if not os.path.isfile(args.model):
            raise RunnerError(EXIT_USAGE, f"{args.model}: no such file")
        return run(args.model, args.threads, args.delegate, args.runs, args.warmup, args.seed)

    return report("board_runner", measure)


def report(prog: str, measure) -> int:
    """Runs `measure()` and prints its result as one JSON line; any failure is one line
    on stderr and the exit status its kind has (usage, missing runtime, model rejected)."""
    try:
        result = measure()
    except RunnerError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.code
    except ImportError as exc:  # numpy, or a runtime's own dependency, is missing
        print(f"{prog}: error: missing module on this machine: {exc}", file=sys.stderr)
        return EXIT_NO_RUNTIME
    except Exception as exc:  # the runtime rejected the model: one line, not a traceback
        print(f"{prog}: error: {type(exc).__name__}: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return EXIT_MODEL
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
