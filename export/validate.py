"""Agreement of an artifact's logits with the float Keras model's.

An artifact that outputs probabilities is compared through logits_of (its
log-probabilities on the reference's scale).

The figures: top-1 agreement, top-5 overlap, max and mean absolute logit
error, SQNR (signal-to-quantization-noise ratio of the logits, in dB), and
top-1 accuracy when labels are known: of the artifact, of its reference and
of the float model, with the artifact's accuracy drop from the float model.
The reference is the model the artifact was converted from (the float
model, or the QAT model for an INT8 file converted from one); thresholds
are in thresholds.py.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

def logits_of(probabilities: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Logits to compare with `reference` from an artifact's probabilities.

    log(p) is the artifact's logits less their log-sum-exp; adding the reference's
    log-sum-exp puts them on the reference's scale, so the error measured is that of
    the log-probabilities, and the figures (and thresholds) mean what they mean for a
    logits output. Probabilities that underflowed to 0 count as the smallest float32.
    """
    reference = np.asarray(reference, np.float64)
    top = reference.max(axis=1, keepdims=True)
    lse = top + np.log(np.sum(np.exp(reference - top), axis=1, keepdims=True))
    p = np.maximum(np.asarray(probabilities, np.float64), np.finfo(np.float32).tiny)
    return np.log(p) + lse


def topk(logits: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def compare(reference: np.ndarray, candidate: np.ndarray, labels: Optional[np.ndarray] = None,
            float_logits: Optional[np.ndarray] = None) -> Dict[str, Optional[float]]:
    """Agreement figures of `candidate` logits against `reference` logits [N, classes].

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
    noise = np.sum((candidate - reference) ** 2)
    signal = np.sum(reference ** 2)
    sqnr = float("inf") if noise == 0 else 10 * np.log10(signal / noise) if signal > 0 else float("-inf")
    figures = {
        "top1_agreement": float(np.mean(ref_top[:, 0] == cand_top[:, 0])),
        "top5_overlap": float(overlap),
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
        "sqnr_db": float(min(sqnr, 200.0)),
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


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(topk(logits, 1)[:, 0] == labels))
