"""The latency statistics: known inputs, numpy agreement to the bit, pure standard library."""

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinymoat.export.latency import stats

ONE_TO_TEN = list(range(1, 11))


def test_known_input_one_to_ten():
    summary = stats.summarize(ONE_TO_TEN, warmup=3)
    assert summary == {"warmup": 3, "runs": 10, "mean": 5.5, "median": 5.5,
                       "p90": pytest.approx(9.1, abs=1e-12), "p99": pytest.approx(9.91, abs=1e-12),
                       "min": 1.0, "max": 10.0, "stdev": 3.0276503540974917}


def test_stdev_is_the_sample_standard_deviation():
    assert stats.stdev([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7))
    assert stats.stdev([42.0]) == 0.0


def test_single_run():
    summary = stats.summarize([7.25], warmup=0)
    assert summary["runs"] == 1
    assert summary["mean"] == summary["median"] == summary["p90"] == summary["p99"] == 7.25
    assert summary["stdev"] == 0.0


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 11, 50, 101, 1000])
def test_percentiles_equal_numpy_bit_for_bit(n):
    rng = np.random.default_rng(n)
    values = list(rng.lognormal(1.0, 0.5, n))
    for q in (0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100):
        assert stats.percentile(values, q) == float(np.percentile(values, q)), (n, q)


def test_interpolation_halfway_uses_numpys_branch():
    # t == 0.5 exactly: numpy evaluates b - d * (1 - t); the result must match it.
    values = [0.1, 0.7]
    assert stats.percentile(values, 50) == float(np.percentile(values, 50))


def test_mean_is_a_left_to_right_sum():
    values = [1e16, 1.0, -1e16, 1.0]
    total = 0.0
    for v in values:
        total += v
    assert stats.mean(values) == total / 4


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_rejects_empty_and_non_finite(bad):
    with pytest.raises(ValueError):
        stats.summarize(bad, 0)


def test_rejects_percentile_out_of_range():
    with pytest.raises(ValueError, match="percentile"):
        stats.percentile([1, 2], 101)


def test_runs_without_third_party_packages():
    """stats.py is copied onto boards: it must work with the bare standard library."""
    here = pathlib.Path(stats.__file__).parent
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import stats; "
            "print(stats.summarize(range(1, 11), 0)['p99'])")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(here)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(9.91)
