"""BatchNorm statistics measured on images: the one implementation training and tests use.

A network's BatchNorm moving averages can belong to other weights than the
ones it has: they lag the weights on short training runs, belong to the raw
weights rather than their EMA, and are the identity for random
initialisations (the signal then fades layer after layer). Measuring them
again with the weights as they are ("precise BN") fixes all three before the
model is saved, folded or quantized.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tinymoat._keras import keras, tf


def estimate_statistics(model: keras.Model, batches: Iterable) -> int:
    """Sets every BatchNorm's moving mean/variance to the plain average of its batch
    statistics over `batches` (forward passes in training mode; weights untouched).

    Each BatchNorm normalises with its batch statistics during the passes, so later
    ones see inputs normalised as they will be at inference. Returns the number of
    batches (0: nothing changed, the caller decides whether that is an error).
    """
    layers = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in layers]
    means = [l.moving_mean.numpy() for l in layers]
    variances = [l.moving_variance.numpy() for l in layers]
    count = 0
    try:
        for images in batches:
            count += 1
            for layer in layers:  # moving = (1 - 1/n) * moving + 1/n * batch: a running mean
                layer.momentum = 1.0 - 1.0 / count
            model(tf.convert_to_tensor(np.asarray(images, np.float32)), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        if not count:
            for layer, mean, variance in zip(layers, means, variances):
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
    return count


def freeze(model: keras.Model) -> None:
    """BatchNorm in inference mode with a fixed affine (small per-replica batches; also
    makes multi-replica training equal single-device training)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
