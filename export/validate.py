"""Agreement of an artifact's logits with its reference model's.

The figures are tinymoat.quantization.metrics' (`compare`: SQNR, top-1
agreement, top-5 overlap, logit errors, accuracies with labels). The
reference is the model the artifact was converted from (the float model, or
the QAT model for an INT8 file converted from one); thresholds are in
thresholds.py. An artifact that outputs probabilities is compared through
logits_of (its log-probabilities on the reference's scale).
"""

from __future__ import annotations

import numpy as np

from tinymoat.quantization.metrics import compare, topk  # noqa: F401  (the figures)

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
