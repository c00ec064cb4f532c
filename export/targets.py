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
    """[(Target, artifact precision)] for `--target` (one name, names joined by commas,
    or "all") and a requested precision.

    "all" takes every target that supports the precision; a named target that
    does not is an error.
    """
    if target == "all":
        return [(t, t.precisions[precision]) for t in TARGETS.values()
                if precision in t.precisions] or _unsupported(target, precision)
    names = list(dict.fromkeys(n.strip() for n in target.split(",")))
    for name in names:
        if name not in TARGETS:
            raise ExportError(f"unknown target {name!r}; choose one of "
                              f"{', '.join(TARGETS)}, all (or several joined by commas)")
        if precision not in TARGETS[name].precisions:
            _unsupported(name, precision)
    return [(TARGETS[n], TARGETS[n].precisions[precision]) for n in names]


def _unsupported(target: str, precision: str):
    flag = PRECISION_FLAGS.get(precision, precision)
    supported = ", ".join(PRECISION_FLAGS.get(p, "(no flag: float32)")
                          for p in (TARGETS[target].precisions if target in TARGETS else {}))
    raise ExportError(f"target {target} does not support {flag}"
                      + (f"; it supports {supported}" if supported else ""))
