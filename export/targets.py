"""The table of export targets: the single source of the CLI's choices, the
artifact file names and the rows of the reports. Add a target here."""

from __future__ import annotations

from typing import Dict, List

from .coreml import CoreMLTarget
from .onnx import OnnxTarget
from .target import ExportError, Target
from .tflite import TFLiteTarget

TARGETS: Dict[str, Target] = {t.name: t for t in (TFLiteTarget(), OnnxTarget(), CoreMLTarget())}

# Command-line flag -> requested precision (no flag: float32).
PRECISION_FLAGS = {"int8": "--int8", "int8-mixed": "--int8 --mixed", "float16": "--fp16",
                   "dynamic": "--dynamic"}


def resolve(target: str, precision: str) -> List[tuple]:
    """[(Target, artifact precision)] for `--target` (or "all") and a requested precision.

    "all" takes every target that supports the precision; a single target that
    does not is an error.
    """
    names = list(TARGETS) if target == "all" else [target]
    if target != "all" and target not in TARGETS:
        raise ExportError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}, all")
    chosen = [(TARGETS[n], TARGETS[n].precisions[precision]) for n in names
              if precision in TARGETS[n].precisions]
    if not chosen:
        flag = PRECISION_FLAGS.get(precision, precision)
        supported = ", ".join(PRECISION_FLAGS.get(p, "(no flag: float32)")
                              for p in TARGETS[target].precisions)
        raise ExportError(f"target {target} does not support {flag}; it supports {supported}")
    return chosen
