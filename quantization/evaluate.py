"""Measuring how far an int8 TFLite model is from its float model.

Running a flatbuffer in LiteRT on float images (quantizing them with the
input's parameters when the input is int8; the figures are metrics.py's).
Two helpers make models without trained weights usable for such measurements:

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

import numpy as np

from tinymoat._keras import keras
from tinymoat.preprocess import preprocess

from ai_edge_litert.interpreter import Interpreter

from .batch_norm import estimate_statistics
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


def reset_batch_norm_statistics(model: keras.Model, images) -> keras.Model:
    """Sets every BatchNormalization's moving mean/variance to those of `images` (one batch;
    batch_norm.estimate_statistics). Changes `model` in place and returns it."""
    estimate_statistics(model, [images])
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
