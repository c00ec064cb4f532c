"""Weights for the benchmarks: seeded, random, and shaped like real ones."""

from __future__ import annotations

import os

import numpy as np

# The released-layout checkpoint of tiny-moat-0 at 224 (../shared beside the checkout;
# TINYMOAT_SHARED points elsewhere), as the tests find it.
FIXTURE = os.path.join(os.environ.get("TINYMOAT_SHARED", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")),
    "fixtures", "deeplab2", "tiny_moat0_224")


def fixture_style_weights(model, seed=0):
    """Seeded random weights drawn the way the deeplab2 test fixtures draw them.

    Fresh Keras initialisation leaves every residual branch's last BatchNorm
    at gamma 0 and BN statistics at 0/1, which gives int8 ranges no trained
    model has (1e-7 scales that XNNPACK refuses to add); which ops a delegate
    takes depends on those ranges. The shared fixture tiny_moat0_224 instead
    draws kernels ~ N(0, 0.02), gammas ~ U(0.8, 1.2), betas, biases and
    means ~ N(0, 0.05), variances ~ U(0.5, 1.5), position tables ~ N(0, 0.5);
    so do these, for every variant.
    """
    rng = np.random.RandomState(seed)
    for weight in model.weights:
        name, shape = weight.name, tuple(weight.shape)
        if "gamma" in name:
            value = rng.uniform(0.8, 1.2, shape)
        elif "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif any(k in name for k in ("beta", "bias", "moving_mean")):
            value = rng.normal(0, 0.05, shape)
        elif len(shape) == 3:  # relative position tables [heads, 2H-1, 2W-1]
            value = rng.normal(0, 0.5, shape)
        else:
            value = np.clip(rng.normal(0, 0.02, shape), -0.04, 0.04)
        weight.assign(value.astype(np.float32))
    return model
