"""Times TFLite models in whatever LiteRT this python has; prints ONE JSON line.

`tinymoat.export.latency.runtimes` runs this file with the python of a cached
runtime virtualenv (ai-edge-litert 1.4.0, tflite-runtime 2.14.0, ...) or with
the project's own python, so every runtime is measured by the same code. Like
``board_runner.py`` (whose session, input and timing code it reuses) it needs
only the standard library, numpy and one TFLite runtime, never tinymoat.

    python runtime_runner.py --inputs FEEDS.npz --outputs DIR MODEL [MODEL...]
                             [--threads N] [--runs N] [--warmup N] [--delegate xnnpack|cpu]

FEEDS.npz holds ``m<k>_<i>``: input i of model k (as the model wants it:
dtype, shape, quantized). For each model the runner records the XNNPACK
partitions and the ops left outside the delegate, writes the outputs of one
inference on its feed to DIR/m<k>.npz (``o<j>``: output j, as the model gives
it) and times it. One model: the board runner's timing loop (init, first
inference, peak memory). Several models: interleaved, one invoke of each per
round, so machine noise hits all alike. Exit status as ``board_runner.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

try:  # part of tinymoat.export.latency when imported
    from . import board_runner, stats
except ImportError:  # run as a script: board_runner.py and stats.py are beside it
    import board_runner
    import stats

RunnerError = board_runner.RunnerError
EXIT_USAGE = board_runner.EXIT_USAGE


def graph_facts(interpreter) -> dict:
    """XNNPACK partitions and {op: count} of the ops the delegate left outside.

    After delegation the interpreter still lists every original node beside
    the DELEGATE nodes. An original node ran inside a partition if its output
    is an output of a DELEGATE node or has no buffer (internal to a partition:
    reading it fails); otherwise the interpreter runs it itself.
    """
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    delegate_outputs = {int(t) for op in ops if op["op_name"] == "DELEGATE" for t in op["outputs"]}
    outside = {}
    for op in ops:
        if op["op_name"] == "DELEGATE" or not len(op["outputs"]):
            continue
        out = int(op["outputs"][0])
        if out in delegate_outputs:
            continue
        try:
            interpreter.get_tensor(out)
        except ValueError:
            continue  # no buffer: inside a partition
        outside[op["op_name"]] = outside.get(op["op_name"], 0) + 1
    partitions = sum(op["op_name"] == "DELEGATE" for op in ops)
    return {"partitions": partitions, "ops_outside": dict(sorted(outside.items()))}


def _outputs(session) -> list:
    interpreter = session.interpreter
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]


def _save(path, arrays):
    import numpy as np
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def interleaved(sessions, feeds, runs, warmup) -> list:
    """Rounds of one invoke per session (inputs set outside the timed region); per session
    its latency summary. The one interleaved timer: the benchmarks use it too
    (bench/interleaved.py)."""
    clock = time.perf_counter_ns
    times = [[] for _ in sessions]
    for _ in range(warmup + runs):
        for k, session in enumerate(sessions):
            session.feed(feeds[k])
            start = clock()
            session.invoke()
            times[k].append(clock() - start)
    overhead_ms = board_runner.timing_overhead_ms(runs)
    return [{"latency_ms": stats.summarize([t / 1e6 for t in samples[warmup:]], warmup),
             "first_inference_ms": samples[0] / 1e6, "peak_memory_mb": None,
             "harness_overhead_ms": overhead_ms,
             "notes": ["timed interleaved with the other models of this run, one invoke of "
                       "each per round",
                       "peak_memory_mb: not measured when several models share the process"]}
            for samples in times]


def run(models, feeds, out_dir, threads=1, delegate="xnnpack", runs=50, warmup=5) -> dict:
    """Measures each model with its feed; returns the runtime and one entry per model."""
    _, version = board_runner._litert_module()  # pylint: disable=protected-access
    if runs < 1 or warmup < 0:
        raise RunnerError(EXIT_USAGE, "need runs >= 1 and warmup >= 0")
    entries = []
    if len(models) == 1:
        holder = {}

        def open_fn():
            holder["s"] = board_runner.open_session("litert", models[0], threads, delegate)
            return holder["s"]

        measurement = board_runner.measure(open_fn, [feeds[0]], runs, warmup)
        sessions, init = [holder["s"]], [measurement.pop("init_ms")]
        measurements = [measurement]
    else:
        sessions, init = [], []
        for path in models:
            start = time.perf_counter_ns()
            sessions.append(board_runner.open_session("litert", path, threads, delegate))
            init.append((time.perf_counter_ns() - start) / 1e6)
        measurements = interleaved(sessions, feeds, runs, warmup)
    for k, (session, measurement) in enumerate(zip(sessions, measurements)):
        session.feed(feeds[k])
        session.invoke()
        outputs = _outputs(session)
        _save(os.path.join(out_dir, f"m{k}.npz"), {f"o{j}": a for j, a in enumerate(outputs)})
        entries.append({"model": os.path.basename(models[k]), "init_ms": init[k], **measurement,
                        **graph_facts(session.interpreter)})
    return {"runtime": {"version": version, "delegate": delegate, "threads": threads},
            "python": sys.version.split()[0], "models": entries}


def _load_feeds(path, count) -> list:
    import numpy as np
    with np.load(path, allow_pickle=False) as data:
        names = set(data.files)
        feeds = []
        for k in range(count):
            keys = sorted((n for n in names if n.startswith(f"m{k}_")),
                          key=lambda n: int(n.split("_", 1)[1]))
            if not keys:
                raise RunnerError(EXIT_USAGE, f"{os.path.basename(path)} has no inputs for model {k}")
            feeds.append([data[n] for n in keys])
    return feeds


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise RunnerError(EXIT_USAGE, message)


def main(argv=None) -> int:
    parser = _Parser(prog="runtime_runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--delegate", default="xnnpack", choices=board_runner.LITERT_DELEGATES)
    def measure():
        args = parser.parse_args(argv)
        for path in args.models + [args.inputs]:
            if not os.path.isfile(path):
                raise RunnerError(EXIT_USAGE, f"{path}: no such file")
        if not os.path.isdir(args.outputs):
            raise RunnerError(EXIT_USAGE, f"{args.outputs}: not a directory")
        feeds = _load_feeds(args.inputs, len(args.models))
        return run(args.models, feeds, args.outputs, args.threads, args.delegate, args.runs,
                   args.warmup)

    return board_runner.report("runtime_runner", measure)


if __name__ == "__main__":
    sys.exit(main())
