"""Side-by-side timing for the benchmarks: in-process runners, the harness's loop.

    from interleaved import OnnxRunner, TFLiteRunner, medians_ms
    ms = medians_ms({("a", 1): TFLiteRunner(data_a, 1), ("b", 1): TFLiteRunner(data_b, 1)}, 40)

The benchmarks compare models measured side by side, interleaved round by
round (one invoke of each model per round), so machine noise hits every row
alike. The latency harness already times several models that way
(export/latency/runtime_runner.py) and summarises with its statistics
(export/latency/stats.py); `medians_ms` runs that same loop on the runners
below, so a benchmark's median means what a `tinymoat-bench` median means.
This is the one timer of bench/: int8_speed.py and bias_cost.py use it;
runtime_matrix.py and arm64_check.py call the harness's runtimes directly.

The runners are harness-style sessions (`feed(arrays)`, `invoke()`) built from
model bytes, with seeded random inputs, so benchmarks need no files on disk.
"""

from __future__ import annotations

import numpy as np


def litert_interpreter():
    """The Interpreter class of the project's LiteRT."""
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter


class TFLiteRunner:
    """A LiteRT interpreter (default delegate: XNNPACK) on `threads` threads."""

    def __init__(self, data, threads):
        self.interpreter = litert_interpreter()(model_content=data, num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self._index = detail["index"]
        x = np.random.RandomState(0).uniform(-1, 1, detail["shape"])
        if np.dtype(detail["dtype"]) != np.float32:
            x = np.clip(np.round(x * 100), -128, 127)
        self.inputs = [x.astype(detail["dtype"])]

    def feed(self, arrays):
        self.interpreter.set_tensor(self._index, arrays[0])

    def invoke(self):
        self.interpreter.invoke()


class OnnxRunner:
    """An ONNX Runtime CPU session on `threads` intra-op threads, workers not spinning."""

    def __init__(self, data, threads):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning ORT workers would steal the cores from the rows timed next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        feed = self.session.get_inputs()[0]
        self._name = feed.name
        shape = [1 if not isinstance(d, int) else d for d in feed.shape]
        x = np.random.RandomState(0).uniform(-1, 1, shape)
        self.inputs = [np.round((x + 1) * 127.5).astype(np.uint8)
                       if feed.type == "tensor(uint8)" else x.astype(np.float32)]
        self._feed = {}

    def feed(self, arrays):
        self._feed = {self._name: arrays[0]}

    def invoke(self):
        self.session.run(None, self._feed)


def medians_ms(runners: dict, runs: int, warmup: int = 5) -> dict:
    """{key: median ms} of `runners` ({key: runner}), timed interleaved: `warmup` untimed
    rounds, then `runs` timed rounds of one invoke per runner, inputs set outside the timed
    region; medians by the harness's statistics (stats.summarize)."""
    from tinymoat.export.latency import runtime_runner
    keys = list(runners)
    sessions = [runners[key] for key in keys]
    measured = runtime_runner.interleaved(sessions, [session.inputs for session in sessions],
                                          runs, warmup)
    return {key: m["latency_ms"]["median"] for key, m in zip(keys, measured)}
