"""Agreement of an artifact's logits with the float Keras model's.

The figures: top-1 agreement, top-5 overlap, max and mean absolute logit
error, SQNR (signal-to-quantization-noise ratio of the logits, in dB), and
top-1 accuracy of both when labels are known. Default thresholds depend on
the precision and can be overridden.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

# The least each precision must reach on the validation images.
DEFAULT_THRESHOLDS: Dict[str, Dict[str, float]] = {
    "float32": {"top1_agreement": 0.99, "sqnr_db": 60.0},
    "float16": {"top1_agreement": 0.98, "sqnr_db": 35.0},
    "dynamic": {"top1_agreement": 0.90, "sqnr_db": 15.0},
    "weights8": {"top1_agreement": 0.90, "sqnr_db": 15.0},
    "int8": {"top1_agreement": 0.80, "sqnr_db": 10.0},
    "int8-mixed": {"top1_agreement": 0.80, "sqnr_db": 10.0},
}


def topk(logits: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def compare(reference: np.ndarray, candidate: np.ndarray,
            labels: Optional[np.ndarray] = None) -> Dict[str, Optional[float]]:
    """Agreement figures of `candidate` logits against `reference` logits [N, classes]."""
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
        "float_accuracy": None,
    }
    if labels is not None and np.all(np.asarray(labels) >= 0):
        figures["accuracy"] = float(np.mean(cand_top[:, 0] == labels))
        figures["float_accuracy"] = float(np.mean(ref_top[:, 0] == labels))
    return figures


def failures(figures: Dict, thresholds: Dict[str, float]):
    """Names of the thresholds that the figures miss, with the values."""
    return [f"{name} {figures[name]:.4g} < {least:.4g}" for name, least in thresholds.items()
            if figures.get(name) is not None and figures[name] < least]
