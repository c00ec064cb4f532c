import numpy as np
import pytest

from tinymoat.export import validate


def test_identical_logits_agree_perfectly():
    logits = np.random.default_rng(0).normal(size=(8, 10))
    figures = validate.compare(logits, logits)
    assert figures["top1_agreement"] == 1.0 and figures["top5_overlap"] == 1.0
    assert figures["max_abs_error"] == 0.0 and figures["sqnr_db"] == 200.0


def test_figures_on_known_inputs():
    reference = np.array([[3.0, 2.0, 1.0, 0.0, -1.0, -2.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    candidate = reference.copy()
    candidate[0, [0, 1]] = [2.0, 3.0]           # top-1 flips in row 0, top-5 set unchanged
    candidate[1, 0] = 0.5                       # row 1: a small error below the top
    figures = validate.compare(reference, candidate, labels=np.array([0, 5]))
    assert figures["top1_agreement"] == 0.5
    assert figures["top5_overlap"] == 1.0
    assert figures["max_abs_error"] == 1.0
    assert figures["mean_abs_error"] == pytest.approx(2.5 / 12)
    signal, noise = np.sum(reference ** 2), 1 + 1 + 0.25
    assert figures["sqnr_db"] == pytest.approx(10 * np.log10(signal / noise))
    assert figures["accuracy"] == 0.5 and figures["float_accuracy"] == 1.0


def test_thresholds_report_what_failed():
    figures = {"top1_agreement": 0.7, "sqnr_db": 20.0}
    assert validate.failures(figures, {"top1_agreement": 0.8, "sqnr_db": 10}) == [
        "top1_agreement 0.7 < 0.8"]
    with pytest.raises(ValueError, match="shapes differ"):
        validate.compare(np.zeros((2, 3)), np.zeros((2, 4)))
