"""How closely a model's logits follow its reference's: the one set of agreement figures.

Export validation (tinymoat.export.validate), tinymoat-eval's agreement
report, the runtime comparisons of the latency harness and the benchmarks
all report these, computed here:

  sqnr_db         signal-to-quantization-noise ratio of the logits, in dB
                  (sum of squared reference values over sum of squared errors)
  top1_agreement  fraction of images whose arg-max class is the reference's
  top5_overlap    mean fraction of the reference's top 5 in the candidate's top 5
  max_abs_error, mean_abs_error
                  of the logits
and, when labels are known, the accuracies (of the candidate, of the
reference, of the float model) and the candidate's drop from the float model.

Plain numpy: no TensorFlow.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import numpy as np

SQNR_CAP_DB = 200.0   # identical outputs: reported as this rather than infinity


def sqnr_db(reference, candidate) -> float:
    """SQNR of `candidate` against `reference` in dB; SQNR_CAP_DB when they are equal."""
    reference = np.asarray(reference, np.float64)
    noise = float(np.sum((np.asarray(candidate, np.float64) - reference) ** 2))
    signal = float(np.sum(reference ** 2))
    if noise == 0:
        return SQNR_CAP_DB
    return float("-inf") if signal == 0 else min(10 * np.log10(signal / noise), SQNR_CAP_DB)


def topk(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest logits per row, largest first (ties: lower index first)."""
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def compare(reference: np.ndarray, candidate: np.ndarray, labels: Optional[np.ndarray] = None,
            float_logits: Optional[np.ndarray] = None) -> Dict[str, Optional[float]]:
    """The agreement figures of `candidate` logits against `reference` logits [N, classes].

    With labels, also the accuracies; `float_logits` (default: the reference)
    are the float model's, which the accuracy drop is measured from.
    """
    reference = np.asarray(reference, np.float64)
    candidate = np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"logit shapes differ: {reference.shape} vs {candidate.shape}")
    k = min(5, reference.shape[1])
    ref_top, cand_top = topk(reference, k), topk(candidate, k)
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref_top, cand_top)])
    error = np.abs(candidate - reference)
    figures = {
        "top1_agreement": float(np.mean(ref_top[:, 0] == cand_top[:, 0])),
        "top5_overlap": float(overlap),
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
        "sqnr_db": sqnr_db(reference, candidate),
        "accuracy": None,
        "reference_accuracy": None,
        "float_accuracy": None,
        "accuracy_drop": None,
    }
    if labels is not None and np.all(np.asarray(labels) >= 0):
        float_logits = reference if float_logits is None else np.asarray(float_logits)
        figures["accuracy"] = _accuracy(candidate, labels)
        figures["reference_accuracy"] = _accuracy(reference, labels)
        figures["float_accuracy"] = _accuracy(float_logits, labels)
        figures["accuracy_drop"] = figures["float_accuracy"] - figures["accuracy"]
    return figures


class Agreement(NamedTuple):
    """The figures of `compare` without labels, as attributes (for tests and reports)."""
    sqnr_db: float
    top1_agreement: float
    top5_overlap: float
    max_abs_error: float

    def __str__(self):
        return (f"SQNR {self.sqnr_db:6.2f} dB  top-1 {self.top1_agreement:6.1%}  "
                f"top-5 overlap {self.top5_overlap:6.1%}  max |error| {self.max_abs_error:.3g}")


def agreement(reference, candidate) -> Agreement:
    """`compare` of two logit arrays [N, classes], as an Agreement."""
    figures = compare(reference, candidate)
    return Agreement(*(figures[name] for name in Agreement._fields))


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(topk(logits, 1)[:, 0] == labels))
