"""Latency statistics, defined once so every harness reports the same numbers.

The host harness, the board runner and the Android demo (Java) all summarise
their timed runs with these definitions, so they are spelled out to the last
floating-point operation. Everything is IEEE-754 double precision.

* ``mean``: the values summed left to right in input order, divided by ``n``.
* ``stdev``: the SAMPLE standard deviation, ``sqrt(sum((x - mean)^2) / (n - 1))``
  with the squared deviations summed left to right in input order; ``0`` for
  a single value.
* ``min``/``max``: the extreme values.
* percentiles (``median`` = 50, ``p90``, ``p99``): linear interpolation between
  the closest ranks, numpy's default method (``np.percentile(x, q)``)::

      s = sorted(x); f = q / 100; v = (n - 1) * f
      i = floor(v); j = min(i + 1, n - 1); t = v - i
      d = s[j] - s[i]
      result = s[i] + d * t        if t < 0.5
             = s[j] - d * (1 - t)  otherwise

  (the two branches are how numpy evaluates the interpolation; they make the
  results agree bit for bit.)

Known input: ``[1, ..., 10]`` gives mean 5.5, median 5.5, p90 9.1, p99 9.91 and
stdev 3.0276503540974917.

This module is pure Python with no imports outside the standard library: it is
copied onto boards beside ``board_runner.py``.
"""

from __future__ import annotations

import math

PERCENTILES = {"median": 50.0, "p90": 90.0, "p99": 99.0}


def _checked(values) -> list:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to summarise")
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError("values must be finite numbers")
    return values


def mean(values) -> float:
    values = _checked(values)
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def stdev(values) -> float:
    """Sample standard deviation (n - 1 in the denominator); 0 for one value."""
    values = _checked(values)
    if len(values) == 1:
        return 0.0
    m = mean(values)
    total = 0.0
    for v in values:
        total += (v - m) * (v - m)
    return math.sqrt(total / (len(values) - 1))


def percentile(values, q: float) -> float:
    """``np.percentile(values, q)`` with the default linear method, reproduced exactly."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    ordered = sorted(_checked(values))
    n = len(ordered)
    virtual = (n - 1) * (q / 100.0)
    i = int(math.floor(virtual))
    i = min(max(i, 0), n - 1)
    j = min(i + 1, n - 1)
    t = virtual - i
    d = ordered[j] - ordered[i]
    if t < 0.5:
        return ordered[i] + d * t
    return ordered[j] - d * (1.0 - t)


def summarize(samples_ms, warmup: int) -> dict:
    """The ``latency_ms`` object of a result: warm-up count, run count and statistics."""
    samples = _checked(samples_ms)
    summary = {"warmup": int(warmup), "runs": len(samples), "mean": mean(samples)}
    for name, q in PERCENTILES.items():
        summary[name] = percentile(samples, q)
    summary.update(min=min(samples), max=max(samples), stdev=stdev(samples))
    return summary
