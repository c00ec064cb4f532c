"""The measurement grid: artifact x threads x delegate, one cell per result."""

from __future__ import annotations

import dataclasses
import pathlib

from .artifacts import RUNTIME_OF_SUFFIX

DEFAULT_DELEGATE = {"litert": "xnnpack", "onnxruntime": "CPUExecutionProvider", "coreml": "all"}
ANDROID_DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One measurement: which artifact, with which runtime, delegate and thread count."""

    path: pathlib.Path
    runtime: str
    delegate: str
    threads: int
    environment: str | None = None  # a named TFLite runtime (runtimes.py), None: this python's

    def label(self) -> str:
        runtime = f"{self.runtime}[{self.environment}]" if self.environment else self.runtime
        return f"{self.path.name} {runtime}/{self.delegate} t{self.threads}"


def local_cells(paths, threads, runtime=None, xnnpack=True) -> list:
    """Cells for the host or a board: the runtime follows the file type unless forced.

    LiteRT runs with XNNPACK unless `xnnpack` is False (built-in kernels, "cpu").
    Core ML chooses its own threads, so it gets a single cell with threads 0.
    """
    cells = []
    for path in paths:
        name = runtime or RUNTIME_OF_SUFFIX[path.suffix]
        delegate = "cpu" if name == "litert" and not xnnpack else DEFAULT_DELEGATE[name]
        for n in ([0] if name == "coreml" else threads):
            cells.append(Cell(path, name, delegate, n))
    return cells


def android_cells(paths, threads, delegates) -> list:
    return [Cell(path, "tflite_benchmark_model", delegate, n)
            for path in paths for delegate in delegates for n in threads]


def runtime_cells(paths, threads, environments, xnnpack=True) -> list:
    """Cells of .tflite artifacts in each named TFLite runtime (tinymoat-bench --runtimes)."""
    delegate = "xnnpack" if xnnpack else "cpu"
    return [Cell(path, "litert", delegate, n, environment)
            for path in paths for environment in environments for n in threads]
