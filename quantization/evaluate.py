"""Measuring how far an int8 TFLite model is from its float model.

Running a flatbuffer in LiteRT on float images (quantizing them with the
input's parameters when the input is int8), and the agreement figures the
tests and `bench/quantization_agreement.py` report. Two helpers make models
without trained weights usable for such measurements:

* `reset_batch_norm_statistics`: randomly initialised (or seeded fixture)
  weights with unit BN statistics let the signal fade layer after layer, so
  the logits barely depend on the input and top-1 agreement is meaningless.
  Setting each BN's statistics to those of its actual inputs (one forward
  pass in training mode with momentum 0) restores input-dependent logits.
* `synthetic_images`: images with a natural-image-like 1/f spectrum and
  correlated colour channels, normalised like real inputs, as a stand-in
  for a calibration set when none is available.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinymoat._keras import keras
from tinymoat.preprocess import preprocess

from ai_edge_litert.interpreter import Interpreter

from .tensors import dequantize, quantize


def run_tflite(tflite_model: bytes, images, num_threads: int = 2) -> np.ndarray:
    """Float outputs of a single-input, single-output TFLite model, one image at a time.

    int8/uint8 inputs are quantized with the input tensor's scale and zero
    point; quantized outputs are dequantized.
    """
    interpreter = Interpreter(model_content=tflite_model, num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    results = []
    for image in np.asarray(images, np.float32):
        interpreter.set_tensor(inp["index"], quantize(image[None], inp))
        interpreter.invoke()
        results.append(dequantize(interpreter.get_tensor(out["index"]), out)[0])
    return np.stack(results)


class Agreement(NamedTuple):
    top1: float        # fraction of images whose arg-max class is the same
    top5: float        # fraction whose float top-1 class is in the int8 top 5
    cosine: float      # mean cosine similarity of the logit vectors
    relative_rmse: float  # RMS logit error / standard deviation of the float logits

    def __str__(self):
        return (f"top-1 {self.top1:6.1%}  top-1 in top-5 {self.top5:6.1%}  "
                f"cosine {self.cosine:.4f}  rel. RMSE {self.relative_rmse:.3f}")


def agreement(reference, candidate) -> Agreement:
    """How closely `candidate` logits [N, classes] follow `reference` logits."""
    ref = np.asarray(reference, np.float64)
    cand = np.asarray(candidate, np.float64)
    top1 = float(np.mean(ref.argmax(1) == cand.argmax(1)))
    k = min(5, ref.shape[1])
    top5 = float(np.mean([r in c for r, c in zip(ref.argmax(1), np.argsort(-cand, 1)[:, :k])]))
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cos = np.sum(ref * cand, 1) / (norms + 1e-12)
    rmse = float(np.sqrt(np.mean((ref - cand) ** 2)) / (ref.std() + 1e-12))
    return Agreement(top1, top5, float(cos.mean()), rmse)


def reset_batch_norm_statistics(model: keras.Model, images) -> keras.Model:
    """Sets every BatchNormalization's moving mean/variance to those of `images`.

    One forward pass in training mode with momentum 0: each BN normalises
    with (and stores) its batch statistics, so later BNs see inputs that are
    already normalised as they will be at inference. Changes `model` in place.
    """
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    saved = [l.momentum for l in norms]
    try:
        for layer in norms:
            layer.momentum = 0.0
        model(np.asarray(images, np.float32), training=True)
    finally:
        for layer, momentum in zip(norms, saved):
            layer.momentum = momentum
    return model


def synthetic_images(count: int, size, seed: int = 0, normalization: str = "imagenet"):
    """[count, H, W, 3] normalised float32 images with a 1/f amplitude spectrum."""
    height, width = (size, size) if isinstance(size, int) else size
    rng = np.random.RandomState(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.sqrt(fx ** 2 + fy ** 2), 1.0 / max(height, width))
    mixing = np.array([[1.0, 0.9, 0.8], [0.0, 0.4, 0.5], [0.0, 0.0, 0.3]])
    images = []
    for _ in range(count):
        phase = rng.uniform(0, 2 * np.pi, (3,) + amplitude.shape)
        planes = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(height, width))
        planes = np.tensordot(mixing.T, planes, axes=1)  # correlated channels
        planes = (planes - planes.mean()) / (planes.std() + 1e-12)
        rgb = np.clip(128.0 + 50.0 * planes.transpose(1, 2, 0) + rng.uniform(-30, 30, 3), 0, 255)
        images.append(rgb)
    return preprocess(np.stack(images).astype(np.float32), normalization)
