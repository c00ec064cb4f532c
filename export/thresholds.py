"""The validation gate's metrics: their direction, valid range and default thresholds.

Each metric knows whether higher or lower is better, so a threshold means
"at least" or "at most" as the metric demands. A threshold a user names is
checked here before any work: an unknown name, a malformed pair or a value
outside the metric's range is a one-line error.

Default thresholds depend on what an artifact is compared with (its
reference): the float model for float and post-training-quantized
artifacts, the QAT model itself for an INT8 file converted from a QAT model
(the conversion must reproduce it closely, so those thresholds are tight).
The reasons for each value are in docs/formats.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Dict, Iterable, List

from .target import ExportError

HIGHER, LOWER = "higher", "lower"


@dataclasses.dataclass(frozen=True)
class Metric:
    better: str          # HIGHER or LOWER
    low: float           # range a threshold value may take
    high: float
    meaning: str

    @property
    def bound(self) -> str:
        return ">=" if self.better == HIGHER else "<="

    def misses(self, value: float, threshold: float) -> bool:
        return value < threshold if self.better == HIGHER else value > threshold


METRICS: Dict[str, Metric] = {
    "top1_agreement": Metric(HIGHER, 0.0, 1.0, "share of images whose top-1 class is the "
                             "reference's"),
    "top5_overlap": Metric(HIGHER, 0.0, 1.0, "mean share of the reference's top-5 classes "
                           "among the artifact's top 5"),
    "max_abs_error": Metric(LOWER, 0.0, math.inf, "largest absolute logit difference from "
                            "the reference"),
    "mean_abs_error": Metric(LOWER, 0.0, math.inf, "mean absolute logit difference from the "
                             "reference"),
    "sqnr_db": Metric(HIGHER, -200.0, 200.0, "reference logit power over the power of the "
                      "difference, in dB"),
    "accuracy": Metric(HIGHER, 0.0, 1.0, "top-1 accuracy on labelled images"),
    "accuracy_drop": Metric(LOWER, -1.0, 1.0, "the float model's top-1 accuracy minus the "
                            "artifact's, on the same labelled images (0.01 = 1 point)"),
}

# Reference "float": the float Keras model. Reference "qat": the QAT Keras model
# (fake quantization in inference) that the INT8 file was converted from.
DEFAULTS: Dict[str, Dict[str, Dict[str, float]]] = {
    "float": {
        "float32": {"top1_agreement": 0.99, "sqnr_db": 60.0},
        "float16": {"top1_agreement": 0.98, "sqnr_db": 35.0},
        "dynamic": {"top1_agreement": 0.90, "sqnr_db": 15.0, "accuracy_drop": 0.02},
        "weights8": {"top1_agreement": 0.90, "sqnr_db": 15.0, "accuracy_drop": 0.02},
        "int8": {"top1_agreement": 0.90, "sqnr_db": 15.0, "accuracy_drop": 0.03},
        "int8-mixed": {"top1_agreement": 0.90, "sqnr_db": 15.0, "accuracy_drop": 0.03},
    },
    "qat": {
        "int8": {"top1_agreement": 0.97, "sqnr_db": 25.0, "accuracy_drop": 0.02},
        "int8-mixed": {"top1_agreement": 0.97, "sqnr_db": 25.0, "accuracy_drop": 0.02},
    },
}


def defaults(precision: str, reference: str) -> Dict[str, float]:
    return dict(DEFAULTS.get(reference, {}).get(precision, {}))


def parse(items: Iterable[str]) -> Dict[str, float]:
    """NAME=VALUE pairs of --threshold, checked against METRICS."""
    out: Dict[str, float] = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not name or not text:
            raise ExportError(f"--threshold expects NAME=VALUE, got {item!r}")
        metric = METRICS.get(name)
        if metric is None:
            close = difflib.get_close_matches(name, METRICS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ExportError(f"--threshold: unknown metric {name!r}{hint}; known: "
                              f"{', '.join(METRICS)}")
        try:
            value = float(text)
        except ValueError:
            raise ExportError(f"--threshold {name}: {text!r} is not a number") from None
        if not metric.low <= value <= metric.high:
            raise ExportError(f"--threshold {name}={text} is outside [{metric.low:g}, "
                              f"{metric.high:g}]")
        out[name] = value
    return out


def failures(figures: Dict, thresholds: Dict[str, float]) -> List[str]:
    """One line per threshold the figures miss, e.g. 'max_abs_error 0.5 > 0.1'."""
    missed = []
    for name, threshold in thresholds.items():
        value, metric = figures.get(name), METRICS[name]
        if value is not None and metric.misses(value, threshold):
            missed.append(f"{name} {value:.4g} {'<' if metric.better == HIGHER else '>'} "
                          f"{threshold:.4g}")
    return missed


def describe(thresholds: Dict[str, float]) -> Dict[str, str]:
    """The thresholds as the report shows them: {'sqnr_db': '>= 20'}."""
    return {name: f"{METRICS[name].bound} {value:g}" for name, value in thresholds.items()}
