import numpy as np
import pytest

from tinymoat.export import thresholds, validate
from tinymoat.export.target import ExportError


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
    assert figures["reference_accuracy"] == 1.0 and figures["accuracy_drop"] == 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        validate.compare(np.zeros((2, 3)), np.zeros((2, 4)))


def test_accuracy_drop_is_measured_from_the_float_model_not_the_reference():
    labels = np.array([0, 1, 2, 0])
    float_logits = np.eye(3)[labels]                      # the float model: all right
    qat_logits = np.eye(3)[[0, 1, 2, 1]]                  # the QAT model: one wrong
    figures = validate.compare(qat_logits, qat_logits, labels, float_logits=float_logits)
    assert figures["top1_agreement"] == 1.0               # the conversion is exact
    assert figures["reference_accuracy"] == 0.75 and figures["float_accuracy"] == 1.0
    assert figures["accuracy_drop"] == pytest.approx(0.25)


def test_each_threshold_works_in_its_metric_direction():
    figures = {"top1_agreement": 0.7, "sqnr_db": 20.0, "max_abs_error": 1.5e-7,
               "accuracy_drop": 0.04}
    assert thresholds.failures(figures, {"top1_agreement": 0.8, "sqnr_db": 10}) == [
        "top1_agreement 0.7 < 0.8"]
    assert thresholds.failures(figures, {"max_abs_error": 100}) == []      # at most 100
    assert thresholds.failures(figures, {"max_abs_error": 1e-8}) == ["max_abs_error 1.5e-07 > 1e-08"]
    assert thresholds.failures(figures, {"accuracy_drop": 0.01}) == ["accuracy_drop 0.04 > 0.01"]
    assert thresholds.describe({"sqnr_db": 20, "max_abs_error": 0.5}) == {
        "sqnr_db": ">= 20", "max_abs_error": "<= 0.5"}


@pytest.mark.parametrize("item,message", [
    ("top1_agrement=0.9", "unknown metric 'top1_agrement' (did you mean top1_agreement?)"),
    ("sqnr_db", "expects NAME=VALUE"),
    ("=3", "expects NAME=VALUE"),
    ("sqnr_db=", "expects NAME=VALUE"),
    ("sqnr_db=loud", "'loud' is not a number"),
    ("top1_agreement=1.5", "outside [0, 1]"),
    ("max_abs_error=-1", "outside [0, inf]"),
    ("mean_abs_error=nan", "outside"),
])
def test_bad_thresholds_are_refused(item, message):
    with pytest.raises(ExportError, match=None) as error:
        thresholds.parse([item])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_metric_compare_reports_has_a_direction():
    figures = validate.compare(np.eye(3), np.eye(3), np.array([0, 1, 2]))
    assert set(thresholds.METRICS) <= set(figures)
    assert thresholds.parse(["max_abs_error=100", " sqnr_db = 30 "]) == {
        "max_abs_error": 100.0, "sqnr_db": 30.0}
